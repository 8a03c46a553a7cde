//! Bytes -> upright 8-bit RGB image. The pixel limit is checked on the header before any pixel
//! buffer is allocated, the EXIF orientation is applied so faces come out upright, and every
//! malformed input becomes [`VisionError::Undecodable`] instead of a panic.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use tract_linalg::multithread::Executor;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use super::jpeg_bands;
use super::VisionError;

/// Formats accepted from clients; anything else is refused before a decoder is built.
const ACCEPTED: [ImageFormat; 4] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::WebP,
    ImageFormat::Bmp,
];

/// Decodes JPEG/PNG/WebP/BMP bytes into an upright RGB image of at most `max_pixels` pixels.
pub fn decode_image(bytes: &[u8], max_pixels: u64) -> Result<RgbImage, VisionError> {
    decode_image_on(bytes, max_pixels, &Executor::SingleThread)
}

/// [`decode_image`], with the bands of a JPEG that restarts at whole MCU rows decoded side by
/// side on `executor`'s pool, if it has one (see `jpeg_bands.rs`): the same pixels, sooner.
pub fn decode_image_on(
    bytes: &[u8],
    max_pixels: u64,
    executor: &Executor,
) -> Result<RgbImage, VisionError> {
    undecodable_on_panic(|| decode_checked(bytes, max_pixels, executor))
}

/// Runs third-party decoding code and answers a panic inside it (a decoder bug a malformed
/// upload found) as [`VisionError::Undecodable`]: the upload is refused, the worker lives on.
fn undecodable_on_panic<T>(
    decode: impl FnOnce() -> Result<T, VisionError>,
) -> Result<T, VisionError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|payload| {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "internal decoder failure".into());
        Err(VisionError::Undecodable(format!(
            "decoder failed: {detail}"
        )))
    })
}

/// [`decode_image_on`] without the panic guard.
fn decode_checked(
    bytes: &[u8],
    max_pixels: u64,
    executor: &Executor,
) -> Result<RgbImage, VisionError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| VisionError::Undecodable(e.to_string()))?;
    let format = reader.format().ok_or_else(|| {
        VisionError::Undecodable("unknown format (JPEG, PNG, WebP or BMP expected)".into())
    })?;
    if !ACCEPTED.contains(&format) {
        return Err(VisionError::Undecodable(format!(
            "{format:?} is not accepted (JPEG, PNG, WebP or BMP expected)"
        )));
    }
    // Read the announced size from the header bytes themselves first: some decoders want more
    // than the header before they report dimensions, and a forged header must still be
    // answered as too large rather than as broken.
    if let Some((width, height)) = header_dimensions(bytes, format) {
        check_pixels(width, height, max_pixels)?;
    }
    if format == ImageFormat::Jpeg {
        if let Some(img) = decode_ycbcr_jpeg(bytes, max_pixels, executor)? {
            return Ok(img);
        }
    }
    decode_through_image(reader, bytes, format, max_pixels)
}

/// zune-jpeg's options as `image` sets them (lenient on recoverable damage), with RGB output.
fn jpeg_options() -> DecoderOptions {
    DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX)
        .jpeg_set_out_colorspace(ColorSpace::RGB)
}

/// Decodes the bands of `bytes` (an image `width` pixels wide), one per thread of `executor`'s
/// pool, into their rows of `pixels`. False when there is no pool, the JPEG cannot be cut, or a
/// band fails; `pixels` then holds nothing that counts.
fn decode_bands(bytes: &[u8], width: usize, executor: &Executor, pixels: &mut [u8]) -> bool {
    let Executor::MultiThread(pool) = executor else {
        return false;
    };
    let Some(bands) = jpeg_bands::bands(bytes, pool.current_num_threads()) else {
        return false;
    };
    let mut parts = Vec::with_capacity(bands.len());
    let mut rest = pixels;
    for band in &bands {
        let Some((part, tail)) = rest.split_at_mut_checked(band.rows.len() * width * 3) else {
            return false;
        };
        parts.push((band, part, false));
        rest = tail;
    }
    pool.scope(|s| {
        for (band, part, ok) in parts.iter_mut() {
            s.spawn(move |_| {
                let mut decoder = zune_jpeg::JpegDecoder::new_with_options(
                    ZCursor::new(&band.jpeg[..]),
                    jpeg_options(),
                );
                *ok = decoder.decode_headers().is_ok()
                    && decoder.dimensions() == Some((width, band.rows.len()))
                    && decoder.input_colorspace() == Some(ColorSpace::YCbCr)
                    && decoder.decode_into(part).is_ok();
            });
        }
    });
    rest.is_empty() && parts.iter().all(|(_, _, ok)| *ok)
}

