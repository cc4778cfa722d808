//! The deployment files agree with the binary and with what AWS accepts, checked offline:
//! - the Dockerfile: both targets start the binary as SageMaker does, the SageMaker one as root
//!   and the default one not, on supported Debian 13 bases, with a build context that keeps
//!   what the build needs and drops what it must not upload; hadolint is clean;
//! - `serve` listens where SageMaker's `SAGEMAKER_BIND_TO_PORT` says (the real binary);
//! - the SAM template, translated to CloudFormation by the SAM translator (what CloudFormation
//!   runs at deploy time; `scripts/sam_translate.py`), has one stage, its throttles, reserved
//!   concurrency, key-less OPTIONS, CORS on gateway errors, versioned IAM policies and a stage
//!   name that cannot swallow a route; cfn-lint is clean.
//!
//! The guide (deploy/README.md) is checked as a script in `deploy_guide.rs`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use clap::CommandFactory;
use serde_json::{Value, json};
use server::config::Settings;

use crate::helpers::{
    churn_predict, free_port, python_with, run_to_exit, spawn_listening, spawn_served, tool,
};

pub fn workspace_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

pub fn deploy_file(name: &str) -> String {
    let path = workspace_path(&format!("deploy/{name}"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

/// One `FROM ... [AS name]` stage: its base and its instructions (keyword, arguments), with
/// continuation lines joined and comments dropped.
#[derive(Debug)]
struct Stage {
    base: String,
    name: Option<String>,
    instructions: Vec<(String, String)>,
}

fn stages(dockerfile: &str) -> Vec<Stage> {
    let joined = dockerfile.replace("\\\n", " ");
    let mut stages: Vec<Stage> = Vec::new();
    for line in joined.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((keyword, args)) = line.split_once(' ') else {
            continue;
        };
        let keyword = keyword.to_ascii_uppercase();
        let args = args.trim().to_owned();
        if keyword == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some((*name).to_owned()),
                _ => None,
            };
            stages.push(Stage {
                base: words[0].to_owned(),
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push((keyword, args));
        }
    }
    stages
}

/// The instructions that make up an image target: its stage's, after those of the stages it is
/// built `FROM` (within the file), as `docker build --target` would apply them.
fn image(stages: &[Stage], target: &str) -> (String, Vec<(String, String)>) {
    let stage = stages
        .iter()
        .find(|s| s.name.as_deref() == Some(target))
        .unwrap_or_else(|| panic!("a stage named {target}"));
    match stages
        .iter()
        .any(|s| s.name.as_deref() == Some(&stage.base))
    {
        true => {
            let (base, mut instructions) = image(stages, &stage.base);
            instructions.extend(stage.instructions.iter().cloned());
            (base, instructions)
        }
        false => (stage.base.clone(), stage.instructions.clone()),
    }
}

fn last<'a>(instructions: &'a [(String, String)], keyword: &str) -> Option<&'a str> {
    instructions
        .iter()
        .rev()
        .find(|(k, _)| k == keyword)
        .map(|(_, v)| v.as_str())
}

