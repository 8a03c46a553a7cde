//! Pipeline edge cases on real models: each bad or unusual input gives its typed result, no panic.

mod vision_common;

use facelite::vision::{calibrate, decode::decode_image, subject, VisionError};
use image::{ImageFormat, Rgb, RgbImage};
use vision_common::{engine, image, MAX_PIXELS};

fn encode(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

#[test]
fn ordinary_photo_gives_one_face_with_sane_landmarks() {
    let img = image("obama.jpg");
    let a = engine().analyze(&img).expect("analyze");
    assert_eq!(a.face_count, 1);
    let f = a.subject;
    let [le, re, nose, lm, rm] = f.landmarks5;
    assert!(le[0] < re[0] && lm[0] < rm[0], "left/right order {f:?}");
    assert!(
        le[1] < nose[1] && nose[1] < lm[1],
        "eyes above nose above mouth {f:?}"
    );
    for p in f.landmarks5 {
        assert!(p[0] > f.bbox[0] && p[0] < f.bbox[2] && p[1] > f.bbox[1] && p[1] < f.bbox[3]);
    }
    let n: f32 = a.embedding.vector.iter().map(|v| v * v).sum();
    assert!((n - 1.0).abs() < 1e-4, "embedding is L2-normalised");
    assert_eq!(a.embedding.vector.len(), 128);
    assert!(a.quality.score > 0.0 && a.quality.score <= 1.0);
}

#[test]
fn gradient_image_has_no_face() {
    let img = RgbImage::from_fn(640, 480, |x, y| Rgb([(x / 3) as u8, (y / 2) as u8, 128]));
    let img = decode_image(&encode(&img, ImageFormat::Png), MAX_PIXELS).expect("decode");
    assert!(engine().detect(&img).expect("detect").is_empty());
    assert!(matches!(engine().analyze(&img), Err(VisionError::NoFace)));
}

#[test]
fn one_pixel_image_is_too_small() {
    let bytes = encode(
        &RgbImage::from_pixel(1, 1, Rgb([9, 9, 9])),
        ImageFormat::Png,
    );
    let img = decode_image(&bytes, MAX_PIXELS).expect("a 1x1 PNG decodes");
    match engine().analyze(&img) {
        Err(VisionError::ImageTooSmall {
            width: 1,
            height: 1,
            ..
        }) => {}
        other => panic!("expected ImageTooSmall, got {other:?}"),
    }
}

#[test]
fn tiny_face_is_reported_too_small() {
    // obama.jpg's face is ~230 px wide; shrink the photo so it is ~30 px, on a large canvas.
    let src = image("obama.jpg");
    let small = image::imageops::resize(&src, 64, 64, image::imageops::FilterType::Triangle);
    let mut canvas = RgbImage::from_pixel(400, 300, Rgb([120, 120, 120]));
    image::imageops::overlay(&mut canvas, &small, 170, 110);
    match engine().analyze(&canvas) {
        Err(VisionError::FaceTooSmall { size, min }) => assert!(size < min as f32),
        other => panic!("expected FaceTooSmall, got {other:?}"),
    }
}

#[test]
fn two_faces_are_counted_and_the_larger_is_the_subject() {
    let obama = image("obama.jpg");
    let biden = image("biden.jpg");
    let h = 400u32;
    let ow = obama.width() * h / obama.height();
    let o = image::imageops::resize(&obama, ow, h, image::imageops::FilterType::Triangle);
    let bh = 260u32;
    let bw = biden.width() * bh / biden.height();
    let b = image::imageops::resize(&biden, bw, bh, image::imageops::FilterType::Triangle);
    let mut canvas = RgbImage::from_pixel(ow + bw + 40, h, Rgb([90, 90, 90]));
    image::imageops::overlay(&mut canvas, &o, 0, 0);
    image::imageops::overlay(&mut canvas, &b, i64::from(ow + 40), 70);
    let e = engine();
    let a = e.analyze(&canvas).expect("analyze");
    assert_eq!(a.face_count, 2, "{:?}", a.faces);
    assert_eq!(subject::choose(&a.faces), Some(a.subject_index));
    assert!(
        a.subject.bbox[2] < ow as f32,
        "subject is the larger (left) face"
    );
    let alone = e.analyze(&obama).expect("analyze obama");
    let c = calibrate::match_confidence(&a.embedding, &alone.embedding).expect("same model");
    assert!(c >= 0.85, "subject of the pair matches obama.jpg: {c}");
}

/// Inserts an EXIF APP1 segment with the given orientation right after the JPEG SOI marker.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut app1 = vec![0xFF, 0xE1, 0, 34];
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(b"MM\0\x2A\0\0\0\x08"); // big-endian TIFF, IFD at 8
    app1.extend_from_slice(&[0, 1]); // one entry
    app1.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]); // Orientation, SHORT, count 1
    app1.extend_from_slice(&orientation.to_be_bytes());
    app1.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // value padding, no next IFD
    assert_eq!(app1.len(), 36);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn exif_rotated_photo_is_analyzed_upright() {
    let upright = image("obama.jpg");
    // Stored pixels turned 90 degrees counter-clockwise; orientation 6 says "rotate 90 CW to view".
    let stored = image::imageops::rotate270(&upright);
    let jpeg = with_exif_orientation(&encode(&stored, ImageFormat::Jpeg), 6);
    let img = decode_image(&jpeg, MAX_PIXELS).expect("decode");
    assert_eq!(
        img.dimensions(),
        upright.dimensions(),
        "orientation applied"
    );
    let e = engine();
    let a = e.analyze(&img).expect("face found upright");
    let [le, re, ..] = a.subject.landmarks5;
    assert!(
        (re[1] - le[1]).abs() < 0.2 * (re[0] - le[0]),
        "eye line is level: {le:?} {re:?}"
    );
    let reference = e.analyze(&upright).expect("analyze");
    let c = calibrate::match_confidence(&a.embedding, &reference.embedding).expect("same model");
    assert!(c >= 0.85, "same face as the upright original: {c}");
}