/// Any accepted format through `image`'s decoders, with the pixel limit as an allocation limit.
fn decode_through_image(
    mut reader: ImageReader<Cursor<&[u8]>>,
    bytes: &[u8],
    format: ImageFormat,
    max_pixels: u64,
) -> Result<RgbImage, VisionError> {
    let mut limits = Limits::default();
    // RGBA8 at the pixel limit, plus slack for the decoders' own buffers.
    limits.max_alloc = Some(max_pixels.saturating_mul(4).saturating_add(64 << 20));
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| VisionError::Undecodable(e.to_string()))?;
    let (width, height) = decoder.dimensions();
    if check_pixels(width, height, max_pixels)? == 0 {
        return Err(VisionError::Undecodable("image has no pixels".into()));
    }
    if format == ImageFormat::Jpeg {
        check_jpeg_complete(bytes)?;
    }
    // A broken EXIF block must not reject an otherwise fine photo: treat it as "no rotation".
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img =
        DynamicImage::from_decoder(decoder).map_err(|e| VisionError::Undecodable(e.to_string()))?;
    img.apply_orientation(orientation);
    Ok(img.into_rgb8())
}

/// The common JPEG (YCbCr) straight through zune-jpeg, the decoder `image` itself wraps, with
/// the options `image` gives it, so the pixels are the same. `image`'s wrapper copies the input,
/// parses the headers three times and asks for the EXIF block separately. In a profile of a
/// 1-megapixel photo's decode, `memset` and the end-of-image check fell from 9.7% to 5.7% of
/// the samples (the rest is zune-jpeg's own work). `None` for other colour spaces, which take
/// `image`'s path.
fn decode_ycbcr_jpeg(
    bytes: &[u8],
    max_pixels: u64,
    executor: &Executor,
) -> Result<Option<RgbImage>, VisionError> {
    let undecodable = |e: zune_jpeg::errors::DecodeErrors| VisionError::Undecodable(e.to_string());
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), jpeg_options());
    decoder.decode_headers().map_err(undecodable)?;
    if decoder.input_colorspace() != Some(ColorSpace::YCbCr) {
        return Ok(None);
    }
    let Some((width, height)) = decoder.dimensions() else {
        return Ok(None);
    };
    let (width, height) = (width as u32, height as u32);
    if check_pixels(width, height, max_pixels)? == 0 {
        return Err(VisionError::Undecodable("image has no pixels".into()));
    }
    check_jpeg_complete(bytes)?;
    // A broken EXIF block must not reject an otherwise fine photo: treat it as "no rotation".
    let orientation = decoder
        .exif()
        .and_then(|exif| Orientation::from_exif_chunk(exif))
        .unwrap_or(Orientation::NoTransforms);
    let mut pixels = vec![0; width as usize * height as usize * 3];
    // A band that fails leaves the whole image to decode in one piece, which reports the error
    // as it always has.
    if !decode_bands(bytes, width as usize, executor, &mut pixels) {
        decoder.decode_into(&mut pixels).map_err(undecodable)?;
    }
    let rgb = RgbImage::from_raw(width, height, pixels).ok_or_else(|| {
        VisionError::Undecodable("decoded pixels do not match the image size".into())
    })?;
    let mut img = DynamicImage::ImageRgb8(rgb);
    img.apply_orientation(orientation);
    Ok(Some(img.into_rgb8()))
}

/// Refuses `width x height` above `max_pixels`; returns the pixel count.
fn check_pixels(width: u32, height: u32, max_pixels: u64) -> Result<u64, VisionError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(VisionError::TooLarge {
            width,
            height,
            pixels,
            limit: max_pixels,
        });
    }
    Ok(pixels)
}

/// Bytes of memory one decoded pixel costs at the peak of a decode and the analysis after it:
/// the decoder's RGBA buffer (4), the RGB image (3), an oriented copy (3), and the scaled
/// copies the detector makes (2).
pub const DECODE_BYTES_PER_PIXEL: u64 = 12;