fn exec_form(value: &str) -> Vec<String> {
    serde_json::from_str(value)
        .unwrap_or_else(|e| panic!("{value} is not exec form (JSON array): {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dockerfile_starts_the_binary_as_sagemaker_does_on_the_port_it_exposes() {
    // Arrange: what each image would run.
    let dockerfile = deploy_file("Dockerfile");
    let stages = stages(&dockerfile);
    assert!(
        stages.len() >= 3,
        "multi-stage: the images carry no toolchain"
    );
    let default_target = stages
        .last()
        .unwrap()
        .name
        .clone()
        .expect("a named last stage");
    assert_eq!(
        default_target, "server",
        "`docker build` without --target builds the plain, non-root server"
    );
    let mut cmds = Vec::new();
    for target in ["server", "sagemaker"] {
        let (base, image) = image(&stages, target);
        assert!(
            base.starts_with("gcr.io/distroless/cc-debian13"),
            "{target}: {base}"
        );
        let entrypoint = exec_form(last(&image, "ENTRYPOINT").expect("an ENTRYPOINT"));
        let cmd = exec_form(last(&image, "CMD").expect("a CMD"));
        let exposed: u16 = last(&image, "EXPOSE").expect("EXPOSE").parse().unwrap();
        assert_eq!(exposed, 8080, "{target}: SageMaker's port");
        assert!(entrypoint[0].ends_with("/churn-predict"), "{entrypoint:?}");
        assert!(
            image.iter().any(|(k, v)| k == "COPY"
                && v == &format!("--from=build /churn-predict {}", entrypoint[0])),
            "{target}: the entry point is the binary the build stage made"
        );
        assert_eq!(cmd, ["serve"], "SageMaker runs `docker run IMAGE serve`");
        assert!(
            image.iter().any(|(k, v)| k == "LABEL"
                && v == "com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true"),
            "{target}: multi-container endpoints need the accept-bind-to-port label"
        );
        let user = last(&image, "USER").expect("an explicit USER");
        let root = matches!(user.split(':').next(), Some("root" | "0"));
        match target {
            "sagemaker" => assert!(root, "SageMaker expects root: {user}"),
            _ => assert!(!root, "the plain server runs as non-root: {user}"),
        }
        cmds.push(cmd);
    }
    assert!(dockerfile.contains("--bin churn-predict"));

    // The binary, given the same arguments, defaults to the exposed port on all interfaces.
    let cmd = cmds.pop().unwrap();
    if ["HOST", "PORT", "SAGEMAKER_BIND_TO_PORT"]
        .iter()
        .all(|v| std::env::var_os(v).is_none())
    {
        let args: Vec<String> = std::iter::once("churn-predict".to_owned())
            .chain(cmd.clone())
            .collect();
        let settings = Settings::load_from(args).unwrap();
        assert_eq!((settings.host.as_str(), settings.port), ("0.0.0.0", 8080));
    }

    // Act: start it with the image's arguments (on 127.0.0.1 and a free port, as tests must).
    let mut command = churn_predict();
    command.args(&cmd).env("LOG_FORMAT", "json");
    let served = spawn_served(command);
    let ping = reqwest::get(served.url("/ping")).await.unwrap();
    // Assert
    assert_eq!(ping.status(), 200, "/ping answers under `serve`");
}

#[test]
fn the_images_build_on_supported_bases_with_one_glibc() {
    let dockerfile = deploy_file("Dockerfile");
    let stages = stages(&dockerfile);
    let base_of = |name: &str| {
        stages
            .iter()
            .find(|s| s.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("a stage named {name}"))
            .base
            .clone()
    };
    for stage in &stages {
        assert!(
            !stage.base.contains("debian12") && !stage.base.contains("bookworm"),
            "{}: Debian 12 images lose support (distroless cc-debian12 on 2026-09-01)",
            stage.base
        );
    }
    // Build and runtime on the same Debian release: the binary needs the glibc it was linked to.
    let rust = base_of("build");
    assert!(
        rust.starts_with("rust:") && rust.ends_with("-slim-trixie"),
        "{rust}"
    );
    let rust_version: Vec<u32> = rust["rust:".len()..]
        .split('-')
        .next()
        .unwrap()
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    let cargo_toml = std::fs::read_to_string(workspace_path("Cargo.toml")).unwrap();
    let required: Vec<u32> = cargo_toml
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version = "))
        .expect("the workspace's rust-version")
        .trim_matches('"')
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        rust_version[..2] >= required[..2],
        "the image's Rust {rust_version:?} builds the workspace's rust-version {required:?}"
    );
    assert!(base_of("runtime").starts_with("gcr.io/distroless/cc-debian13"));
    // Node for the CSS: an even (LTS) release from 22 on, on the same Debian release.
    let node = base_of("node");
    let major: u32 = node
        .strip_prefix("node:")
        .and_then(|t| t.split('-').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("node:<major>-...: {node}"));
    assert!(
        major >= 22 && major.is_multiple_of(2),
        "Node {major}: 20 is past end of life"
    );
    assert!(node.contains("-trixie"), "{node}");
}

#[test]
fn hadolint_finds_nothing_in_the_dockerfile() {
    let Some(()) = tool("hadolint") else { return };
    let output = Command::new("hadolint")
        .arg(workspace_path("deploy/Dockerfile"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "hadolint deploy/Dockerfile:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_docker_build_context_keeps_every_workspace_member_and_builds_the_real_css() {
    // Cargo needs every member's manifest, even to build one package.
    let cargo_toml = std::fs::read_to_string(workspace_path("Cargo.toml")).unwrap();
    let members = workspace_members(&cargo_toml);
    assert!(members.len() >= 3, "{members:?}");
    let ignore = deploy_file("Dockerfile.dockerignore");
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/'))
        .collect();
    for member in &members {
        assert!(
            !ignored.contains(&member.as_str()),
            "the build context drops workspace member {member}: {ignored:?}"
        );
    }
    // What the Dockerfile copies by name, and the CSS's inputs, stay in the context.
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "package.json",
        "package-lock.json",
        "style",
        "public",
    ] {
        assert!(
            !ignored.iter().any(|i| *i == needed || *i == "*"),
            "{needed} is needed by the build: {ignored:?}"
        );
    }
    // Large local trees that are not sources: the test venv and SAM's build output.
    for dropped in [".venv", "deploy/.aws-sam", "target", ".git"] {
        assert!(
            ignored.contains(&dropped),
            "{dropped} must not be uploaded as build context: {ignored:?}"
        );
    }
    let dockerfile = deploy_file("Dockerfile");
    assert!(
        dockerfile.contains("ENV CHURN_REQUIRE_CSS=1"),
        "the image must not ship the fallback stylesheet"
    );
}

/// Just enough of Cargo.toml: the workspace's `members = [...]`.
fn workspace_members(cargo_toml: &str) -> Vec<String> {
    let start = cargo_toml.find("members = [").expect("a members list") + "members = [".len();
    let end = start + cargo_toml[start..].find(']').expect("the list ends");
    cargo_toml[start..end]
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// serve and SAGEMAKER_BIND_TO_PORT

#[test]
fn serve_defaults_to_sagemakers_bind_port_and_explicit_ports_still_win() {
    if ["HOST", "PORT", "SAGEMAKER_BIND_TO_PORT"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
    {
        eprintln!("*** SKIPPED: HOST/PORT/SAGEMAKER_BIND_TO_PORT set in the test environment ***");
        return;
    }
    let load = |args: &[&str]| {
        Settings::load_from(std::iter::once("churn-predict").chain(args.iter().copied()))
    };
    let port = |args: &[&str]| load(args).unwrap().port;
    assert_eq!(port(&["serve"]), 8080);
    assert_eq!(port(&["--sagemaker-bind-to-port", "8081", "serve"]), 8081);
    assert_eq!(
        port(&[
            "--sagemaker-bind-to-port",
            "8081",
            "--port",
            "9000",
            "serve"
        ]),
        9000,
        "an explicit port wins"
    );
    assert_eq!(
        port(&["--sagemaker-bind-to-port", "8081"]),
        3000,
        "without `serve` the variable is SageMaker's business only"
    );
    for bad in ["0", "65536", "eighty"] {
        assert!(
            load(&["--sagemaker-bind-to-port", bad, "serve"]).is_err(),
            "{bad} is refused at start"
        );
    }
    let documented = Settings::command()
        .get_arguments()
        .any(|a| a.get_env().is_some_and(|e| e == "SAGEMAKER_BIND_TO_PORT"));
    assert!(
        documented,
        "`churn-predict --help` lists SAGEMAKER_BIND_TO_PORT"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_listens_on_the_port_sagemaker_binds_it_to() {
    // Arrange: a multi-container endpoint gives each container its port in the environment.
    let port = free_port();
    let mut command = churn_predict();
    command
        .arg("serve")
        .env("SAGEMAKER_BIND_TO_PORT", port.to_string());
    // Act: HOST=127.0.0.1 (tests never bind 0.0.0.0), no PORT.
    let served = spawn_listening(command);
    // Assert
    assert_eq!(
        served.address.port(),
        port,
        "serve bound SAGEMAKER_BIND_TO_PORT"
    );
    let ping = reqwest::get(served.url("/ping")).await.unwrap();
    assert_eq!(ping.status(), 200);
}

#[test]
fn serve_refuses_a_bind_port_that_is_not_a_port() {
    let mut command = churn_predict();
    command
        .arg("serve")
        .env("HOST", "127.0.0.1")
        .env("SAGEMAKER_BIND_TO_PORT", "http");
    let (code, output) = run_to_exit(command);
    assert_ne!(code, Some(0), "{output}");
    assert!(output.contains("sagemaker-bind-to-port"), "{output}");
}

// ---------------------------------------------------------------------------------------------
// The SAM template, as CloudFormation gets it after the Serverless transform

fn translate(parameters: &[&str]) -> Option<Value> {
    python_with(&["samtranslator", "boto3"])?;
    let output = Command::new("python3")
        .arg(workspace_path("scripts/sam_translate.py"))
        .arg(workspace_path("deploy/template.yaml"))
        .args(parameters)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the SAM translator refused the template: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).expect("the translator prints JSON"))
}

/// The template translated with its default parameters (once for all tests).
fn translated() -> Option<&'static Value> {
    static TRANSLATED: OnceLock<Option<Value>> = OnceLock::new();
    TRANSLATED.get_or_init(|| translate(&[])).as_ref()
}

fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(name, r)| (name.as_str(), r))
        .collect()
}

fn one<'a>(template: &'a Value, kind: &str) -> (&'a str, &'a Value) {
    let found = of_type(template, kind);
    assert_eq!(found.len(), 1, "one {kind}: {found:?}");
    found[0]
}

