//! Baseline JPEGs cut at their restart markers into horizontal bands that decode side by side.
//!
//! Huffman decoding is sequential: each value's position depends on every one before it. A
//! JPEG with a restart interval starts afresh at each interval (the DC predictions reset and a
//! byte-aligned `RSTn` marker sits between intervals), so when every interval is a whole number
//! of MCU rows, a run of intervals is a JPEG of its own once given the headers with its height.
//! Camera JPEGs often are: every Canon photo in `tests/data` restarts at each MCU row. Without
//! chroma subsampling no decoder step reads across rows (there is nothing to upsample), so the
//! bands' pixels are the whole image's, bit for bit (`decode.rs` tests this). Any other JPEG
//! (progressive, subsampled, no or partial-row intervals, markers that do not add up) is not
//! cut and decodes whole.

use std::ops::Range;

/// One band: its rows of the image and a JPEG holding just them.
pub(super) struct Band {
    pub rows: Range<usize>,
    pub jpeg: Vec<u8>,
}

/// The headers of a cuttable JPEG and where its entropy-coded data lies.
struct Layout {
    /// The segments every band needs (tables, frame, restart interval, scan header), in order.
    header: Vec<u8>,
    /// Where the frame's height sits in `header`.
    height_at: usize,
    width: usize,
    height: usize,
    /// MCUs per restart interval.
    interval: usize,
    /// Where the entropy-coded data starts in the file.
    data: usize,
}

/// `bytes` cut into at most `parts` bands of whole restart intervals, or `None` when it cannot
/// be cut (see the module doc) or would make a single band.
pub(super) fn bands(bytes: &[u8], parts: usize) -> Option<Vec<Band>> {
    let layout = layout(bytes)?;
    let (markers, end) = restart_markers(bytes, layout.data)?;
    // With 8x8 MCUs (no subsampling), an interval of `interval` MCUs is `rows` MCU rows.
    let per_row = layout.width.div_ceil(8);
    let mcu_rows = layout.height.div_ceil(8);
    if layout.interval == 0 || layout.interval % per_row != 0 {
        return None;
    }
    let rows = layout.interval / per_row;
    let intervals = mcu_rows.div_ceil(rows);
    if markers.len() + 1 != intervals || parts < 2 || intervals < 2 {
        return None;
    }
    let per_band = intervals.div_ceil(parts.min(intervals));
    let mut out = Vec::new();
    for first in (0..intervals).step_by(per_band) {
        let last = (first + per_band).min(intervals);
        let y = (first * rows * 8)..(last * rows * 8).min(layout.height);
        let from = match first {
            0 => layout.data,
            _ => markers[first - 1] + 2,
        };
        let to = if last == intervals {
            end
        } else {
            markers[last - 1]
        };
        let height = u16::try_from(y.len()).ok()?;
        let mut jpeg = Vec::with_capacity(layout.header.len() + (to - from) + 4);
        jpeg.extend_from_slice(&[0xFF, 0xD8]);
        jpeg.extend_from_slice(&layout.header);
        let at = 2 + layout.height_at;
        jpeg[at..at + 2].copy_from_slice(&height.to_be_bytes());
        jpeg.extend_from_slice(bytes.get(from..to)?);
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        out.push(Band { rows: y, jpeg });
    }
    (out.len() > 1).then_some(out)
}

/// The big-endian u16 at `at`.
fn u16_at(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at + 2)?;
    Some(usize::from(u16::from_be_bytes([b[0], b[1]])))
}