/// Pixels the image's header announces, read without decoding (`None` when the header cannot
/// be read: the decode then fails on its own).
pub fn announced_pixels(bytes: &[u8]) -> Option<u64> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let format = reader.format()?;
    // The first frame header and the decoder's own reading of the headers can differ in a
    // crafted file (a JPEG with two start-of-frame segments): charge the larger.
    let first = header_dimensions(bytes, format).map(|(w, h)| u64::from(w) * u64::from(h));
    let decoder = reader
        .into_dimensions()
        .ok()
        .map(|(w, h)| u64::from(w) * u64::from(h));
    first.max(decoder)
}

/// Width and height as announced by a PNG IHDR or a JPEG start-of-frame segment, read without
/// decoding anything; `None` for other formats or when the header is not where it should be.
fn header_dimensions(bytes: &[u8], format: ImageFormat) -> Option<(u32, u32)> {
    let be32 = |at: usize| -> Option<u32> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let be16 = |at: usize| -> Option<u32> {
        bytes
            .get(at..at + 2)
            .map(|b| u32::from(u16::from_be_bytes([b[0], b[1]])))
    };
    match format {
        ImageFormat::Png => {
            if bytes.get(12..16)? != b"IHDR" {
                return None;
            }
            Some((be32(16)?, be32(20)?))
        }
        ImageFormat::Jpeg => {
            // Walk the marker segments up to the first start-of-frame (SOF0..SOF15 except DHT,
            // JPG and DAC); stop at start-of-scan.
            let mut p = 2;
            while p + 4 <= bytes.len() {
                if bytes[p] != 0xFF {
                    return None;
                }
                let marker = bytes[p + 1];
                if marker == 0xFF {
                    p += 1;
                    continue;
                }
                if marker == 0xDA {
                    return None;
                }
                let len = be16(p + 2)? as usize;
                let is_sof =
                    (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker);
                if is_sof {
                    let height = be16(p + 5)?;
                    let width = be16(p + 7)?;
                    return Some((width, height));
                }
                p += 2 + len;
            }
            None
        }
        _ => None,
    }
}

/// Rejects JPEG data cut off before its end-of-image marker. Lenient decoders fill the missing
/// rows with grey and report success, which would hand a half image to the face models.
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), VisionError> {
    // The last start-of-scan marker belongs to the main image (an EXIF thumbnail precedes it);
    // entropy-coded data cannot contain FF DA or FF D9, so the first FF D9 after it is the end.
    let complete = match last_start_of_scan(bytes) {
        Some(p) => memchr::memmem::find(&bytes[p..], &[0xFF, 0xD9]).is_some(),
        None => false,
    };
    if complete {
        Ok(())
    } else {
        Err(VisionError::Undecodable(
            "JPEG data is truncated (no end-of-image marker after the image data)".into(),
        ))
    }
}

