//! The HEVC decoder path (`media/h265.rs` over `rust_h265`: hvcC, RASL/IRAP bookkeeping, output
//! order, YUV->RGB). The input is an Annex B stream; the harness wraps it in a Matroska file
//! (VPS/SPS/PPS in the hvcC record, one packet per picture) and hands that to
//! `facelite::media::for_each_frame`.
#![no_main]

use facelite_fuzz::mux;
use libfuzzer_sys::{fuzz_target, Corpus};

fuzz_target!(init: facelite_fuzz::init(), |data: &[u8]| -> Corpus {
    let (config, packets) = mux::packetize(mux::Codec::H265, data);
    if packets.is_empty() {
        return Corpus::Reject;
    }
    let file = mux::matroska("V_MPEGH/ISO/HEVC", &config, &packets);
    facelite_fuzz::decode_media(&file);
    Corpus::Keep
});
