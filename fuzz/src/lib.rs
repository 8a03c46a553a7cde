//! Shared harness of facelite's fuzz targets (see the README's "Fuzzing" section):
//!
//! * [`init`]: the panic policy every target installs;
//! * [`frame_limits`]: the media limits the targets decode with;
//! * [`http`]: one request over an in-memory HTTP/1.1 connection served by hyper, so parsers that
//!   take a `hyper::body::Incoming` (multipart uploads, `Ctx`) get a real one;
//! * [`app`]: a real `App` (store in a temp dir, embedded models) for parsers that read a `Ctx`;
//! * [`mux`]: minimal Matroska and AVI writers, so that codec targets can hand a raw H.264/HEVC
//!   stream or a single JPEG to the library's real entry point (`media::frames`);
//! * [`Bytes`]: a cursor that takes option bytes off the front of an input.
//!
//! Panic policy. A panic is a bug, with one exception the library makes on purpose: the media and
//! image decoders run third-party code inside a guard (`catch_unwind`) that turns its panics into a
//! "corrupt media" error. A panic raised inside a dependency (its location is under cargo's
//! registry) is therefore reported once per location as `facelite-fuzz: guarded panic ...` and
//! left to the library to catch; if it escapes to the target, libFuzzer still gets an abort. Every
//! other panic (in facelite, or in std on facelite's behalf) aborts at once, so libFuzzer saves
//! the input as a crash. `FACELITE_FUZZ_STRICT=1` makes every panic abort.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

pub mod app;
pub mod http;
pub mod mux;

/// Installs the panic policy and, as `facelite serve` does, the process's memory budget (the
/// default `limits.memory_mb`). Call it from `fuzz_target!(init: ...)`.
pub fn init() {
    facelite::memory::install(facelite::memory::MemoryBudget::new(
        facelite::config::Config::default().limits.memory_mb << 20,
    ));
    let strict = std::env::var_os("FACELITE_FUZZ_STRICT").is_some_and(|v| v != "0");
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    std::panic::set_hook(Box::new(move |info| {
        let loc = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_else(|| "<unknown>".into());
        let in_dependency = loc.contains("/registry/src/") || loc.contains("/git/checkouts/");
        if in_dependency && !strict {
            let seen = SEEN.get_or_init(|| Mutex::new(HashSet::new()));
            let first = seen
                .lock()
                .map(|mut s| s.insert(loc.clone()))
                .unwrap_or(false);
            if first {
                eprintln!(
                    "facelite-fuzz: guarded panic (dependency, expected to be caught by facelite): {info}"
                );
            }
            return;
        }
        eprintln!("facelite-fuzz: PANIC (bug): {info}");
        eprintln!("{}", std::backtrace::Backtrace::force_capture());
        std::process::abort();
    }));
}

/// A known, reported, not yet fixed finding that is not a panic (a differential check the
/// harness makes): printed once per `what`, and a crash only with `FACELITE_FUZZ_STRICT=1`, so
/// that it does not fail every run until it is fixed. See `fuzz/findings/README.md`.
pub fn known_finding(what: &str, detail: std::fmt::Arguments<'_>) {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let seen = SEEN.get_or_init(|| Mutex::new(HashSet::new()));
    if seen
        .lock()
        .map(|mut s| s.insert(what.to_string()))
        .unwrap_or(false)
    {
        eprintln!("facelite-fuzz: known finding {what}: {detail}");
    }
    if std::env::var_os("FACELITE_FUZZ_STRICT").is_some_and(|v| v != "0") {
        panic!("known finding {what} (FACELITE_FUZZ_STRICT): {detail}");
    }
}

/// The media limits of the default configuration, with the decode deadline cut to 5 s so that
/// the library's own deadline fires well before libFuzzer's `-timeout=10`: a libFuzzer timeout
/// then means one step ran far past the deadline (a real finding), not a merely slow file.
pub fn frame_limits() -> facelite::media::FrameLimits {
    let mut l = facelite::media::FrameLimits::default();
    l.max_decode_time = std::time::Duration::from_secs(5);
    l
}

/// Runs `media::for_each_frame` the way the analyses do (one frame at a time) and checks what it
/// hands over: every frame has pixels and fits the limits.
pub fn decode_media(data: &[u8]) {
    let limits = frame_limits();
    let r = facelite::media::for_each_frame(data, &limits, |f| {
        let (w, h) = f.image.dimensions();
        assert!(w > 0 && h > 0, "empty frame handed over");
        // (either side: a frame may be rotated for display)
        let side = limits.max_width.max(limits.max_height);
        assert!(w <= side && h <= side, "frame {w}x{h} beyond the limits");
        assert!(f.pts_secs.is_finite(), "non-finite pts");
        Ok::<(), facelite::media::MediaError>(())
    });
    if let Ok(n) = r {
        assert!(n > 0, "success with no frame");
        assert!(n <= limits.sample_count.max(1), "more frames than sampled");
    }
}

/// Takes option bytes off the front of a fuzz input.
pub struct Bytes<'a> {
    pub rest: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { rest: data }
    }

    /// The next byte, 0 once the input is used up.
    pub fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&b, rest)) => {
                self.rest = rest;
                b
            }
            None => 0,
        }
    }

    /// Bytes up to (not including) the next `\n`, which is consumed; everything if none.
    pub fn line(&mut self) -> &'a [u8] {
        match self.rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let (line, rest) = self.rest.split_at(i);
                self.rest = &rest[1..];
                line
            }
            None => std::mem::take(&mut self.rest),
        }
    }
}

/// A header value from fuzz bytes when hyper would accept it as one, else `fallback`.
pub fn header_value(raw: &[u8], fallback: &str) -> String {
    let ok = !raw.is_empty()
        && raw.len() < 4096
        && raw.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        && raw[0] != b' '
        && raw[0] != b'\t';
    if ok {
        String::from_utf8_lossy(raw).trim_end().to_string()
    } else {
        fallback.to_string()
    }
}

/// The boundary every multipart seed uses.
pub const BOUNDARY: &str = "facelite-fuzz-boundary";

/// The Content-Type of a fuzzed multipart request: the seeds' boundary, or (option bit 0x10)
/// a header value taken from the next input line.
pub fn multipart_content_type(input: &mut Bytes<'_>, opts: u8) -> String {
    let default_ct = format!("multipart/form-data; boundary={BOUNDARY}");
    if opts & 0x10 != 0 {
        header_value(input.line(), &default_ct)
    } else {
        default_ct
    }
}

/// Chunk size for streaming a body to the parser, from an option byte: whole body (0), or
/// chunks of 1..=4096 bytes so that part boundaries fall across reads.
pub fn chunk_size(b: u8) -> usize {
    match b & 0x0f {
        0 => 0,
        1 => 1,
        2 => 7,
        3 => 64,
        4 => 100,
        5 => 511,
        6 => 1024,
        7 => 4096,
        _ => 0,
    }
}
