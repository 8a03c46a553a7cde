//! File type from magic numbers. The Oz `media_type` of an upload is derived from this,
//! never from what the client claims.

use super::MediaError;

/// Still image encodings accepted as IMAGE_FOLDER media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
    WebP,
    Bmp,
}

/// Video containers accepted as VIDEO_FOLDER media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// ISO base media: MP4, MOV, fragmented MP4.
    Mp4,
    /// EBML: WebM and Matroska.
    Matroska,
    /// RIFF AVI (MJPEG from USB cameras).
    Avi,
}

/// What an upload is, decided from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image(ImageFormat),
    Video(Container),
    /// A ZIP archive of JPEG/PNG frames.
    ShotsSet,
}

impl MediaKind {
    /// The Oz `media_type` string for this kind.
    pub fn oz_media_type(&self) -> &'static str {
        match self {
            MediaKind::Image(_) => "IMAGE_FOLDER",
            MediaKind::Video(_) => "VIDEO_FOLDER",
            MediaKind::ShotsSet => "SHOTS_SET",
        }
    }
}

/// Identifies an upload from its magic numbers.
pub fn sniff(bytes: &[u8]) -> Result<MediaKind, MediaError> {
    let b = bytes;
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(MediaKind::Image(ImageFormat::Jpeg));
    }
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(MediaKind::Image(ImageFormat::Png));
    }
    if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        return Ok(MediaKind::Image(ImageFormat::WebP));
    }
    if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"AVI " {
        return Ok(MediaKind::Video(Container::Avi));
    }
    if b.len() >= 26 && b.starts_with(b"BM") {
        return Ok(MediaKind::Image(ImageFormat::Bmp));
    }
    if b.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Ok(MediaKind::Video(Container::Matroska));
    }
    if b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06") {
        return Ok(MediaKind::ShotsSet);
    }
    if b.len() >= 8 {
        let kind = &b[4..8];
        let iso = [
            &b"ftyp"[..],
            b"moov",
            b"moof",
            b"mdat",
            b"free",
            b"skip",
            b"wide",
            b"styp",
        ];
        if iso.contains(&kind) {
            return Ok(MediaKind::Video(Container::Mp4));
        }
    }
    let head: Vec<String> = b.iter().take(8).map(|x| format!("{x:02x}")).collect();
    Err(MediaError::UnknownFormat(format!(
        "first bytes {} match no JPEG, PNG, WebP, BMP, MP4/MOV, WebM/Matroska, AVI or ZIP signature",
        head.join(" ")
    )))
}
