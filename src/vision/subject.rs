//! Which face in a photo is the subject. Rule: the face with the largest `box area x detector
//! score`; ties go to the earlier (higher-scoring) face. A kiosk or selfie subject is the largest,
//! clearest face; bystanders are smaller or blurrier. The face count is reported alongside so a
//! caller can refuse photos with several people when its policy requires one.

use super::Face;

/// Index of the subject among `faces`, or `None` when there are none.
pub fn choose(faces: &[Face]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, f) in faces.iter().enumerate() {
        let key = f.area() * f.score;
        if best.is_none_or(|(_, k)| key > k) {
            best = Some((i, key));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, side: f32, score: f32) -> Face {
        Face {
            bbox: [x, 0.0, x + side, side],
            score,
            landmarks5: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn largest_times_score_wins() {
        assert_eq!(choose(&[]), None);
        let faces = [
            face(0.0, 50.0, 0.99),
            face(100.0, 120.0, 0.6),
            face(300.0, 100.0, 0.9),
        ];
        // 2500*0.99=2475, 14400*0.6=8640, 10000*0.9=9000
        assert_eq!(choose(&faces), Some(2));
    }
}
