//! `facelite analyze IMAGE...`: runs the vision pipeline offline and prints JSON - per image the
//! faces with landmarks, the subject, its mesh measures, quality and liveness (or why there is
//! none), then the match confidence of every pair of subjects. Integrators use it to check a
//! camera setup; the team uses it to test models.

use std::path::{Path, PathBuf};

use argh::FromArgs;
use serde_json::{json, Value};

use crate::config::Config;
use crate::vision::{calibrate, Embedding, Engine};

/// Analyze images offline: faces, landmarks, quality, liveness and pairwise similarity as JSON.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "analyze")]
pub struct AnalyzeCmd {
    /// image files (JPEG, PNG, WebP, BMP)
    #[argh(positional)]
    pub images: Vec<PathBuf>,
    /// directory with an operator manifest.toml and models (overrides the config file)
    #[argh(option)]
    pub models_dir: Option<PathBuf>,
    /// threads tract uses inside one detector or operator-model run (default from config)
    #[argh(option)]
    pub inference_threads: Option<usize>,
    /// write every model input tensor as raw little-endian f32 files into this directory
    #[argh(option)]
    pub dump_tensors: Option<PathBuf>,
}

/// Analyzes `cmd.images` and prints one JSON document to stdout.
pub fn run(cmd: AnalyzeCmd, config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let doc = report(&cmd, config)?;
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

/// Builds the JSON document `run` prints (an unreadable or faceless image is reported in its
/// entry, not as a failure of the whole command).
pub fn report(cmd: &AnalyzeCmd, config: &Config) -> Result<Value, Box<dyn std::error::Error>> {
    let mut vcfg = config.vision.clone();
    if let Some(dir) = &cmd.models_dir {
        vcfg.models_dir = Some(dir.clone());
    }
    if let Some(n) = cmd.inference_threads {
        vcfg.inference_threads = n;
    }
    let started = std::time::Instant::now();
    let engine = Engine::load(&vcfg)?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    if let Some(dir) = &cmd.dump_tensors {
        std::fs::create_dir_all(dir)?;
    }
    let mut images = Vec::new();
    let mut subjects: Vec<(String, Embedding)> = Vec::new();
    for path in &cmd.images {
        let name = path.display().to_string();
        let (entry, emb) = analyze_one(&engine, path, config, cmd.dump_tensors.as_deref());
        if let Some(e) = emb {
            subjects.push((name, e));
        }
        images.push(entry);
    }
    let threshold = config.thresholds.r#match;
    let mut pairs = Vec::new();
    for i in 0..subjects.len() {
        for j in i + 1..subjects.len() {
            let (a, ea) = &subjects[i];
            let (b, eb) = &subjects[j];
            let d = calibrate::l2_distance(ea, eb)?;
            let c = calibrate::distance_to_confidence(d);
            pairs.push(json!({
                "a": a, "b": b, "l2_distance": d, "confidence": c,
                "same_person": c >= threshold,
            }));
        }
    }
    Ok(json!({
        "models": engine.models(),
        "model_load_ms": load_ms,
        "match_threshold": threshold,
        "images": images,
        "pairs": pairs,
    }))
}

fn analyze_one(
    engine: &Engine,
    path: &Path,
    config: &Config,
    dump: Option<&Path>,
) -> (Value, Option<Embedding>) {
    let name = path.display().to_string();
    let fail = |e: &dyn std::fmt::Display| json!({ "file": name, "error": e.to_string() });
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return (fail(&e), None),
    };
    let started = std::time::Instant::now();
    let img = match engine.decode_image(&bytes, config.limits.max_image_pixels) {
        Ok(i) => i,
        Err(e) => return (fail(&e), None),
    };
    let decode_ms = started.elapsed().as_secs_f64() * 1e3;
    if let Some(dir) = dump {
        if let Err(e) = dump_tensors(engine, &img, path, dir) {
            return (fail(&e), None);
        }
    }
    let t = std::time::Instant::now();
    let analysis = match engine.analyze(&img) {
        Ok(a) => a,
        Err(e) => {
            return (
                json!({ "file": name, "width": img.width(), "height": img.height(),
                        "error": e.to_string() }),
                None,
            )
        }
    };
    let analyze_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = std::time::Instant::now();
    let mesh = match engine.mesh(&img, &analysis.subject) {
        Ok(m) => json!({ "face_flag": m.face_flag, "measures": m.measures }),
        Err(e) => json!({ "error": e.to_string() }),
    };
    let mesh_ms = t.elapsed().as_secs_f64() * 1e3;
    let liveness = match engine.passive_liveness(&img, &analysis.subject) {
        Ok(s) => json!({ "confidence_spoofing": s,
                         "attack": s >= config.thresholds.liveness }),
        // Without an operator model this is the documented NoPassiveModel text.
        Err(e) => json!({ "error": e.to_string() }),
    };
    let entry = json!({
        "file": name,
        "width": img.width(),
        "height": img.height(),
        "face_count": analysis.face_count,
        "faces": analysis.faces,
        "subject_index": analysis.subject_index,
        "quality": analysis.quality,
        "mesh": mesh,
        "liveness": liveness,
        "timing_ms": { "decode": decode_ms, "detect_embed_quality": analyze_ms, "mesh": mesh_ms },
    });
    (entry, Some(analysis.embedding))
}

/// Writes the detector, embedder and mesh inputs for `img` as raw f32 files plus the faces JSON.
fn dump_tensors(
    engine: &Engine,
    img: &image::RgbImage,
    path: &Path,
    dir: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let write = |model: &str, shape: &[usize], data: &[f32]| -> std::io::Result<()> {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let file = dir.join(format!("{stem}.{model}.{}.f32", dims.join("x")));
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(file, bytes)
    };
    let (detector, embedder, mesh, _) = engine.parts();
    let shape = detector.primary_shape(img);
    let (w, h) = detector.primary_size(img);
    let lb = detector.input_tensor(img, w, h);
    write("centerface", &shape, &lb.data)?;
    let faces = engine.detect(img)?;
    if let Some(i) = crate::vision::subject::choose(&faces) {
        let face = faces[i];
        write(
            "faceapi-recognition",
            &embedder.shape(),
            &embedder.chip(img, &face)?,
        )?;
        let (m, _) = mesh.input(img, &face)?;
        write("human-facemesh", &mesh.shape(), &m)?;
    }
    let meta = json!({ "letterbox_scale": lb.scale, "faces": faces });
    std::fs::write(
        dir.join(format!("{stem}.json")),
        serde_json::to_vec_pretty(&meta)?,
    )?;
    Ok(())
}
