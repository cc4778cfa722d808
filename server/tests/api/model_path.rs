//! `MODEL_PATH` serves another model: a UBJSON file or SageMaker's `model.tar.gz` as it is.

use std::path::{Path, PathBuf};

use crate::helpers::{sample_data_body, spawn_app, spawn_app_with};
use server::config::Settings;
use server::startup::Application;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../model/tests/fixtures")
        .join(name)
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("churn-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A SageMaker training artifact: `xgboost-model` (UBJSON) inside a gzipped tar.
fn sagemaker_artifact() -> PathBuf {
    let model = std::fs::read(fixture("churn-xgb.ubj")).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(model.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "xgboost-model", model.as_slice())
        .unwrap();
    temp_file(
        "model.tar.gz",
        &builder.into_inner().unwrap().finish().unwrap(),
    )
}

#[tokio::test]
async fn a_sagemaker_model_archive_answers_like_the_bundled_model() {
    let bundled = spawn_app().await;
    let archive = sagemaker_artifact();
    let from_archive = spawn_app_with(|s| s.model_path = Some(archive.clone())).await;
    let body = sample_data_body();
    let (_, expected) = bundled.post_json("/predict", &body).await;
    let (status, got) = from_archive.post_json("/predict", &body).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["probability"], expected["probability"]);
    assert_eq!(got["result"], expected["result"]);
    assert_ne!(
        got["model"], expected["model"],
        "the id names the file actually served"
    );
    std::fs::remove_file(archive).ok();
}

#[tokio::test]
async fn an_unusable_model_file_stops_start_up_with_a_clear_error() {
    let mut settings = Settings::from_env().unwrap();
    settings.port = 0;
    for (name, expected) in [
        ("dart.json", "booster \"dart\""),
        ("softprob.json", "objective \"multi:softprob\""),
        ("no-such-file.json", "reading MODEL_PATH"),
    ] {
        settings.model_path = Some(fixture(name));
        let err = match Application::build(&settings, server::config::Runtime::Server).await {
            Ok(_) => panic!("{name} must not load"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(expected), "{name}: {err}");
    }
}
