//! The demuxed form every container is turned into: one video track's coded packets in
//! decode order, with timing, keyframe flags, codec configuration and display rotation.

use std::borrow::Cow;

/// Codec of the video track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Codec {
    H264,
    H265,
    Vp8,
    Mjpeg,
    /// Recognised container entry with no decoder here (named for the error message).
    Other(String),
}

/// Clockwise rotation the player applies for display (MP4 `tkhd` matrix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rotation {
    R0,
    R90,
    R180,
    R270,
}

/// One coded frame.
#[derive(Debug, Clone)]
pub(crate) struct Packet<'a> {
    pub data: Cow<'a, [u8]>,
    /// Presentation time in `Track::timescale` units.
    pub pts: i64,
    /// Decoding can start here (sync sample / keyframe).
    pub key: bool,
    /// Produces a displayed picture (false for VP8 hidden alt-ref frames).
    pub shown: bool,
}

/// A video track ready for decoding.
#[derive(Debug)]
pub(crate) struct Track<'a> {
    pub codec: Codec,
    /// avcC / hvcC payload (empty when the codec needs none).
    pub config: Vec<u8>,
    /// Ticks per second of `Packet::pts`.
    pub timescale: u64,
    /// Packets in decode order.
    pub packets: Vec<Packet<'a>>,
    /// Coded size from the container header (0 when it declares none).
    pub width: u32,
    pub height: u32,
    /// Duration declared by the container, seconds, if any.
    pub declared_duration_secs: Option<f64>,
    pub rotation: Rotation,
}