fn default_of(template: &Value, parameter: &str) -> f64 {
    let default = &template["Parameters"][parameter]["Default"];
    default
        .as_f64()
        .or_else(|| default.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("{parameter} has a numeric default: {default}"))
}

/// The API's methods as (METHOD, path) with whether they need `x-api-key`.
fn methods(template: &Value) -> Vec<(String, String, bool)> {
    let (_, api) = one(template, "AWS::ApiGateway::RestApi");
    let paths = api["Properties"]["Body"]["paths"]
        .as_object()
        .expect("a generated OpenAPI body");
    let mut methods = Vec::new();
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            let method = match method.as_str() {
                "x-amazon-apigateway-any-method" => "ANY".to_owned(),
                m => m.to_ascii_uppercase(),
            };
            let security = operation["security"]
                .as_array()
                .expect("security is explicit");
            let keyed = security.iter().any(|s| s.get("api_key").is_some());
            assert!(
                keyed || security.is_empty(),
                "{method} {path}: {security:?}"
            );
            methods.push((method, path.clone(), keyed));
        }
    }
    methods
}

/// The methods API Gateway lets through without a key (deploy/README.md, "Routes without a
/// key"): the pages (people have no key; the app's sign-in guards them), the model page (the
/// model card, open in the app too), CORS preflights and health checks.
const KEYLESS: [(&str, &str); 16] = [
    ("GET", "/"),
    ("GET", "/form"),
    ("POST", "/form"),
    ("GET", "/batch"),
    ("POST", "/batch"),
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("POST", "/sign-out"),
    ("POST", "/api/predict-form"),
    ("GET", "/pkg/{proxy+}"),
    ("GET", "/robots.txt"),
    ("GET", "/model"),
    ("GET", "/healthz"),
    ("GET", "/ping"),
    ("OPTIONS", "/"),
    ("OPTIONS", "/{proxy+}"),
];

