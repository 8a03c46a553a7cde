//! Shared helpers of the vision integration tests: one engine per test binary, test images.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use facelite::config::VisionConfig;
use facelite::vision::{decode, Engine};
use image::RgbImage;

/// Pixel limit the tests decode with (the service default).
pub const MAX_PIXELS: u64 = 40_000_000;

/// The engine with the embedded models, loaded once per test binary.
pub fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| Arc::new(Engine::load(&VisionConfig::default()).expect("load models")))
        .clone()
}

/// Path of a file in tests/data.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Bytes of a file in tests/data.
pub fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

/// A decoded image from tests/data.
pub fn image(name: &str) -> RgbImage {
    decode::decode_image(&bytes(name), MAX_PIXELS).unwrap_or_else(|e| panic!("decode {name}: {e}"))
}
