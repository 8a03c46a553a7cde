//! MP4/MOV (incl. fragmented) demux and the codecs behind it (H.264, HEVC, VP8, MJPEG) through
//! `facelite::media::for_each_frame`. Inputs that do not sniff as ISO media are rejected so the
//! corpus stays on this family.
#![no_main]

use facelite::media::{sniff, Container, MediaKind};
use libfuzzer_sys::{fuzz_target, Corpus};

fuzz_target!(init: facelite_fuzz::init(), |data: &[u8]| -> Corpus {
    if !matches!(sniff(data), Ok(MediaKind::Video(Container::Mp4))) {
        return Corpus::Reject;
    }
    facelite_fuzz::decode_media(data);
    Corpus::Keep
});
