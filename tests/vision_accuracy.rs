//! Recognition accuracy on the repository's photos: every genuine pair must score at or above the
//! 0.85 operating point and every impostor pair below it. Prints the distance table
//! (`cargo test --test vision_accuracy -- --nocapture`) that docs/vision.md reports.

mod vision_common;

use facelite::vision::{calibrate, Embedding};
use vision_common::{engine, image};

/// (file, identity). The openpeople identities are synthetic (AI-generated, MIT); the
/// look-alike trio P004/P006/P010 is left out on purpose (see docs/vision.md).
const SET: [(&str, &str); 20] = [
    ("obama.jpg", "obama"),
    ("obama2.jpg", "obama"),
    ("obama3.jpg", "obama"),
    ("biden.jpg", "biden"),
    ("grace_hopper.jpg", "hopper"),
    ("op_p001_studio.jpg", "p001"),
    ("op_p001_selfie.jpg", "p001"),
    ("op_p001_neutral.jpg", "p001"),
    ("op_p001_happy.jpg", "p001"),
    ("op_p001_front.jpg", "p001"),
    ("op_p002_studio.jpg", "p002"),
    ("op_p002_selfie.jpg", "p002"),
    ("op_p002_neutral.jpg", "p002"),
    ("op_p002_happy.jpg", "p002"),
    ("op_p003_studio.jpg", "p003"),
    ("op_p003_selfie.jpg", "p003"),
    ("op_p005_studio.jpg", "p005"),
    ("op_p005_selfie.jpg", "p005"),
    ("op_p007_studio.jpg", "p007"),
    ("op_p007_selfie.jpg", "p007"),
];

struct Pair {
    a: &'static str,
    b: &'static str,
    d: f32,
    c: f32,
}

fn embeddings() -> Vec<(&'static str, &'static str, Embedding)> {
    let e = engine();
    SET.iter()
        .map(|&(file, id)| {
            let a = e
                .analyze(&image(file))
                .unwrap_or_else(|err| panic!("{file}: {err}"));
            assert_eq!(a.face_count, 1, "{file}: one face expected");
            (file, id, a.embedding)
        })
        .collect()
}

#[test]
fn genuine_pairs_pass_and_impostor_pairs_fail_at_085() {
    let embs = embeddings();
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for i in 0..embs.len() {
        for j in i + 1..embs.len() {
            let (a, ia, ea) = &embs[i];
            let (b, ib, eb) = &embs[j];
            let d = calibrate::l2_distance(ea, eb).expect("same model");
            let c = calibrate::distance_to_confidence(d);
            let p = Pair { a, b, d, c };
            if ia == ib {
                genuine.push(p)
            } else {
                impostor.push(p)
            }
        }
    }
    genuine.sort_by(|x, y| x.d.total_cmp(&y.d));
    impostor.sort_by(|x, y| x.d.total_cmp(&y.d));
    println!("genuine pairs ({}):", genuine.len());
    for p in &genuine {
        println!("  {:<22} {:<22} L2 {:.3} conf {:.3}", p.a, p.b, p.d, p.c);
    }
    println!("closest impostor pairs (of {}):", impostor.len());
    for p in impostor.iter().take(10) {
        println!("  {:<22} {:<22} L2 {:.3} conf {:.3}", p.a, p.b, p.d, p.c);
    }
    let max_gen = genuine.iter().map(|p| p.d).fold(0.0f32, f32::max);
    let min_imp = impostor.iter().map(|p| p.d).fold(f32::MAX, f32::min);
    let min_gen_c = genuine.iter().map(|p| p.c).fold(1.0f32, f32::min);
    let max_imp_c = impostor.iter().map(|p| p.c).fold(0.0f32, f32::max);
    println!("max genuine L2 {max_gen:.3} (min confidence {min_gen_c:.3}); min impostor L2 {min_imp:.3} (max confidence {max_imp_c:.3})");
    let false_rejects: Vec<_> = genuine
        .iter()
        .filter(|p| p.c < 0.85)
        .map(|p| (p.a, p.b, p.d))
        .collect();
    let false_accepts: Vec<_> = impostor
        .iter()
        .filter(|p| p.c >= 0.85)
        .map(|p| (p.a, p.b, p.d))
        .collect();
    assert!(
        false_rejects.is_empty(),
        "genuine pairs below 0.85: {false_rejects:?}"
    );
    assert!(
        false_accepts.is_empty(),
        "impostor pairs at or above 0.85: {false_accepts:?}"
    );
}