/// Reads the segments from the start of image to the (only) scan's header.
fn layout(bytes: &[u8]) -> Option<Layout> {
    if bytes.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut header = Vec::new();
    let (mut frame, mut interval) = (None, None);
    let mut i = 2;
    loop {
        if *bytes.get(i)? != 0xFF {
            return None;
        }
        // Fill bytes may precede a marker.
        while *bytes.get(i + 1)? == 0xFF {
            i += 1;
        }
        let marker = bytes[i + 1];
        let len = u16_at(bytes, i + 2)?;
        let segment = bytes.get(i..i + 2 + len)?;
        if len < 2 {
            return None;
        }
        match marker {
            // Baseline and extended sequential Huffman frames, 8-bit, one or three components,
            // none subsampled.
            0xC0 | 0xC1 => {
                let precision = *segment.get(4)?;
                let (height, width) = (u16_at(segment, 5)?, u16_at(segment, 7)?);
                let components = usize::from(*segment.get(9)?);
                let sampling = (0..components).map(|c| segment.get(11 + 3 * c).copied());
                let unsampled = sampling.into_iter().all(|s| s == Some(0x11));
                if precision != 8 || !matches!(components, 1 | 3) || !unsampled {
                    return None;
                }
                frame = Some((header.len() + 5, width, height, components));
                header.extend_from_slice(segment);
            }
            // Any other frame type: progressive, lossless, arithmetic-coded, hierarchical.
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
            0xDD => {
                interval = Some(u16_at(segment, 4)?);
                header.extend_from_slice(segment);
            }
            0xDA => {
                let (height_at, width, height, components) = frame?;
                // One scan holding every component, interleaved.
                if usize::from(*segment.get(4)?) != components {
                    return None;
                }
                header.extend_from_slice(segment);
                return Some(Layout {
                    header,
                    height_at,
                    width,
                    height,
                    interval: interval?,
                    data: i + 2 + len,
                });
            }
            // Standalone markers have no length: none belongs before the scan.
            0x01 | 0xD0..=0xD9 => return None,
            // Metadata (EXIF, XMP, ICC, comments) the bands do not need; APP0 (JFIF) and APP14
            // (Adobe: the colour transform) stay.
            0xE1..=0xED | 0xFE => {}
            _ => header.extend_from_slice(segment),
        }
        i += 2 + len;
    }
}

/// The positions of the restart markers in the entropy-coded data from `data`, and where that
/// data ends: at the end of image, or `None` when another marker (a second scan, a line count)
/// or the end of the file comes first.
fn restart_markers(bytes: &[u8], data: usize) -> Option<(Vec<usize>, usize)> {
    let mut markers = Vec::new();
    let mut at = data;
    loop {
        let ff = at + memchr::memchr(0xFF, bytes.get(at..)?)?;
        match *bytes.get(ff + 1)? {
            // A stuffed 0xFF data byte, or a fill byte before a marker.
            0x00 => at = ff + 2,
            0xFF => at = ff + 1,
            0xD0..=0xD7 => {
                markers.push(ff);
                at = ff + 2;
            }
            0xD9 => return Some((markers, ff)),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn row_restarting_photos_cut_into_bands_of_whole_intervals() {
        // obama.jpg: 910x1137, 4:4:4, a restart every 114 MCUs (one row of 8x8 MCUs): 143
        // intervals.
        let bytes = data("obama.jpg");
        let bands = bands(&bytes, 2).expect("cuttable");
        let rows: Vec<_> = bands.iter().map(|b| b.rows.clone()).collect();
        assert_eq!(rows, [0..576, 576..1137]);
        for band in &bands {
            assert_eq!(band.jpeg[..2], [0xFF, 0xD8]);
            assert_eq!(band.jpeg[band.jpeg.len() - 2..], [0xFF, 0xD9]);
        }
        let three = super::bands(&bytes, 3).expect("cuttable");
        assert_eq!(three.len(), 3);
        assert_eq!(three[2].rows.end, 1137);
        // One part is no cut.
        assert!(super::bands(&bytes, 1).is_none());
    }

    #[test]
    fn other_jpegs_are_not_cut() {
        // Subsampled and without restart markers.
        assert!(bands(&data("grace_hopper.jpg"), 2).is_none());
        assert!(bands(&data("op_p001_selfie.jpg"), 2).is_none());
        // Cut short: the data does not reach the end of image.
        let bytes = data("obama.jpg");
        assert!(bands(&bytes[..bytes.len() / 2], 2).is_none());
        // A restart marker missing: the intervals no longer add up.
        let (markers, _) =
            restart_markers(&bytes, layout(&bytes).expect("layout").data).expect("markers");
        let mut missing = bytes.clone();
        missing.drain(markers[10]..markers[10] + 2);
        assert!(bands(&missing, 2).is_none());
        // Not a JPEG.
        assert!(bands(b"GIF89a", 2).is_none());
        assert!(bands(&[], 2).is_none());
    }
}