#[test]
fn the_api_has_one_stage_the_configured_one_which_the_usage_plan_covers() {
    let Some(template) = translated() else { return };
    let (stage_id, stage) = one(template, "AWS::ApiGateway::Stage");
    assert_eq!(
        stage["Properties"]["StageName"],
        json!({"Ref": "StageName"})
    );
    // A Deployment with a StageName creates a stage of its own (SAM's "Stage"), which neither
    // the usage plan nor the stage's throttles cover.
    for (id, deployment) in of_type(template, "AWS::ApiGateway::Deployment") {
        assert!(
            deployment["Properties"].get("StageName").is_none(),
            "{id} creates an extra stage: {deployment}"
        );
    }
    let (_, api) = one(template, "AWS::ApiGateway::RestApi");
    let openapi = api["Properties"]["Body"]["openapi"]
        .as_str()
        .unwrap_or_default();
    assert!(
        openapi.starts_with("3."),
        "OpenApiVersion is set: {openapi:?}"
    );
    let (_, plan) = one(template, "AWS::ApiGateway::UsagePlan");
    assert_eq!(
        plan["Properties"]["ApiStages"],
        json!([{"ApiId": {"Ref": "ChurnApi"}, "Stage": {"Ref": stage_id}}]),
        "the usage plan covers the one stage"
    );
}

