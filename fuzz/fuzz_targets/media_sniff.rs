//! Media type sniffing from magic numbers: `facelite::media::sniff` (decoding), and the upload
//! parsers' `upload::sniff` (Oz media types and stored extensions, fed the first 64 bytes) and
//! `collections::upload::sniff` (person images, first 16 bytes). Checks that they agree: the
//! upload decides from a prefix what the decoder later decides from the whole file.
#![no_main]

use facelite::media::{sniff, MediaKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: facelite_fuzz::init(), |data: &[u8]| {
    let full = sniff(data);
    if let Ok(kind) = &full {
        let _ = kind.oz_media_type();
    }
    let head = &data[..data.len().min(64)];
    let from_head = sniff(head).ok();
    assert_eq!(full.as_ref().ok(), from_head.as_ref(), "sniff of the first 64 bytes differs");
    let oz = facelite::upload::sniff(head);
    assert_eq!(oz.is_some(), from_head.is_some(), "upload::sniff and media::sniff disagree");
    let person = facelite::collections::upload::sniff(&data[..data.len().min(16)]);
    if let Some(MediaKind::Image(_)) = from_head {
        let (ext, _) = person.expect("an image the media layer accepts is refused as a person image");
        assert_eq!(Some(ext), oz.map(|o| o.1), "person image extension differs from upload's");
    }
});
