//! Still images (JPEG, PNG, WebP, BMP) via the `image` crate, with the EXIF orientation
//! applied so the face is upright as the camera saw it.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use super::error::guard;
use super::{FrameLimits, ImageFormat, MediaError};

/// Decodes a still image, refusing oversize pictures from their header before decoding.
pub(crate) fn decode(
    bytes: &[u8],
    format: ImageFormat,
    limits: &FrameLimits,
) -> Result<RgbImage, MediaError> {
    let fmt = match format {
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::WebP => image::ImageFormat::WebP,
        ImageFormat::Bmp => image::ImageFormat::Bmp,
    };
    let what = format!("{format:?} image");
    guard(&what, || {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), fmt);
        let mut img_limits = image::Limits::default();
        img_limits.max_image_width = Some(limits.max_width);
        img_limits.max_image_height = Some(limits.max_height);
        reader.limits(img_limits);
        let mut dec = reader
            .into_decoder()
            .map_err(|e| image_error(&what, e, limits))?;
        let (w, h) = dec.dimensions();
        limits.check_dims(w, h, &what)?;
        let _charge = crate::memory::charge_blocking(
            u64::from(w) * u64::from(h) * super::STILL_BYTES_PER_PIXEL,
            &what,
        )
        .map_err(|e| MediaError::TooLarge(e.to_string()))?;
        let orientation = dec
            .orientation()
            .unwrap_or(image::metadata::Orientation::NoTransforms);
        let mut img = DynamicImage::from_decoder(dec).map_err(|e| image_error(&what, e, limits))?;
        img.apply_orientation(orientation);
        Ok(img.to_rgb8())
    })
}

fn image_error(what: &str, e: image::ImageError, limits: &FrameLimits) -> MediaError {
    match e {
        image::ImageError::Limits(l) => MediaError::TooLarge(format!(
            "{what}: {l} (limit {}x{})",
            limits.max_width, limits.max_height
        )),
        image::ImageError::Unsupported(u) => MediaError::Unsupported(format!("{what}: {u}")),
        other => MediaError::Corrupt(format!("{what}: {other}")),
    }
}
