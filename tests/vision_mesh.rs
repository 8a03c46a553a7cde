//! FaceMesh measures move the right way on real expression and pose images (openpeople sheets).

mod vision_common;

use facelite::vision::MeshMeasures;
use vision_common::{engine, image};

fn measures(file: &str) -> MeshMeasures {
    let e = engine();
    let img = image(file);
    let a = e
        .analyze(&img)
        .unwrap_or_else(|err| panic!("{file}: {err}"));
    let m = e
        .mesh(&img, &a.subject)
        .unwrap_or_else(|err| panic!("{file}: {err}"));
    assert_eq!(m.points.len(), 468);
    assert!(m.face_flag > 0.5, "{file}: face flag {}", m.face_flag);
    println!("{file}: {:?}", m.measures);
    m.measures
}

#[test]
fn smile_widens_the_mouth_and_opens_the_lips() {
    for id in ["p001", "p002"] {
        let neutral = measures(&format!("op_{id}_neutral.jpg"));
        let happy = measures(&format!("op_{id}_happy.jpg"));
        assert!(
            happy.smile_width > neutral.smile_width * 1.1,
            "{id}: smile {} vs neutral {}",
            happy.smile_width,
            neutral.smile_width
        );
        assert!(
            happy.mouth_opening > neutral.mouth_opening + 0.05,
            "{id}: mouth {} vs neutral {}",
            happy.mouth_opening,
            neutral.mouth_opening
        );
        assert!(neutral.eye_openness > 0.15, "{id}: neutral eyes are open");
    }
}

#[test]
fn turned_head_has_large_yaw_frontal_has_small() {
    let front = measures("op_p001_front.jpg");
    let turned = measures("op_p001_turned.jpg");
    assert!(front.yaw.abs() < 10.0, "frontal yaw {}", front.yaw);
    // In op_p001_turned.jpg the face looks towards the image's right side.
    assert!(turned.yaw > 25.0, "turned yaw {}", turned.yaw);
    let obama = measures("obama.jpg");
    assert!(obama.yaw.abs() < 10.0 && obama.roll.abs() < 10.0 && obama.pitch.abs() < 20.0);
}
