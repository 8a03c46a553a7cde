//! The operator's model manifest (`vision::manifest::Manifest::load`: TOML, `deny_unknown_fields`,
//! per-kind validation, file size check) and the specs built from a loaded entry. The input is
//! written as `manifest.toml` into a scratch directory that also holds a small `model.onnx`.
//! Inputs naming device or proc files are skipped (a manifest is operator-written, and reading
//! `/dev/zero` as a model would only measure the machine).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use facelite::vision::manifest::{Manifest, MANIFEST_FILE};
use facelite::vision::model::ModelKind;
use libfuzzer_sys::{fuzz_target, Corpus};

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("temp dir").keep();
        std::fs::write(d.join("model.onnx"), b"not really onnx").expect("model file");
        d
    })
}

fuzz_target!(init: facelite_fuzz::init(), |data: &[u8]| -> Corpus {
    let lower = data.to_ascii_lowercase();
    if [&b"/dev"[..], b"/proc", b"/sys", b".."]
        .iter()
        .any(|bad| lower.windows(bad.len()).any(|w| w == *bad))
    {
        return Corpus::Reject;
    }
    let dir = dir();
    std::fs::write(dir.join(MANIFEST_FILE), data).expect("write manifest");
    let Ok(loaded) = Manifest::load(dir) else {
        return Corpus::Keep;
    };
    for l in &loaded {
        let e = &l.entry;
        match e.kind {
            ModelKind::Detector => {
                let _ = e.detector_spec();
            }
            ModelKind::Embedder => {
                let _ = e.embedder_spec();
            }
            ModelKind::Mesh => {
                let _ = e.mesh_spec();
            }
            ModelKind::PassiveLiveness => {
                let _ = e.passive_spec();
            }
        }
    }
    Corpus::Keep
});