#[test]
fn only_pages_preflights_and_health_checks_go_without_a_key_and_they_are_throttled_lower() {
    let Some(template) = translated() else { return };
    let methods = methods(template);
    let keyless: BTreeSet<(String, String)> = methods
        .iter()
        .filter(|(_, _, keyed)| !keyed)
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .collect();
    let expected: BTreeSet<(String, String)> = KEYLESS
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(keyless, expected, "the methods without a key");
    assert!(
        methods
            .iter()
            .any(|(m, p, keyed)| m == "ANY" && p == "/{proxy+}" && *keyed),
        "everything else needs the key: {methods:?}"
    );

    // Stage throttles: all methods, then a lower override for each key-less one.
    let (_, stage) = one(template, "AWS::ApiGateway::Stage");
    let settings = stage["Properties"]["MethodSettings"].as_array().unwrap();
    let throttle = |s: &Value| {
        (
            s["ThrottlingRateLimit"]["Ref"]
                .as_str()
                .unwrap_or("?")
                .to_owned(),
            s["ThrottlingBurstLimit"]["Ref"]
                .as_str()
                .unwrap_or("?")
                .to_owned(),
        )
    };
    let all: Vec<&Value> = settings
        .iter()
        .filter(|s| s["ResourcePath"] == "/*" && s["HttpMethod"] == "*")
        .collect();
    assert_eq!(all.len(), 1, "{settings:?}");
    assert_eq!(
        throttle(all[0]),
        ("StageRateLimit".to_owned(), "StageBurstLimit".to_owned())
    );
    let mut overridden = BTreeSet::new();
    for setting in settings.iter().filter(|s| s["ResourcePath"] != "/*") {
        // ResourcePath writes "/" inside a path as "~1"; the root is "/".
        let encoded = setting["ResourcePath"].as_str().unwrap();
        let path = match encoded {
            "/" => "/".to_owned(),
            e => e.strip_prefix('/').unwrap_or(e).replace("~1", "/"),
        };
        let method = setting["HttpMethod"].as_str().unwrap().to_owned();
        assert!(
            methods.iter().any(|(m, p, _)| *m == method && *p == path),
            "MethodSettings names {method} {encoded}, which the API does not have \
             (CloudFormation would refuse the stage)"
        );
        assert_eq!(
            throttle(setting),
            ("PublicRateLimit".to_owned(), "PublicBurstLimit".to_owned()),
            "{method} {path}"
        );
        overridden.insert((method, path));
    }
    assert_eq!(
        overridden, expected,
        "every key-less method has its own, lower throttle"
    );
    assert!(default_of(template, "PublicRateLimit") < default_of(template, "StageRateLimit"));
    assert!(default_of(template, "PublicBurstLimit") < default_of(template, "StageBurstLimit"));
}

#[test]
fn the_usage_plan_limits_each_key_separately_from_the_stage_limits() {
    // Distinct values show which parameter lands where.
    let Some(template) = translate(&[
        "KeyRateLimit=11",
        "KeyBurstLimit=22",
        "QuotaLimit=333",
        "QuotaPeriod=WEEK",
        "StageRateLimit=44",
        "StageBurstLimit=55",
    ]) else {
        return;
    };
    let (_, plan) = one(&template, "AWS::ApiGateway::UsagePlan");
    // The translator resolves these parameters (values given as text stay text).
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let limits = &plan["Properties"];
    assert_eq!(
        [
            text(&limits["Throttle"]["RateLimit"]),
            text(&limits["Throttle"]["BurstLimit"]),
            text(&limits["Quota"]["Limit"]),
            text(&limits["Quota"]["Period"]),
        ],
        ["11", "22", "333", "WEEK"],
        "the usage plan takes the Key* and Quota* parameters: {limits}"
    );
    // Defaults: one key alone cannot use up a method's stage-wide budget.
    let defaults = translated().unwrap();
    assert!(default_of(defaults, "KeyRateLimit") <= default_of(defaults, "StageRateLimit"));
    assert!(default_of(defaults, "KeyBurstLimit") <= default_of(defaults, "StageBurstLimit"));
}