/// Where the last `FF DA` of `bytes` starts. A backward scan for `DA` bytes, each checked for
/// the `FF` before it. `memmem::rfind` has no vectorised prefilter: on obama.jpg (280 KB) it
/// took 0.053 ms in a loop and 0.4% of a one-thread pipeline run; this scan takes 0.009 ms.
fn last_start_of_scan(bytes: &[u8]) -> Option<usize> {
    let mut end = bytes.len();
    while let Some(p) = memchr::memrchr(0xDA, &bytes[..end]) {
        if p > 0 && bytes[p - 1] == 0xFF {
            return Some(p - 1);
        }
        end = p;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_start_of_scan_is_found_as_memmem_finds_it() {
        let photo = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/obama.jpg"),
        )
        .expect("read photo");
        let cases: [&[u8]; 8] = [
            &[],
            &[0xDA],
            &[0xFF, 0xDA],
            &[0xDA, 0xFF],
            &[0xFF, 0xDA, 0x00, 0xDA, 0xFF, 0xDA, 0xDA],
            &[0x00, 0xFF, 0xFF, 0xDA, 0xDA, 0xDA],
            &[0x12, 0x34, 0xDA, 0x56],
            &photo,
        ];
        for bytes in cases {
            let want = memchr::memmem::rfind(bytes, &[0xFF, 0xDA]);
            assert_eq!(
                last_start_of_scan(bytes),
                want,
                "{:?}",
                &bytes[..bytes.len().min(8)]
            );
        }
        assert!(last_start_of_scan(&photo).is_some());
    }

    /// The direct zune-jpeg path must give `image`'s pixels exactly (`vision_pipeline`'s
    /// `exif_rotated_photo_is_analyzed_upright` covers its rotation).
    #[test]
    fn the_direct_jpeg_path_gives_images_pixels() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let mut photos = 0;
        for entry in std::fs::read_dir(&dir).expect("tests/data") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("jpg") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("read photo");
            let direct = decode_ycbcr_jpeg(&bytes, 40_000_000, &Executor::SingleThread)
                .expect("decodes")
                .expect("a YCbCr JPEG");
            // In bands side by side where the JPEG can be cut: the same pixels.
            for threads in [2, 3] {
                let banded = decode_image_on(&bytes, 40_000_000, &Executor::multithread(threads))
                    .expect("decodes in bands");
                assert!(banded == direct, "{path:?}: {threads} bands differ");
            }
            let reader = ImageReader::new(Cursor::new(&bytes[..]))
                .with_guessed_format()
                .expect("format");
            let through_image = decode_through_image(reader, &bytes, ImageFormat::Jpeg, 40_000_000)
                .expect("decodes");
            assert_eq!(direct.dimensions(), through_image.dimensions(), "{path:?}");
            assert!(direct == through_image, "{path:?}: pixels differ");
            photos += 1;
        }
        assert!(photos >= 10, "only {photos} JPEG photos found");
    }

    /// The photos that restart at each MCU row decode in bands when there is a pool, each band
    /// decoded on its own, and the rows come out as the whole image's.
    #[test]
    fn row_restarting_photos_decode_in_bands() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        for name in ["obama.jpg", "obama2.jpg", "biden.jpg"] {
            let bytes = std::fs::read(dir.join(name)).expect("read photo");
            let whole = decode_ycbcr_jpeg(&bytes, 40_000_000, &Executor::SingleThread)
                .expect("decodes")
                .expect("a YCbCr JPEG");
            let (w, h) = whole.dimensions();
            let mut pixels = vec![0u8; w as usize * h as usize * 3];
            assert!(
                decode_bands(&bytes, w as usize, &Executor::multithread(2), &mut pixels),
                "{name}: not decoded in bands"
            );
            // The EXIF orientation of these photos is upright, so the raw rows are the image's.
            assert!(pixels == whole.into_raw(), "{name}: bands differ");
            assert!(!decode_bands(
                &bytes,
                w as usize,
                &Executor::SingleThread,
                &mut pixels
            ));
        }
    }

    /// A decoder panic (a bug some malformed upload could reach) is an undecodable image, on
    /// the calling thread and from inside a pool's band alike.
    #[test]
    fn a_decoder_panic_is_an_undecodable_image() {
        let direct = undecodable_on_panic::<()>(|| panic!("bad table"));
        assert!(
            matches!(&direct, Err(VisionError::Undecodable(m)) if m.contains("bad table")),
            "{direct:?}"
        );
        let Executor::MultiThread(pool) = Executor::multithread(2) else {
            panic!("two threads make a pool");
        };
        let in_band = undecodable_on_panic::<()>(|| {
            pool.scope(|s| s.spawn(|_| panic!("{}", String::from("bad band"))));
            Ok(())
        });
        assert!(
            matches!(&in_band, Err(VisionError::Undecodable(m)) if m.contains("bad band")),
            "{in_band:?}"
        );
    }

    #[test]
    fn garbage_is_undecodable() {
        for bytes in [&b""[..], b"hello", &[0xFF, 0xD8, 0xFF][..]] {
            assert!(matches!(
                decode_image(bytes, 1_000_000),
                Err(VisionError::Undecodable(_))
            ));
        }
    }

    #[test]
    fn png_header_over_limit_is_too_large() {
        // A PNG signature + IHDR chunk announcing 10000x10000; no image data follows.
        let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(b"IHDR");
        ihdr.extend_from_slice(&10_000u32.to_be_bytes());
        ihdr.extend_from_slice(&10_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        png.extend_from_slice(&13u32.to_be_bytes());
        png.extend_from_slice(&ihdr);
        png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        match decode_image(&png, 40_000_000) {
            Err(VisionError::TooLarge { pixels, .. }) => assert_eq!(pixels, 100_000_000),
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
