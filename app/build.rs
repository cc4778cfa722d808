//! Compiles the page's stylesheet with the Tailwind CLI (installed by `npm ci` in the
//! workspace root) into `OUT_DIR`, where `src/assets.rs` embeds it.
//!
//! Tailwind scans `app/src` for class names, so this reruns whenever a component changes.
//! Without `node_modules` the build still succeeds with a small fallback stylesheet and a
//! warning, so Rust-only work needs no Node; set `CHURN_REQUIRE_CSS=1` (the scripts and CI
//! do) to make a missing or failing Tailwind a build error instead.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

const FALLBACK_CSS: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:64rem;padding:1rem}\
label,legend{display:block;font-weight:600}input,select{font:inherit;margin-bottom:1rem}";

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest
        .parent()
        .expect("app/ sits in the workspace")
        .to_owned();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("app.css");
    let input = root.join("style/tailwind.css");
    let cli = root.join("node_modules/.bin/tailwindcss");
    println!("cargo::rerun-if-changed=src");
    println!("cargo::rerun-if-changed={}", input.display());
    println!("cargo::rerun-if-changed={}", cli.display());
    println!("cargo::rerun-if-env-changed=CHURN_REQUIRE_CSS");
    println!("cargo::rustc-check-cfg=cfg(css_fallback)");

    let css = match tailwind(&cli, &input, &out) {
        Ok(()) => std::fs::read_to_string(&out).expect("Tailwind wrote its output"),
        Err(why) => {
            let require = std::env::var("CHURN_REQUIRE_CSS").is_ok_and(|v| v == "1");
            if require {
                panic!(
                    "the web form's CSS could not be built: {why}\n\
                     Run `npm ci` in the workspace root (scripts/setup.sh does), then build again."
                );
            }
            println!(
                "cargo::warning=web form served with a fallback stylesheet: {why}; \
                 run `npm ci` in the workspace root for the real one"
            );
            println!("cargo::rustc-cfg=css_fallback");
            std::fs::write(&out, FALLBACK_CSS).expect("OUT_DIR is writable");
            FALLBACK_CSS.to_owned()
        }
    };
    let mut hasher = DefaultHasher::new();
    css.hash(&mut hasher);
    println!("cargo::rustc-env=APP_CSS_HASH={:016x}", hasher.finish());
}

fn tailwind(cli: &Path, input: &Path, out: &Path) -> Result<(), String> {
    if !cli.exists() {
        return Err(format!("{} is missing", cli.display()));
    }
    let output = Command::new(cli)
        .arg("-i")
        .arg(input)
        .arg("-o")
        .arg(out)
        .arg("--minify")
        .output()
        .map_err(|e| format!("running {}: {e}", cli.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            cli.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