#[test]
fn the_function_is_capped_by_reserved_concurrency_and_has_512_mb() {
    let Some(template) = translated() else { return };
    let (_, function) = one(template, "AWS::Lambda::Function");
    let props = &function["Properties"];
    assert_eq!(
        props["ReservedConcurrentExecutions"],
        json!({"Fn::If": ["CapsConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]})
    );
    assert_eq!(
        template["Conditions"]["CapsConcurrency"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, "0"]}]}),
        "only an explicit 0 leaves the function uncapped"
    );
    let reserved = default_of(template, "ReservedConcurrency");
    assert!(
        (1.0..=100.0).contains(&reserved),
        "capped by default, and small: {reserved}"
    );
    assert_eq!(props["MemorySize"], json!({"Ref": "MemorySize"}));
    assert_eq!(default_of(template, "MemorySize"), 512.0);
    // The function answers before Lambda cuts it off.
    let timeout_ms = props["Timeout"].as_f64().unwrap() * 1000.0;
    let request_ms: f64 = props["Environment"]["Variables"]["REQUEST_TIMEOUT_MS"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(request_ms < timeout_ms);
}

/// Behind the gateway, the pages are key-less methods (people have no API key); the function
/// guards them itself once it is given the keys (PageSignInKeys) and a session secret, which a
/// CloudFormation rule makes go together. Without keys the pages stay open, throttled.
#[test]
fn the_pages_behind_the_gateway_can_be_guarded_by_the_functions_sign_in() {
    let Some(template) = translated() else { return };
    let (_, function) = one(template, "AWS::Lambda::Function");
    let variables = &function["Properties"]["Environment"]["Variables"];
    assert_eq!(
        variables["API_KEYS"],
        json!({"Fn::If": ["GuardsPages", {"Ref": "PageSignInKeys"}, {"Ref": "AWS::NoValue"}]})
    );
    assert_eq!(
        variables["SESSION_SECRET"],
        json!({"Fn::If": ["GuardsPages", {"Ref": "SessionSecret"}, {"Ref": "AWS::NoValue"}]})
    );
    for secret in ["PageSignInKeys", "SessionSecret"] {
        let parameter = &template["Parameters"][secret];
        assert_eq!(parameter["NoEcho"], true, "{secret} is never shown");
        assert_eq!(
            parameter["Default"], "",
            "{secret}: open by default, on purpose"
        );
    }
    let rule = &template["Rules"]["PageSignInNeedsASessionSecret"];
    assert_eq!(
        rule["Assertions"][0]["Assert"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "SessionSecret"}, ""]}]}),
        "keys without a secret are refused before the function would refuse to start: {rule}"
    );
    // The parameter patterns ask for what the binary requires: keys of at least 16
    // characters, a secret of at least 32 (else the function would refuse to start).
    let pattern = |name: &str| {
        template["Parameters"][name]["AllowedPattern"]
            .as_str()
            .unwrap()
    };
    let keys = server::middleware::auth::MIN_KEY_CHARS;
    let secret = server::middleware::session::MIN_SECRET_BYTES;
    assert_eq!(
        pattern("PageSignInKeys"),
        format!("^$|^[^,]{{{keys},}}(,[^,]{{{keys},}})*$")
    );
    assert_eq!(pattern("SessionSecret"), format!("^$|^.{{{secret},}}$"));
}

/// Under Lambda the function does not compress (its compressed body would reach API Gateway
/// base64-encoded); API Gateway compresses instead, from the same size as the plain server.
#[test]
fn api_gateway_compresses_answers_from_the_size_the_server_would() {
    let Some(template) = translated() else { return };
    let (_, api) = one(template, "AWS::ApiGateway::RestApi");
    assert_eq!(
        api["Properties"]["MinimumCompressionSize"].as_f64(),
        Some(f64::from(server::middleware::compress::MIN_BYTES)),
        "{}",
        api["Properties"]
    );
}

