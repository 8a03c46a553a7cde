//! WebM/Matroska demux (`matroska-demuxer` plus facelite's checks) and the codecs behind it
//! (VP8, H.264, HEVC, MJPEG) through `facelite::media::for_each_frame`.
#![no_main]

use facelite::media::{sniff, Container, MediaKind};
use libfuzzer_sys::{fuzz_target, Corpus};

fuzz_target!(init: facelite_fuzz::init(), |data: &[u8]| -> Corpus {
    if !matches!(sniff(data), Ok(MediaKind::Video(Container::Matroska))) {
        return Corpus::Reject;
    }
    facelite_fuzz::decode_media(data);
    Corpus::Keep
});
