//! A tiny passive-liveness classifier written as ONNX bytes by hand, to exercise the
//! operator-model slot without shipping a real model: GlobalAveragePool -> Flatten -> Gemm
//! with zero weights, so its two logits are exactly the bias and the attack probability is
//! known in advance (`1 - softmax(bias)[live_class]`). It tests plumbing, not anti-spoofing.

use std::path::Path;

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(field: u32, wire: u32, out: &mut Vec<u8>) {
    varint(u64::from(field << 3 | wire), out);
}

fn int(field: u32, v: i64, out: &mut Vec<u8>) {
    key(field, 0, out);
    varint(v as u64, out);
}

fn bytes(field: u32, b: &[u8], out: &mut Vec<u8>) {
    key(field, 2, out);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

fn msg(field: u32, f: impl FnOnce(&mut Vec<u8>), out: &mut Vec<u8>) {
    let mut inner = Vec::new();
    f(&mut inner);
    bytes(field, &inner, out);
}

fn value_info(field: u32, name: &str, dims: &[i64], out: &mut Vec<u8>) {
    msg(
        field,
        |vi| {
            bytes(1, name.as_bytes(), vi);
            msg(
                2,
                |tp| {
                    msg(
                        1,
                        |tt| {
                            int(1, 1, tt); // FLOAT
                            msg(
                                2,
                                |shape| {
                                    for d in dims {
                                        msg(1, |dim| int(1, *d, dim), shape);
                                    }
                                },
                                tt,
                            );
                        },
                        tp,
                    )
                },
                vi,
            );
        },
        out,
    );
}

fn tensor(name: &str, dims: &[i64], values: &[f32], out: &mut Vec<u8>) {
    msg(
        5,
        |t| {
            for d in dims {
                int(1, *d, t);
            }
            int(2, 1, t); // FLOAT
            bytes(8, name.as_bytes(), t);
            let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            bytes(9, &raw, t);
        },
        out,
    );
}

fn node(op: &str, inputs: &[&str], output: &str, attrs: &[(&str, i64)], out: &mut Vec<u8>) {
    msg(
        1,
        |n| {
            for i in inputs {
                bytes(1, i.as_bytes(), n);
            }
            bytes(2, output.as_bytes(), n);
            bytes(3, output.as_bytes(), n);
            bytes(4, op.as_bytes(), n);
            for (name, v) in attrs {
                msg(
                    5,
                    |a| {
                        bytes(1, name.as_bytes(), a);
                        int(3, *v, a);
                        int(20, 2, a); // INT
                    },
                    n,
                );
            }
        },
        out,
    );
}

/// ONNX bytes of the classifier for a `side` x `side` NCHW RGB input, whose logits are `bias`.
pub fn classifier(side: i64, bias: [f32; 2]) -> Vec<u8> {
    let mut model = Vec::new();
    int(1, 7, &mut model); // ir_version
    bytes(2, b"facelite-test", &mut model);
    msg(
        7,
        |g| {
            node("GlobalAveragePool", &["input"], "pooled", &[], g);
            node("Flatten", &["pooled"], "flat", &[("axis", 1)], g);
            node("Gemm", &["flat", "w", "b"], "logits", &[], g);
            bytes(2, b"tiny_passive", g);
            tensor("w", &[3, 2], &[0.0; 6], g);
            tensor("b", &[2], &bias, g);
            value_info(11, "input", &[1, 3, side, side], g);
            value_info(12, "logits", &[1, 2], g);
        },
        &mut model,
    );
    msg(
        8,
        |o| {
            bytes(1, b"", o);
            int(2, 13, o);
        },
        &mut model,
    );
    model
}

/// Writes the classifier and a `manifest.toml` installing it as the passive liveness model
/// (`live_class = 1`) into `dir`; returns the attack probability it will report.
pub fn install(dir: &Path, bias: [f32; 2]) -> f32 {
    let side = 16;
    std::fs::write(dir.join("tiny_passive.onnx"), classifier(side, bias)).unwrap();
    let manifest = format!(
        r#"[[model]]
kind = "passive_liveness"
file = "tiny_passive.onnx"
name = "tiny-passive-test"
version = "1"
input = [{side}, {side}]
layout = "NCHW"
channels = "RGB"
crop_scale = 1.5
output = "logits"
live_class = 1
"#
    );
    std::fs::write(dir.join("manifest.toml"), manifest).unwrap();
    // softmax over two logits: p_live = 1 / (1 + e^(b0 - b1)); attack = 1 - p_live.
    let p_live = 1.0 / (1.0 + (bias[0] - bias[1]).exp());
    1.0 - p_live
}

/// Writes the classifier into `dir` as an embedder and returns its `[[model]]` block for the
/// manifest. Its descriptor is `bias`, so a zero bias makes every embedding fail at run time
/// ("descriptor is zero"), as a broken operator embedder would; the server still starts.
// benches/lite.rs includes this file too and has no use for it.
#[allow(dead_code)]
pub fn embedder_entry(dir: &Path, bias: [f32; 2]) -> String {
    let side = 16;
    std::fs::write(dir.join("tiny_embedder.onnx"), classifier(side, bias)).unwrap();
    format!(
        r#"
[[model]]
kind = "embedder"
file = "tiny_embedder.onnx"
name = "tiny-embedder-test"
version = "1"
input = [{side}, {side}]
layout = "NCHW"
channels = "RGB"
"#
    )
}
