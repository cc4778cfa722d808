//! Reads the model file named by `MODEL_PATH`: an XGBoost JSON/UBJSON file, or a SageMaker
//! training artifact (`model.tar.gz` holding `xgboost-model`) served as it is.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};

/// SageMaker's XGBoost container saves the booster under this name.
const SAGEMAKER_MODEL_NAME: &str = "xgboost-model";
/// A model file larger than this is not a churn model; refuse it rather than fill memory.
const MAX_MODEL_BYTES: u64 = 256 * 1024 * 1024;

/// The model's bytes, unpacked from a `.tar.gz` artifact if that is what `path` holds.
pub fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading MODEL_PATH {}", path.display()))?;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    from_artifact(&bytes).with_context(|| format!("unpacking the model archive {}", path.display()))
}

/// Picks `xgboost-model` from a gzipped tar, or its only regular, non-hidden file.
fn from_artifact(gzipped: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gzipped));
    let mut candidates: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in archive.entries().context("reading the tar archive")? {
        let entry = entry.context("reading a tar entry")?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .context("a tar entry's name")?
            .to_string_lossy()
            .into_owned();
        let file_name = name.rsplit('/').next().unwrap_or(&name).to_owned();
        if file_name.starts_with('.') {
            continue;
        }
        let mut contents = Vec::new();
        entry
            .take(MAX_MODEL_BYTES + 1)
            .read_to_end(&mut contents)
            .with_context(|| format!("reading {name} from the archive"))?;
        if contents.len() as u64 > MAX_MODEL_BYTES {
            bail!("{name} is larger than {MAX_MODEL_BYTES} bytes");
        }
        if file_name == SAGEMAKER_MODEL_NAME {
            return Ok(contents);
        }
        candidates.push((name, contents));
    }
    match candidates.len() {
        1 => Ok(candidates.remove(0).1),
        0 => bail!("the archive holds no model file (expected {SAGEMAKER_MODEL_NAME})"),
        _ => {
            let names: Vec<&str> = candidates.iter().map(|(n, _)| n.as_str()).collect();
            bail!(
                "the archive holds several files {names:?} and no {SAGEMAKER_MODEL_NAME}; extract the one to serve"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (name, contents) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(contents.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, *contents).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn the_sagemaker_model_is_picked_from_the_archive() {
        let archive = tar_gz(&[
            ("._xgboost-model", b"junk"),
            ("xgboost-model", b"{model}"),
            ("notes.txt", b"x"),
        ]);
        assert_eq!(from_artifact(&archive).unwrap(), b"{model}");
    }

    #[test]
    fn a_lone_file_is_served_and_ambiguity_or_emptiness_is_an_error() {
        assert_eq!(
            from_artifact(&tar_gz(&[("model.json", b"{m}")])).unwrap(),
            b"{m}"
        );
        assert!(from_artifact(&tar_gz(&[("a.json", b"1"), ("b.json", b"2")])).is_err());
        assert!(from_artifact(&tar_gz(&[])).is_err());
        assert!(from_artifact(&[0x1f, 0x8b, 0, 1, 2]).is_err());
    }
}
