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
/// evenly over a video or shot set, in presentation order. Holds every frame at once; the
/// analyses use [`for_each_frame`], which does not.
pub fn frames(bytes: &[u8], limits: &FrameLimits) -> Result<Vec<Frame>, MediaError> {
    let mut out = Vec::new();
    for_each_frame(bytes, limits, |f| {
        out.push(f);
        Ok::<(), MediaError>(())
    })?;
    out.sort_by_key(|f| f.index);
    Ok(out)
}

/// The frames of [`frames`], handed to `visit` one at a time as they are decoded, so memory
/// does not grow with `limits.sample_count`: the media layer holds one RGB frame (plus, for
/// a video, the codec's own reference pictures, bounded by the codec level, and the coded
/// file). Frames of a video come in decode-run order, which B-frames can make differ from
/// presentation order: sort by `Frame::index` when order matters. An error from `visit`
/// stops decoding and is returned as is; the time `visit` takes is not charged to
/// `limits.max_decode_time`. Returns how many frames were handed.
pub fn for_each_frame<E: From<MediaError>>(
    bytes: &[u8],
    limits: &FrameLimits,
    mut visit: impl FnMut(Frame) -> Result<(), E>,
) -> Result<usize, E> {
    // The decoders run inside a panic guard and speak `MediaError`: the caller's own error or
    // panic is parked here and the decoder is stopped with a placeholder error.
    let mut stopped: Option<Result<E, Box<dyn std::any::Any + Send>>> = None;
    let mut inner = |f: Frame| -> Result<(), MediaError> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| visit(f))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                stopped = Some(Ok(e));
                Err(MediaError::NoFrames("stopped by the caller".into()))
            }
            Err(panic) => {
                stopped = Some(Err(panic));
                Err(MediaError::NoFrames("stopped by the caller".into()))
            }
        }
    };
    let r = decode(bytes, limits, &mut inner);
    match stopped {
        Some(Ok(e)) => Err(e),
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        None => r.map_err(E::from),
    }
}

/// Memory charged per pixel of a video track while it decodes: up to 16 reference pictures in
/// 4:2:0 (1.5 bytes a pixel each), plus the RGB frame handed on and its conversion buffers.
pub(crate) const VIDEO_BYTES_PER_PIXEL: u64 = 16 * 3 / 2 + 6;

/// Memory charged per pixel of a still picture (a shot or a photo) while it decodes: the
/// decoder's buffer and the RGB copy.
pub(crate) const STILL_BYTES_PER_PIXEL: u64 = 7;

fn decode(
    bytes: &[u8],
    limits: &FrameLimits,
    visit: &mut dyn FnMut(Frame) -> Result<(), MediaError>,
) -> Result<usize, MediaError> {
    if bytes.len() > limits.max_file_bytes {
        return Err(MediaError::TooLarge(format!(
            "the file has {} bytes, limit {}",
            bytes.len(),
            limits.max_file_bytes
        )));
    }
    let deadline = Deadline::start(limits.max_decode_time);
    let count = match sniff(bytes)? {
        MediaKind::Image(format) => {
            let image = still::decode(bytes, format, limits)?;
            visit(Frame {
                index: 0,
                pts_secs: 0.0,
                image,
            })?;
            1
        }
        MediaKind::ShotsSet => shots::frames(bytes, limits, &deadline, visit)?,
        MediaKind::Video(container) => {
            let track = match container {
                Container::Mp4 => mp4::demux(bytes, limits)?,
                Container::Matroska => mkv::demux(bytes, limits, &deadline)?,
                Container::Avi => avi::demux(bytes, limits)?,
            };
            video::frames(&track, limits, &deadline, visit)?
        }
    };
    if count == 0 {
        return Err(MediaError::NoFrames("nothing decodable in the file".into()));
    }
    Ok(count)
}
