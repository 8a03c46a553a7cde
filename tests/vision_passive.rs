//! The passive liveness slot: without an operator model the documented "not installed" error;
//! with a model from `--models-dir` (a tiny classifier built here, written with a manifest) the
//! engine crops, normalises, runs and reads it as the manifest says.

mod vision_common;

use facelite::config::VisionConfig;
use facelite::vision::{liveness, Engine, Face, VisionError};
use image::{Rgb, RgbImage};
use prost::Message;
use tract_onnx::pb;

fn value_info(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension, Dimension};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(dimension::Value::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attrs: Vec<pb::AttributeProto>) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: output.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: attrs,
        ..Default::default()
    }
}

/// 16x16 NCHW -> channel means -> 2 logits: class 0 = 0, class 1 ("live") = 4 x (R - B).
fn tiny_classifier() -> Vec<u8> {
    let tensor = |name: &str, dims: Vec<i64>, data: Vec<f32>| pb::TensorProto {
        name: name.into(),
        dims,
        data_type: pb::tensor_proto::DataType::Float as i32,
        float_data: data,
        ..Default::default()
    };
    let trans_b = pb::AttributeProto {
        name: "transB".into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: 1,
        ..Default::default()
    };
    let graph = pb::GraphProto {
        name: "tiny".into(),
        node: vec![
            node("GlobalAveragePool", &["input"], "gap", vec![]),
            node("Flatten", &["gap"], "flat", vec![]),
            node("Gemm", &["flat", "w", "b"], "logits", vec![trans_b]),
        ],
        initializer: vec![
            tensor("w", vec![2, 3], vec![0.0, 0.0, 0.0, 4.0, 0.0, -4.0]),
            tensor("b", vec![2], vec![0.0, 0.0]),
        ],
        input: vec![value_info("input", &[1, 3, 16, 16])],
        output: vec![value_info("logits", &[1, 2])],
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: 7,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

fn models_dir(channels: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("tiny.onnx"), tiny_classifier()).expect("write model");
    let manifest = format!(
        r#"[[model]]
kind = "passive_liveness"
file = "tiny.onnx"
name = "tiny-pad"
version = "0.1"
input = [16, 16]
layout = "NCHW"
channels = "{channels}"
mean = [0.0, 0.0, 0.0]
scale = [0.00392156862745098, 0.00392156862745098, 0.00392156862745098]
crop_scale = 2.7
output = "logits"
live_class = 1
"#
    );
    std::fs::write(dir.path().join("manifest.toml"), manifest).expect("write manifest");
    dir
}

fn face_in_middle() -> Face {
    Face {
        bbox: [100.0, 80.0, 160.0, 150.0],
        score: 0.9,
        landmarks5: [
            [115.0, 100.0],
            [145.0, 100.0],
            [130.0, 115.0],
            [118.0, 132.0],
            [142.0, 132.0],
        ],
    }
}

fn expected_attack(r: f32, b: f32) -> f32 {
    let live_logit = 4.0 * (r - b) / 255.0;
    1.0 - 1.0 / (1.0 + (-live_logit).exp())
}

#[test]
fn without_a_model_the_documented_error_is_returned() {
    let e = vision_common::engine();
    assert!(!e.has_passive_model());
    let img = vision_common::image("obama.jpg");
    let face = e.analyze(&img).expect("analyze").subject;
    let err = e.passive_liveness(&img, &face).expect_err("no model");
    assert!(matches!(err, VisionError::NoPassiveModel));
    assert_eq!(
        err.to_string(),
        "no passive liveness model installed; send a video or shot set, or install a model"
    );
    assert_eq!(err.to_string(), liveness::NO_PASSIVE_MODEL_MESSAGE);
}

#[test]
fn operator_model_is_loaded_and_scores_as_its_manifest_says() {
    let img = RgbImage::from_pixel(320, 240, Rgb([200, 90, 50]));
    let face = face_in_middle();
    for (channels, r, b) in [("RGB", 200.0, 50.0), ("BGR", 50.0, 200.0)] {
        let dir = models_dir(channels);
        let cfg = VisionConfig {
            models_dir: Some(dir.path().to_path_buf()),
            ..VisionConfig::default()
        };
        let e = Engine::load(&cfg).expect("load with operator model");
        assert!(e.has_passive_model());
        let info = e
            .models()
            .into_iter()
            .find(|m| m.kind.as_str() == "passive_liveness")
            .expect("reported by models()");
        assert_eq!(info.name, "tiny-pad");
        let file = std::fs::read(dir.path().join("tiny.onnx")).expect("read");
        assert_eq!(info.sha256, facelite::vision::model::sha256_hex(&file));
        let score = e.passive_liveness(&img, &face).expect("score");
        let want = expected_attack(r, b);
        assert!((score - want).abs() < 1e-3, "{channels}: {score} vs {want}");
    }
}

#[test]
fn operator_model_scores_a_real_photo_in_range() {
    let dir = models_dir("RGB");
    let cfg = VisionConfig {
        models_dir: Some(dir.path().to_path_buf()),
        ..VisionConfig::default()
    };
    let e = Engine::load(&cfg).expect("load");
    let img = vision_common::image("obama.jpg");
    let face = e.analyze(&img).expect("analyze").subject;
    let s = e.passive_liveness(&img, &face).expect("score");
    assert!((0.0..=1.0).contains(&s), "{s}");
}

#[test]
fn broken_manifests_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = VisionConfig {
        models_dir: Some(dir.path().to_path_buf()),
        ..VisionConfig::default()
    };
    assert!(
        matches!(Engine::load(&cfg), Err(VisionError::Manifest(_))),
        "missing manifest"
    );
    std::fs::write(
        dir.path().join("manifest.toml"),
        "[[model]]\nkind = \"passive_liveness\"\nfile = \"none.onnx\"\nname = \"x\"\nversion = \"1\"\ninput = [16, 16]\nlayout = \"NCHW\"\nchannels = \"RGB\"\n",
    )
    .expect("write");
    match Engine::load(&cfg) {
        Err(VisionError::Manifest(m)) => assert!(m.contains("live_class"), "{m}"),
        other => panic!("expected a manifest error, got {:?}", other.map(|_| ())),
    }
}
