//! ZIP shot sets (`media/shots.rs`: end-record entry count, the zip crate's directory, natural
//! name order, the inflated-bytes budget, JPEG/PNG shots) through
//! `facelite::media::for_each_frame`, plus the upload-time ZIP check (`upload::sniff`).
#![no_main]

use facelite::media::{sniff, MediaKind};
use libfuzzer_sys::{fuzz_target, Corpus};

fuzz_target!(init: facelite_fuzz::init(), |data: &[u8]| -> Corpus {
    if !matches!(sniff(data), Ok(MediaKind::ShotsSet)) {
        return Corpus::Reject;
    }
    facelite_fuzz::decode_media(data);
    Corpus::Keep
});