/// The file page's upload reaches the function byte for byte: API Gateway passes a body of a
/// binary media type base64-encoded (as text, bytes that are not UTF-8 would be altered), and
/// the answers the function gives (HTML, CSV, JSON) are not of one.
#[test]
fn the_file_pages_upload_is_a_binary_media_type_and_no_answer_is() {
    let Some(template) = translated() else { return };
    let (_, api) = one(template, "AWS::ApiGateway::RestApi");
    let declared = api["Properties"]["BinaryMediaTypes"]
        .as_array()
        .or_else(|| api["Properties"]["Body"]["x-amazon-apigateway-binary-media-types"].as_array())
        .unwrap_or_else(|| panic!("binary media types: {}", api["Properties"]));
    let declared: Vec<&str> = declared.iter().filter_map(Value::as_str).collect();
    assert!(
        declared
            .iter()
            .any(|t| t.replace("~1", "/") == "multipart/form-data"),
        "{declared:?}"
    );
    for answer in ["text/html", "text/csv", "application/json", "text/css"] {
        assert!(
            !declared.iter().any(|t| {
                let t = t.replace("~1", "/");
                t == answer
                    || t == "*/*"
                    || t == format!("{}/*", &answer[..answer.find('/').unwrap()])
            }),
            "{answer} would be sent base64-encoded: {declared:?}"
        );
    }
}

#[test]
fn errors_api_gateway_makes_itself_carry_the_cors_origin_of_the_function() {
    let Some(template) = translated() else { return };
    let (_, api) = one(template, "AWS::ApiGateway::RestApi");
    let responses = &api["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"];
    let origin_header = json!({"Fn::If": [
        "HasCors",
        {"Fn::Sub": "'${CorsAllowedOrigin}'"},
        {"Ref": "AWS::NoValue"}
    ]});
    for kind in ["DEFAULT_4XX", "DEFAULT_5XX"] {
        assert_eq!(
            responses[kind]["responseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"],
            origin_header,
            "{kind}: {responses}"
        );
    }
    assert_eq!(
        template["Conditions"]["HasCors"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "CorsAllowedOrigin"}, ""]}]})
    );
    let (_, function) = one(template, "AWS::Lambda::Function");
    assert_eq!(
        function["Properties"]["Environment"]["Variables"]["CORS_ALLOWED_ORIGINS"],
        json!({"Fn::If": ["HasCors", {"Ref": "CorsAllowedOrigin"}, {"Ref": "AWS::NoValue"}]}),
        "the function allows the same origin the gateway's errors name"
    );
}

/// Every IAM policy document in `value`, through `Fn::If` branches.
fn policy_documents<'a>(value: &'a Value, found: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "PolicyDocument" || key == "AssumeRolePolicyDocument" {
                    found.push(v);
                } else {
                    policy_documents(v, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| policy_documents(v, found)),
        _ => {}
    }
}

#[test]
fn every_iam_policy_names_the_current_policy_language_version() {
    let Some(template) = translated() else { return };
    let mut documents = Vec::new();
    policy_documents(&template["Resources"], &mut documents);
    assert!(
        documents.len() >= 2,
        "the role's trust policy and the SageMaker policy: {documents:?}"
    );
    for document in documents {
        assert_eq!(document["Version"], "2012-10-17", "{document}");
    }
    let (_, role) = one(template, "AWS::IAM::Role");
    let policies = role["Properties"]["Policies"].to_string();
    assert!(
        policies.contains("sagemaker:InvokeEndpoint") && policies.contains("HasEndpoint"),
        "only with an endpoint, only InvokeEndpoint: {policies}"
    );
}

