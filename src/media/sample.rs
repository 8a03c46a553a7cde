//! Helpers over sampled frames for motion and gesture checks: frame times, small luma
//! thumbnails, and the motion energy between frames (a still photo held to the camera has
//! almost none; a live head turn has some).

use image::{GrayImage, RgbImage};

use super::Frame;

/// Presentation times of the frames, seconds.
pub fn timestamps(frames: &[Frame]) -> Vec<f64> {
    frames.iter().map(|f| f.pts_secs).collect()
}

/// BT.601 luma, box-averaged so that the longer side is at most `max_side` pixels (at least
/// 1x1). Cheap input for motion measures that must ignore sensor noise.
pub fn luma_thumbnail(img: &RgbImage, max_side: u32) -> GrayImage {
    let (w, h) = img.dimensions();
    let longest = w.max(h).max(1);
    let step = longest.div_ceil(max_side.max(1)).max(1);
    let (tw, th) = ((w / step).max(1), (h / step).max(1));
    GrayImage::from_fn(tw, th, |x, y| {
        let mut sum = 0u64;
        let mut n = 0u64;
        for yy in (y * step)..((y + 1) * step).min(h) {
            for xx in (x * step)..((x + 1) * step).min(w) {
                let p = img.get_pixel(xx, yy);
                sum +=
                    (299 * u64::from(p[0]) + 587 * u64::from(p[1]) + 114 * u64::from(p[2])) / 1000;
                n += 1;
            }
        }
        image::Luma([(sum / n.max(1)) as u8])
    })
}

/// Mean absolute luma difference (0..255) between two frames, compared as thumbnails whose
/// longer side is 64 pixels; `None` when the frames differ in size.
pub fn motion_energy(a: &RgbImage, b: &RgbImage) -> Option<f32> {
    if a.dimensions() != b.dimensions() {
        return None;
    }
    let (ta, tb) = (luma_thumbnail(a, 64), luma_thumbnail(b, 64));
    let total: u64 = ta
        .as_raw()
        .iter()
        .zip(tb.as_raw())
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    Some(total as f32 / ta.as_raw().len().max(1) as f32)
}

/// Motion energy between each pair of consecutive frames, with the time between them:
/// `(seconds, energy)` per pair; pairs of different sizes are skipped.
pub fn motion_profile(frames: &[Frame]) -> Vec<(f64, f32)> {
    frames
        .windows(2)
        .filter_map(|w| {
            motion_energy(&w[0].image, &w[1].image).map(|e| (w[1].pts_secs - w[0].pts_secs, e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(shift: u32, t: f64) -> Frame {
        let image = RgbImage::from_fn(128, 96, |x, y| {
            let v = (((x + shift) / 8 + y / 8) % 2 * 200) as u8;
            image::Rgb([v, v, v])
        });
        Frame {
            index: 0,
            pts_secs: t,
            image,
        }
    }

    #[test]
    fn still_frames_have_no_motion_and_moving_ones_do() {
        let f = [frame(0, 0.0), frame(0, 0.1), frame(8, 0.2)];
        let p = motion_profile(&f);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].1, 0.0);
        assert!(p[1].1 > 50.0, "{:?}", p);
        assert!((p[1].0 - 0.1).abs() < 1e-9);
        assert_eq!(timestamps(&f), vec![0.0, 0.1, 0.2]);
        assert_eq!(luma_thumbnail(&f[0].image, 64).dimensions(), (64, 48));
        assert_eq!(motion_energy(&f[0].image, &RgbImage::new(2, 2)), None);
    }
}
