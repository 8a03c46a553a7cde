//! Uploads to frames: image decode, ZIP shot sets, video demux and decode (pure Rust).