/// The first path segment of every route the binary serves, read from the sources that
/// declare them (axum `.route("/…")`, Leptos `path!("/…")`, the pages' path constants
/// `…_PATH: &str = "/…"`, server functions under `/api/`, the stylesheet under `/pkg/`).
fn route_segments() -> BTreeSet<String> {
    fn rust_files(dir: PathBuf, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                rust_files(path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    rust_files(workspace_path("server/src"), &mut files);
    rust_files(workspace_path("app/src"), &mut files);
    let mut segments = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for opener in [
            ".route(\"",
            "path!(\"",
            "concat!(\"",
            "_PATH: &str = \"",
            "#[server(",
        ] {
            for (at, _) in source.match_indices(opener) {
                let rest = &source[at + opener.len()..];
                let literal = match opener {
                    "#[server(" => {
                        // Server functions are mounted under /api/.
                        segments.insert("api".to_owned());
                        continue;
                    }
                    _ => rest.split('"').next().unwrap_or_default(),
                };
                if let Some(first) = literal
                    .strip_prefix('/')
                    .and_then(|p| p.split('/').next())
                    .filter(|s| !s.is_empty() && !s.starts_with('{'))
                {
                    segments.insert(first.to_owned());
                }
            }
        }
    }
    segments
}

#[test]
fn the_stage_name_pattern_refuses_every_route_name() {
    let Some(template) = translated() else { return };
    let pattern = template["Parameters"]["StageName"]["AllowedPattern"]
        .as_str()
        .expect("StageName has an AllowedPattern");
    let mut refused: BTreeSet<String> = route_segments();
    for seen in [
        "predict",
        "healthz",
        "ping",
        "invocations",
        "api",
        "model",
        "pkg",
        "form",
        "sign-in",
        "sign-out",
        "batch",
        "score",
    ] {
        assert!(
            refused.contains(seen),
            "routes read from the sources: {refused:?}"
        );
    }
    // Routes being added elsewhere (an OpenAPI viewer), and /openapi.json's own segment.
    refused.extend(["openapi", "openapi.json", "docs"].map(String::from));
    let accepted = ["prod", "v1", "staging", "dev_2", "Prod", "blue-green"];
    // CloudFormation matches AllowedPattern as a Java regex against the whole value; Python's
    // `re.fullmatch` reads this pattern (anchors, a negative lookahead, classes) the same way.
    let verdicts = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, re, sys\n\
             p, names = json.load(sys.stdin)\n\
             print(json.dumps({n: re.fullmatch(p, n) is not None for n in names}))",
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            let names: Vec<&str> = refused.iter().map(String::as_str).chain(accepted).collect();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(json!([pattern, names]).to_string().as_bytes())?;
            child.wait_with_output()
        })
        .expect("python3 runs");
    let verdicts: Value = serde_json::from_slice(&verdicts.stdout).expect("verdicts");
    for name in &refused {
        assert_eq!(
            verdicts[name], false,
            "stage {name:?} would swallow the route /{name}; add it to StageName's AllowedPattern"
        );
    }
    for name in accepted {
        assert_eq!(verdicts[name], true, "stage {name:?} is a fine stage name");
    }
}

#[test]
fn cfn_lint_finds_nothing_in_the_template() {
    let Some(()) = tool("cfn-lint") else { return };
    let output = Command::new("cfn-lint")
        .arg(workspace_path("deploy/template.yaml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cfn-lint deploy/template.yaml:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_sam_template_sets_only_variables_the_binary_reads() {
    let template = deploy_file("template.yaml");
    for needed in [
        "Runtime: provided.al2023",
        "Architectures: [arm64]",
        "BuildMethod: rust-cargolambda",
        "Binary: churn-predict",
        "ApiKeyRequired: true",
        "sagemaker:InvokeEndpoint",
        "RetentionInDays",
    ] {
        assert!(template.contains(needed), "template.yaml has {needed:?}");
    }
    let known: Vec<String> = Settings::command()
        .get_arguments()
        .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        .collect();
    // The Variables block: `NAME: value` lines indented below `Variables:`.
    let mut lines = template
        .lines()
        .skip_while(|l| l.trim() != "Variables:")
        .skip(1);
    let indent = |l: &str| l.len() - l.trim_start().len();
    let first = lines.next().expect("a variable");
    let depth = indent(first);
    let names: Vec<&str> = std::iter::once(first)
        .chain(lines)
        .take_while(|l| {
            l.trim().is_empty() || l.trim_start().starts_with('#') || indent(l) >= depth
        })
        .filter(|l| !l.trim_start().starts_with('#') && indent(l) == depth)
        .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k))
        .collect();
    assert!(names.contains(&"ENDPOINT_NAME"), "{names:?}");
    for name in names {
        let read_elsewhere = ["AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "RUST_LOG"].contains(&name);
        assert!(
            read_elsewhere || known.iter().any(|k| k == name),
            "{name} is not a setting of churn-predict ({known:?})"
        );
    }
}