#[test]
fn hundred_megapixel_headers_are_too_large() {
    // PNG: IHDR claiming 10000x10000, no pixel data.
    let mut png = encode(&RgbImage::new(16, 16), ImageFormat::Png);
    png[16..20].copy_from_slice(&10_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&10_000u32.to_be_bytes());
    // JPEG: a real 16x16 file whose SOF0 says 10000x10000.
    let mut jpeg = encode(&RgbImage::new(16, 16), ImageFormat::Jpeg);
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("baseline SOF0");
    jpeg[sof + 5..sof + 7].copy_from_slice(&10_000u16.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&10_000u16.to_be_bytes());
    for (name, bytes) in [("png", png), ("jpeg", jpeg)] {
        match decode_image(&bytes, MAX_PIXELS) {
            Err(VisionError::TooLarge {
                width: 10_000,
                height: 10_000,
                pixels,
                ..
            }) => {
                assert_eq!(pixels, 100_000_000, "{name}")
            }
            other => panic!("{name}: expected TooLarge, got {other:?}"),
        }
    }
}

#[test]
fn truncated_jpeg_is_undecodable() {
    let full = vision_common::bytes("obama.jpg");
    for cut in [full.len() / 2, full.len() - 10, 300] {
        match decode_image(&full[..cut], MAX_PIXELS) {
            Err(VisionError::Undecodable(_)) => {}
            other => panic!(
                "cut at {cut}: expected Undecodable, got {:?}",
                other.map(|i| i.dimensions())
            ),
        }
    }
}

#[test]
fn other_formats_decode_to_the_same_face() {
    let img = image("obama.jpg");
    let e = engine();
    let reference = e.analyze(&img).expect("analyze");
    for format in [ImageFormat::Png, ImageFormat::WebP, ImageFormat::Bmp] {
        let back = decode_image(&encode(&img, format), MAX_PIXELS).expect("decode");
        let a = e.analyze(&back).expect("analyze");
        let c = calibrate::match_confidence(&a.embedding, &reference.embedding).expect("model");
        assert!(c > 0.99, "{format:?}: {c}");
    }
}

#[test]
fn engine_is_shared_across_threads() {
    let e = engine();
    let img = std::sync::Arc::new(image("obama2.jpg"));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (e, img) = (e.clone(), img.clone());
            std::thread::spawn(move || e.analyze(&img).map(|a| a.embedding))
        })
        .collect();
    let embs: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("no panic").expect("analyze"))
        .collect();
    assert_eq!(
        embs[0], embs[1],
        "same input, same descriptor on every thread"
    );
}

