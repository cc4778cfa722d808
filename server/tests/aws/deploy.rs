//! The deployment files agree with the binary: the Dockerfile's entry, command, port and user,
//! and the SAM template's environment variables. (cfn-lint and hadolint run in scripts/test.sh.)

use clap::CommandFactory;
use server::config::Settings;

use crate::helpers::{churn_predict, spawn_served};

fn deploy_file(name: &str) -> String {
    let path = format!("{}/../deploy/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The final stage's instructions, as (keyword, arguments), continuation lines joined.
fn final_stage(dockerfile: &str) -> Vec<(String, String)> {
    let joined = dockerfile.replace("\\\n", " ");
    let instructions: Vec<(String, String)> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_ascii_uppercase(), v.trim().to_owned()))
        .collect();
    let last_from = instructions
        .iter()
        .rposition(|(k, _)| k == "FROM")
        .expect("a FROM");
    assert!(
        instructions.iter().filter(|(k, _)| k == "FROM").count() >= 2,
        "multi-stage: the runtime image carries no toolchain"
    );
    instructions[last_from..].to_vec()
}

fn exec_form(value: &str) -> Vec<String> {
    serde_json::from_str(value)
        .unwrap_or_else(|e| panic!("{value} is not exec form (JSON array): {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dockerfile_starts_the_binary_as_sagemaker_does_on_the_port_it_exposes() {
    // Arrange: what the image would run.
    let dockerfile = deploy_file("Dockerfile");
    let stage = final_stage(&dockerfile);
    let get = |k: &str| {
        stage
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let entrypoint = exec_form(&get("ENTRYPOINT").expect("an ENTRYPOINT"));
    let cmd = exec_form(&get("CMD").expect("a CMD"));
    let exposed: u16 = get("EXPOSE").expect("EXPOSE").parse().unwrap();
    let user = get("USER").expect("a USER");
    assert!(entrypoint[0].ends_with("/churn-predict"), "{entrypoint:?}");
    assert!(
        dockerfile.contains(&format!(
            "COPY --from=build /churn-predict {}",
            entrypoint[0]
        )),
        "the entry point is the binary the build stage made"
    );
    assert!(dockerfile.contains("--bin churn-predict"));
    assert_eq!(cmd, ["serve"], "SageMaker runs `docker run IMAGE serve`");
    assert!(
        !matches!(user.split(':').next(), Some("root" | "0")),
        "non-root: {user}"
    );

    // The binary, given the same arguments, defaults to the exposed port on all interfaces.
    if std::env::var_os("HOST").is_none() && std::env::var_os("PORT").is_none() {
        let args: Vec<String> = std::iter::once("churn-predict".to_owned())
            .chain(cmd.clone())
            .collect();
        let settings = Settings::load_from(args).unwrap();
        assert_eq!(
            (settings.host.as_str(), settings.port),
            ("0.0.0.0", exposed)
        );
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

#[test]
fn the_docker_build_context_keeps_every_workspace_member_and_builds_the_real_css() {
    // Cargo needs every member's manifest, even to build one package.
    let cargo_toml =
        std::fs::read_to_string(format!("{}/../Cargo.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
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
