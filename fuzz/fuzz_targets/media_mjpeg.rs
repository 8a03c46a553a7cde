//! The MJPEG frame decoder (`media/jpeg.rs`: Annex K Huffman tables spliced into DHT-less frames,
//! zune-jpeg with the dimension limits). The input is one JPEG; the harness wraps it in an AVI
//! (`MJPG` stream) and hands that to `facelite::media::for_each_frame`.
#![no_main]

use facelite_fuzz::mux;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: facelite_fuzz::init(), |data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let file = mux::avi_mjpeg(&[data]);
    facelite_fuzz::decode_media(&file);
});