#[test]
fn a_two_thread_engine_gives_the_same_analysis_and_mesh_side_by_side() {
    use facelite::config::VisionConfig;
    let two = facelite::vision::Engine::load(&VisionConfig {
        inference_threads: 2,
        ..VisionConfig::default()
    })
    .expect("load models");
    let one = engine();
    for name in ["obama.jpg", "biden.jpg"] {
        let img = image(name);
        let (a, mesh) = two.analyze_with_mesh(&img).expect("analyze");
        let mesh = mesh.expect("mesh");
        let alone = one.analyze(&img).expect("analyze");
        assert_eq!(a.faces, alone.faces, "{name}: detection");
        assert_eq!(a.embedding, alone.embedding, "{name}: descriptor");
        assert_eq!(a.quality.score, alone.quality.score, "{name}: quality");
        let mesh_alone = one.mesh(&img, &alone.subject).expect("mesh");
        assert_eq!(mesh.points, mesh_alone.points, "{name}: mesh points");
        assert_eq!(mesh.points.len(), 468);
    }
    let blank = RgbImage::from_pixel(320, 240, Rgb([128, 128, 128]));
    assert!(matches!(
        two.analyze_with_mesh(&blank),
        Err(VisionError::NoFace)
    ));
}

#[test]
fn models_are_reported_with_hashes() {
    let models = engine().models();
    let kinds: Vec<&str> = models.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, ["detector", "embedder", "mesh"]);
    for m in &models {
        assert_eq!(m.sha256.len(), 64);
        assert!(!m.version.is_empty());
    }
}

#[test]
fn portrait_images_run_through_the_transposed_detector_with_the_same_result() {
    use facelite::vision::detect::{Detector, DetectorSpec};
    use tract_linalg::multithread::Executor;
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/centerface.onnx"
    ))
    .expect("read CenterFace");
    // The shipped detector has only operators the transpose covers, so the fast path is taken.
    let proto = facelite::vision::model::read_proto("centerface", &bytes).expect("read");
    assert!(
        facelite::vision::model::Parsed::transposed("centerface", &proto)
            .expect("parse")
            .is_some()
    );
    let spec = DetectorSpec::default();
    let transposed = Detector::new(
        "centerface",
        &bytes,
        DetectorSpec {
            transpose_portrait: true,
            ..spec.clone()
        },
    )
    .expect("detector");
    let direct = Detector::new(
        "centerface",
        &bytes,
        DetectorSpec {
            transpose_portrait: false,
            ..spec
        },
    )
    .expect("detector");
    let exec = Executor::SingleThread;
    // Portrait photos (biden.jpg is 970x2204), one with two faces.
    let portrait_group = {
        let a = image("obama.jpg");
        let b = image("biden.jpg");
        let b =
            image::imageops::resize(&b, a.width() / 2, a.height() / 2, image::imageops::Triangle);
        let mut canvas = RgbImage::new(a.width(), a.height() * 3 / 2);
        image::imageops::overlay(&mut canvas, &a, 0, 0);
        image::imageops::overlay(&mut canvas, &b, 0, i64::from(a.height()));
        canvas
    };
    for (name, img, faces) in [
        ("obama.jpg", image("obama.jpg"), 1),
        ("op_p001_selfie.jpg", image("op_p001_selfie.jpg"), 1),
        ("two portraits stacked", portrait_group, 2),
        ("biden.jpg", image("biden.jpg"), 1),
    ] {
        assert!(img.height() > img.width(), "{name} is a portrait");
        let a = transposed.detect(&img, &exec).expect("detect");
        let b = direct.detect(&img, &exec).expect("detect");
        assert_eq!(a.len(), faces, "{name}: face count");
        same_faces(name, &a, &b);
        // The larger portrait plan (slot 3, used when the first finds nothing) agrees as well.
        let a = transposed.detect_with(&img, 3, &exec).expect("detect");
        let b = direct.detect_with(&img, 3, &exec).expect("detect");
        assert_eq!(a.len(), faces, "{name}: face count, fallback size");
        same_faces(name, &a, &b);
    }
}

fn same_faces(name: &str, a: &[facelite::vision::Face], b: &[facelite::vision::Face]) {
    assert_eq!(a.len(), b.len(), "{name}: face count");
    for (fa, fb) in a.iter().zip(b) {
        assert!(
            (fa.score - fb.score).abs() < 1e-4,
            "{name}: {fa:?} vs {fb:?}"
        );
        let coords = |f: &facelite::vision::Face| {
            let mut v = f.bbox.to_vec();
            v.extend(f.landmarks5.iter().flatten());
            v
        };
        for (x, y) in coords(fa).into_iter().zip(coords(fb)) {
            assert!((x - y).abs() < 0.01, "{name}: {fa:?} vs {fb:?}");
        }
    }
}
