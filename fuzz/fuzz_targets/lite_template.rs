//! The Lite biometric template format (`lite::template::Template::from_bytes`), as `compare`,
//! `verify` and the `*_n` methods read client-supplied templates. Each input is tried as is and
//! with its last 8 bytes replaced by the correct checksum, so the fuzzer also gets past the
//! integrity check into the vector checks. A template that parses must survive a round trip
//! byte for byte, and `require_model` must accept its own model.
#![no_main]

use facelite::lite::template::Template;
use libfuzzer_sys::fuzz_target;

fn check(bytes: &[u8]) {
    let Ok(t) = Template::from_bytes(bytes) else {
        return;
    };
    assert_eq!(t.to_bytes(), bytes, "template round trip changed the bytes");
    let e = &t.embedding;
    assert!(t.require_model(&e.model_id, &e.model_version).is_ok());
    let again = Template::new(e.clone()).expect("a parsed template must be re-creatable");
    assert_eq!(again, t);
}

fuzz_target!(init: facelite_fuzz::init(), |data: &[u8]| {
    check(data);
    if data.len() >= 8 {
        let (body, _) = data.split_at(data.len() - 8);
        let digest = ring::digest::digest(&ring::digest::SHA256, body);
        let mut fixed = body.to_vec();
        fixed.extend_from_slice(&digest.as_ref()[..8]);
        check(&fixed);
    }
});
