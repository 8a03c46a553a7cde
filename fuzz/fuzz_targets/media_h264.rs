//! The H.264 decoder path (`media/h264.rs` over `rust_h264`: avcC, SPS checks, slices, 8/10-bit
//! and monochrome output, YUV->RGB). The input is an Annex B stream; the harness wraps it in a
//! Matroska file (parameter sets in the avcC record, one packet per picture) and hands that to
//! `facelite::media::for_each_frame`, so the library's own demuxer, sampler and decoder run.
#![no_main]

use facelite_fuzz::mux;
use libfuzzer_sys::{fuzz_target, Corpus};

fuzz_target!(init: facelite_fuzz::init(), |data: &[u8]| -> Corpus {
    let (config, packets) = mux::packetize(mux::Codec::H264, data);
    if packets.is_empty() {
        return Corpus::Reject;
    }
    let file = mux::matroska("V_MPEG4/ISO/AVC", &config, &packets);
    facelite_fuzz::decode_media(&file);
    Corpus::Keep
});
