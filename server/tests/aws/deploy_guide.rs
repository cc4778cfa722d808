//! deploy/README.md read as the script it says it is: its ```` ```sh ```` blocks, in order, are
//! one bash script (the guide shows how to extract and run it). Checked offline:
//! - bash parses it (`bash -n`);
//! - every variable it uses is set earlier, or is an input it checks (`${X:?...}`);
//! - every `aws`, `sam` and `docker` command that talks to AWS gets the region;
//! - nothing prompts: no pager, no `--guided`, `sam deploy` never waits for a change-set
//!   confirmation, `sam build` opts into the beta Rust build;
//! - the container is built and pushed as SageMaker needs it, and the pushed manifest checked;
//! - every `aws` command names a real operation and real options of it (botocore's service
//!   models, offline: `scripts/check_aws_cli.py`);
//! - the prose keeps the facts a first deployment depends on (payload limits, key-less routes,
//!   model formats; the legacy-format conversion one-liner is run with XGBoost).

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::deploy::{deploy_file, workspace_path};
use crate::helpers::{churn_predict, python_with, spawn_served, tool};

/// The fenced blocks of a Markdown text with the given info string, in order.
fn blocks(markdown: &str, language: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line == format!("```{language}") => current = Some(String::new()),
            Some(block) if line == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```{language} block");
    blocks
}

/// The guide's script: its `sh` blocks joined, exactly what the guide's `awk` line extracts.
fn script() -> String {
    blocks(&deploy_file("README.md"), "sh").concat()
}

/// The simple commands of a shell text: continuation lines joined, comments dropped, split at
/// unquoted `;`, `&&`, `||`, `|`, `&`, newlines, and around `$( … )` (whose inside is a
/// command of its own). Quotes are kept, so words can be inspected as written.
fn commands(shell: &str) -> Vec<String> {
    let text = shell.replace("\\\n", " ");
    let chars: Vec<char> = text.chars().collect();
    let mut stack: Vec<String> = vec![String::new()];
    let mut done = Vec::new();
    let (mut single, mut double) = (false, false);
    let mut i = 0;
    let finish = |current: &mut String, done: &mut Vec<String>| {
        let c = current.trim();
        if !c.is_empty() {
            done.push(c.to_owned());
        }
        current.clear();
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let nested = stack.len() > 1;
        let current = stack.last_mut().unwrap();
        if single {
            current.push(c);
            single = c != '\'';
        } else if c == '\\' {
            current.push(c);
            if let Some(n) = next {
                current.push(n);
                i += 1;
            }
        } else if c == '$' && next == Some('(') {
            current.push_str("$(…)");
            stack.push(String::new());
            i += 1;
        } else if c == ')' && nested {
            // The end of a `$( … )`, also one opened inside double quotes.
            let mut inner = stack.pop().unwrap();
            finish(&mut inner, &mut done);
        } else if double {
            current.push(c);
            double = c != '"';
        } else if c == '\'' {
            current.push(c);
            single = true;
        } else if c == '"' {
            current.push(c);
            double = true;
        } else if c == '#' && current.chars().last().is_none_or(char::is_whitespace) {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        } else if c == '&' && matches!(current.chars().last(), Some('>' | '<')) {
            current.push(c); // `2>&1`: a redirection, not a background job
        } else if matches!(c, ';' | '\n' | '|' | '&') {
            finish(current, &mut done);
            if matches!((c, next), ('&', Some('&')) | ('|', Some('|'))) {
                i += 1;
            }
        } else {
            current.push(c);
        }
        i += 1;
    }
    for mut rest in stack {
        finish(&mut rest, &mut done);
    }
    done
}

/// The program a simple command runs: its first word after `VAR=value` assignments, and the
/// words after it.
fn program(command: &str) -> (String, Vec<String>) {
    let words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
    let start = words
        .iter()
        .position(|w| !(w.contains('=') && !w.starts_with('-') && !w.starts_with('"')))
        .unwrap_or(words.len());
    match words.get(start) {
        Some(first) => (first.clone(), words[start + 1..].to_vec()),
        None => (String::new(), Vec::new()),
    }
}

fn runs<'a>(commands: &'a [String], name: &str, sub: &[&str]) -> Vec<&'a String> {
    commands
        .iter()
        .filter(|c| {
            let (p, args) = program(c);
            p == name
                && sub
                    .iter()
                    .enumerate()
                    .all(|(i, s)| args.get(i).map(String::as_str) == Some(*s))
        })
        .collect()
}

#[test]
fn the_guides_script_parses_as_bash() {
    let Some(()) = tool("bash") else { return };
    let script = script();
    assert!(
        script.lines().count() > 30,
        "the guide has its script: {script}"
    );
    let mut bash = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    bash.stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = bash.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "bash -n: {}\n{script}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_variable_the_script_uses_is_set_before_or_checked_as_an_input() {
    let script = script();
    let mut defined: BTreeSet<String> = ["HOME", "PATH", "PWD"].map(String::from).into();
    let mut undefined = Vec::new();
    for line in script.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let code = line.split(" #").next().unwrap_or(line);
        // Uses on this line, before its own assignment takes effect.
        let bytes = code.as_bytes();
        let mut i = 0;
        while let Some(at) = code[i..].find('$') {
            let start = i + at + 1;
            let braced = bytes.get(start) == Some(&b'{');
            let name_start = start + usize::from(braced);
            let name: String = code[name_start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            i = name_start + name.len().max(1);
            if name.is_empty() || name.chars().all(|c| c.is_ascii_digit()) {
                continue; // `$(`, `$1`
            }
            let rest = &code[name_start + name.len()..];
            let guarded = braced && (rest.starts_with(":?") || rest.starts_with(":-"));
            if guarded {
                defined.insert(name);
            } else if !defined.contains(&name) {
                undefined.push(format!("{name} in: {line}"));
            }
        }
        // Assignments: `NAME=`, `export NAME=`, `NAME()` functions are not variables.
        for word in code.split_whitespace() {
            if let Some((name, _)) = word.split_once('=')
                && !name.is_empty()
                && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            {
                defined.insert(name.to_owned());
            }
        }
    }
    assert!(
        undefined.is_empty(),
        "used before being set: {undefined:#?}"
    );
    assert!(defined.contains("REGION"), "the script sets REGION");
}

#[test]
fn every_command_that_talks_to_aws_names_the_region_and_none_prompts() {
    let script = script();
    let commands = commands(&script);
    // Examples outside the script follow the same rules.
    let examples = blocks(&deploy_file("README.md"), "console").concat();
    let all: Vec<String> = commands
        .iter()
        .cloned()
        .chain(self::commands(&examples))
        .collect();

    let aws = runs(&all, "aws", &[]);
    assert!(aws.len() >= 10, "{aws:#?}");
    for command in &aws {
        assert!(
            command.contains("--region \"$REGION\"") || command.contains("--region $REGION"),
            "no region: {command}"
        );
        assert!(!command.contains("--cli-auto-prompt"), "{command}");
    }
    // The AWS CLI v2 pages long output through `less`, which waits for a key.
    let pager_off = script
        .find("export AWS_PAGER=\"\"")
        .expect("AWS_PAGER is turned off");
    let first_aws = script.find("aws ").unwrap();
    assert!(
        pager_off < first_aws,
        "the pager is off before the first aws command"
    );

    let sam = runs(&all, "sam", &[]);
    assert!(!sam.is_empty());
    for command in &sam {
        assert!(!command.contains("--guided"), "prompts: {command}");
    }
    let samconfig = deploy_file("samconfig.toml");
    let deploys = runs(&commands, "sam", &["deploy"]);
    assert!(
        deploys.len() >= 2,
        "the stack is deployed, then pointed at SageMaker"
    );
    for command in &deploys {
        for flag in [
            "--region \"$REGION\"",
            "--no-confirm-changeset",
            "--no-fail-on-empty-changeset",
            "--capabilities CAPABILITY_IAM",
            "--resolve-s3",
        ] {
            assert!(command.contains(flag), "{flag} missing: {command}");
        }
    }
    let builds = runs(&commands, "sam", &["build"]);
    assert_eq!(builds.len(), 1, "{builds:?}");
    assert!(
        builds[0].contains("--beta-features")
            || toml_section(&samconfig, "default.build.parameters")
                .contains("beta_features = true"),
        "rust-cargolambda is a SAM CLI beta feature: without the opt-in `sam build` prompts"
    );
    // samconfig.toml (used when `sam` runs in deploy/) never prompts either.
    assert!(toml_section(&samconfig, "default.build.parameters").contains("beta_features = true"));
    let deploy_defaults = toml_section(&samconfig, "default.deploy.parameters");
    for setting in [
        "confirm_changeset = false",
        "fail_on_empty_changeset = false",
        "capabilities = \"CAPABILITY_IAM\"",
        "resolve_s3 = true",
    ] {
        assert!(
            deploy_defaults.contains(setting),
            "samconfig.toml: {setting}"
        );
    }
    assert!(
        !samconfig
            .lines()
            .any(|l| l.trim_start().starts_with("region")),
        "the region comes from the command line"
    );

    // The form's CSS is compiled for real before `sam build`.
    let position = |needle: &str| {
        script
            .find(needle)
            .unwrap_or_else(|| panic!("the script runs {needle:?}"))
    };
    let build = position("sam build");
    assert!(position("npm ci") < build);
    assert!(position("export CHURN_REQUIRE_CSS=1") < build);
}

/// The lines of one `[section]` of a TOML file.
fn toml_section(toml: &str, name: &str) -> String {
    toml.lines()
        .skip_while(|l| l.trim() != format!("[{name}]"))
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_container_is_pushed_as_a_docker_v2_manifest_for_amd64_and_checked() {
    let script = script();
    let commands = commands(&script);
    let builds = runs(&commands, "docker", &["buildx", "build"]);
    assert_eq!(builds.len(), 1, "{builds:?}");
    let build = builds[0];
    for flag in [
        "--platform linux/amd64",
        "--provenance=false",
        "--sbom=false",
        "--target sagemaker",
        "-f deploy/Dockerfile",
    ] {
        assert!(build.contains(flag), "{flag} missing: {build}");
    }
    let output = build
        .split_whitespace()
        .skip_while(|w| *w != "--output")
        .nth(1)
        .expect("--output")
        .trim_matches('"');
    for part in [
        "type=image",
        "oci-mediatypes=false",
        "push=true",
        "name=$IMAGE",
    ] {
        assert!(
            output.split(',').any(|p| p == part),
            "{part} missing: {output}"
        );
    }
    // Any other push could send an OCI index again.
    assert!(runs(&commands, "docker", &["push"]).is_empty());
    // The registry host (and so `docker login`) carries the region.
    assert!(script.contains("REGISTRY=\"$ACCOUNT.dkr.ecr.$REGION.amazonaws.com\""));
    let login = runs(&commands, "docker", &["login"]);
    assert!(
        login.len() == 1 && login[0].contains("\"$REGISTRY\""),
        "{login:?}"
    );
    // And what was pushed is checked.
    assert_eq!(
        runs(&commands, "docker", &["buildx", "imagetools", "inspect"])
            .iter()
            .filter(|c| c.contains("--raw"))
            .count(),
        1
    );
    let check = runs(&commands, "aws", &["ecr", "batch-get-image"]);
    assert!(
        check.len() == 1 && check[0].contains("imageManifestMediaType"),
        "{check:?}"
    );
    assert!(script.contains(
        "[ \"$MEDIA_TYPE\" = \"application/vnd.docker.distribution.manifest.v2+json\" ]"
    ));
    // The SageMaker model uses the image that was pushed.
    let model = runs(&commands, "aws", &["sagemaker", "create-model"]);
    assert!(
        model.len() == 1 && model[0].contains("Image=$IMAGE"),
        "{model:?}"
    );
}

#[test]
fn every_aws_command_is_a_real_operation_with_real_options() {
    let Some(()) = python_with(&["botocore"]) else {
        return;
    };
    let readme = deploy_file("README.md");
    let shell = blocks(&readme, "sh").concat() + &blocks(&readme, "console").concat();
    let aws: Vec<String> = runs(&commands(&shell), "aws", &[])
        .into_iter()
        .cloned()
        .collect();
    let mut child = Command::new("python3")
        .arg(workspace_path("scripts/check_aws_cli.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json!(aws).to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "check_aws_cli.py: {e}: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(report["checked"], aws.len(), "{report}");
    assert_eq!(report["problems"], json!([]), "{report:#}");
}

#[test]
fn the_guide_states_the_limits_the_keyless_routes_and_the_model_formats() {
    let readme = deploy_file("README.md");
    // One table of effective payload limits, one row per deployment mode.
    assert_eq!(readme.matches("## Payload limits").count(), 1);
    let section = &readme[readme.find("## Payload limits").unwrap()..];
    let table: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    for mode in [
        "Plain server",
        "Lambda behind API Gateway",
        "SageMaker endpoint",
    ] {
        assert!(
            table
                .iter()
                .any(|row| row.starts_with(&format!("| {mode}"))),
            "a row for {mode}"
        );
    }
    let table = table.join("\n");
    for fact in [
        "MAX_BODY_BYTES",
        "6 MB",
        "whole event",
        "base64",
        "4/3",
        "6 MiB",
    ] {
        assert!(table.contains(fact), "the payload table says {fact:?}");
    }
    // The key-less routes and why, matching the template's.
    for route in [
        "`GET /`",
        "`GET /form`",
        "`POST /form`",
        "`GET /sign-in`",
        "`POST /sign-in`",
        "`POST /sign-out`",
        "`POST /api/predict-form`",
        "`GET /batch`",
        "`POST /batch`",
        "`GET /pkg/{proxy+}`",
        "`GET /robots.txt`",
        "`OPTIONS /`",
        "`OPTIONS /{proxy+}`",
        "`GET /healthz`",
        "`GET /ping`",
    ] {
        assert!(
            readme.contains(route),
            "the guide lists {route} as key-less"
        );
    }
    for why in ["no API key", "sign-in", "preflight", "Health"] {
        assert!(readme.contains(why), "the guide says why: {why}");
    }
    assert!(
        readme.contains("do not transfer"),
        "cold-start figures are local"
    );
    for format in ["JSON or UBJSON", "legacy binary"] {
        assert!(readme.contains(format), "{format}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_conversion_one_liner_makes_a_model_the_server_serves() {
    let Some(()) = python_with(&["xgboost"]) else {
        return;
    };
    // Arrange: a SageMaker-style `xgboost-model` (UBJSON, as the 3.0 containers write it;
    // XGBoost 3 can no longer write the legacy format, which the one-liner reads the same way).
    let one_liner = blocks(&deploy_file("README.md"), "console")
        .concat()
        .lines()
        .find(|l| l.contains("save_model("))
        .expect("the guide gives the conversion")
        .to_owned();
    let dir = std::env::temp_dir().join(format!("churn-convert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        workspace_path("model/tests/fixtures/churn-xgb.ubj"),
        dir.join("xgboost-model"),
    )
    .unwrap();

    // Act: the guide's command, as written, in that directory.
    let output = Command::new("bash")
        .arg("-c")
        .arg(&one_liner)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{one_liner}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let converted = dir.join("model.json");
    assert!(
        std::fs::read(&converted).unwrap().starts_with(b"{\""),
        "JSON written"
    );

    // Assert: churn-predict serves what it wrote.
    let mut command = churn_predict();
    command.env("MODEL_PATH", &converted);
    let served = spawn_served(command);
    let answer: Value = reqwest::Client::new()
        .post(served.url("/predict"))
        .json(&json!({"data": crate::helpers::SAMPLE}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["result"], "Will Not Exit", "{answer}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_shell_splitter_finds_commands_inside_substitutions_and_pipes() {
    let found = commands(
        "A=$(aws sts get-caller-identity --region \"$R\" --query 'x|y' --output text)\n\
         aws ecr get-login-password --region \"$R\" \\\n  | docker login --password-stdin \"$H\" # c\n\
         x || y && z; echo \"a;b\" >/dev/null 2>&1",
    );
    assert_eq!(
        found,
        [
            "aws sts get-caller-identity --region \"$R\" --query 'x|y' --output text",
            "A=$(…)",
            "aws ecr get-login-password --region \"$R\"",
            "docker login --password-stdin \"$H\"",
            "x",
            "y",
            "z",
            "echo \"a;b\" >/dev/null 2>&1",
        ]
    );
    assert_eq!(program("A=$(…)").0, "");
    assert_eq!(program("X=1 sam build").0, "sam");
}
