//! Uploads to frames, in pure Rust: still images (EXIF orientation applied), ZIP shot sets,
//! and video -- MP4/MOV (incl. fragmented) with H.264 or HEVC, WebM/Matroska with VP8,
//! MJPEG in AVI or MOV. Every limit is checked from headers before decoding, only the
//! sampled frames (and what they depend on) are decoded, decoding has a deadline, and a
//! damaged file yields a typed `MediaError`, never a panic.

mod avi;
mod error;
mod h264;
mod h265;
mod jpeg;
mod limits;
mod mkv;
mod mp4;
pub mod sample;
mod sampling;
mod shots;
mod sniff;
mod still;
mod track;
mod video;
mod vp8;
mod yuv;

pub use error::MediaError;
pub use limits::FrameLimits;
pub use sniff::{sniff, Container, ImageFormat, MediaKind};

use image::RgbImage;

use limits::Deadline;

/// One decoded picture of an upload, upright for display.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Position in the source: display-order frame number of a video, name-order position
    /// in a shot set, 0 for a still image.
    pub index: usize,
    /// Presentation time from the first frame, seconds (shot sets: see
    /// `FrameLimits::shot_interval_secs`).
    pub pts_secs: f64,
    pub image: RgbImage,
}

/// Turns an upload into frames: the image itself, or `limits.sample_count` frames spread
/// evenly over a video or shot set, in presentation order.
pub fn frames(bytes: &[u8], limits: &FrameLimits) -> Result<Vec<Frame>, MediaError> {
    if bytes.len() > limits.max_file_bytes {
        return Err(MediaError::TooLarge(format!(
            "the file has {} bytes, limit {}",
            bytes.len(),
            limits.max_file_bytes
        )));
    }
    let deadline = Deadline::start(limits.max_decode_time);
    let frames = match sniff(bytes)? {
        MediaKind::Image(format) => vec![Frame {
            index: 0,
            pts_secs: 0.0,
            image: still::decode(bytes, format, limits)?,
        }],
        MediaKind::ShotsSet => shots::frames(bytes, limits, &deadline)?,
        MediaKind::Video(container) => {
            let track = match container {
                Container::Mp4 => mp4::demux(bytes, limits)?,
                Container::Matroska => mkv::demux(bytes, limits, &deadline)?,
                Container::Avi => avi::demux(bytes, limits)?,
            };
            video::frames(&track, limits, &deadline)?
        }
    };
    if frames.is_empty() {
        return Err(MediaError::NoFrames("nothing decodable in the file".into()));
    }
    Ok(frames)
}
