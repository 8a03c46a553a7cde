//! Shot sets: ZIP archives of JPEG/PNG frames, in natural name order (`shot_2` before
//! `shot_10`). The entry count is checked
//! from the archive's end record before the directory is parsed, and inflated bytes are
//! counted while inflating, so a zip bomb stops at the limit instead of filling memory.

use std::cmp::Ordering;
use std::io::{Cursor, Read};

use super::error::guard;
use super::limits::Deadline;
use super::sampling::pick_even;
use super::sniff::{sniff, ImageFormat, MediaKind};
use super::{jpeg, still, Frame, FrameLimits, MediaError};

/// Decodes `sample_count` shots spread evenly over the archive's name-sorted images, handing
/// each to `visit` as soon as it is decoded (one shot's pixels held at a time); returns how
/// many were handed.
pub(crate) fn frames(
    bytes: &[u8],
    limits: &FrameLimits,
    deadline: &Deadline,
    visit: &mut dyn FnMut(Frame) -> Result<(), MediaError>,
) -> Result<usize, MediaError> {
    let declared = declared_entries(bytes)?;
    if declared > limits.max_zip_entries as u64 {
        return Err(too_many(declared, limits));
    }
    guard("shot set archive", || {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| MediaError::Corrupt(format!("shot set archive: {e}")))?;
        if zip.len() > limits.max_zip_entries {
            return Err(too_many(zip.len() as u64, limits));
        }
        let mut names: Vec<(String, usize)> = Vec::new();
        for i in 0..zip.len() {
            let entry = zip
                .by_index_raw(i)
                .map_err(|e| MediaError::Corrupt(format!("shot set entry {i}: {e}")))?;
            let name = entry
                .name()
                .map_err(|e| MediaError::Corrupt(format!("shot set entry {i} name: {e}")))?
                .to_string();
            if entry.is_dir() || is_junk(&name) {
                continue;
            }
            names.push((name, i));
        }
        names.sort_by(|a, b| natural_cmp(&a.0, &b.0).then(a.1.cmp(&b.1)));
        if names.is_empty() {
            return Err(MediaError::NoFrames(
                "the shot set archive holds no files".into(),
            ));
        }
        let positions: Vec<f64> = (0..names.len()).map(|i| i as f64).collect();
        let mut budget = limits.max_zip_inflated_bytes;
        let mut count = 0usize;
        for pos in pick_even(&positions, limits.sample_count) {
            deadline.check()?;
            let (name, index) = &names[pos];
            let mut entry = zip
                .by_index(*index)
                .map_err(|e| MediaError::Corrupt(format!("shot set entry {name}: {e}")))?;
            if entry.size() > budget {
                return Err(bomb(limits));
            }
            // The entry's announced size is charged before a byte is inflated (and it cannot
            // inflate past it); the charge ends with this shot.
            let announced = entry.size();
            let _charge = crate::memory::charge_blocking(announced, "inflating a shot set entry")
                .map_err(|e| MediaError::TooLarge(e.to_string()))?;
            let mut data = Vec::with_capacity(announced as usize);
            (&mut entry)
                .take(announced + 1)
                .read_to_end(&mut data)
                .map_err(|e| MediaError::Corrupt(format!("shot set entry {name}: {e}")))?;
            if data.len() as u64 > announced {
                return Err(MediaError::Corrupt(format!(
                    "shot set entry {name} inflates past its announced size"
                )));
            }
            if data.len() as u64 > budget {
                return Err(bomb(limits));
            }
            budget -= data.len() as u64;
            let what = format!("shot {name}");
            let image = match sniff(&data) {
                Ok(MediaKind::Image(ImageFormat::Jpeg)) => jpeg::decode(&data, limits, &what)?,
                Ok(MediaKind::Image(ImageFormat::Png)) => {
                    still::decode(&data, ImageFormat::Png, limits)?
                }
                _ => {
                    return Err(MediaError::Unsupported(format!(
                        "{what} is not a JPEG or PNG image"
                    )))
                }
            };
            let frame = Frame {
                index: pos,
                pts_secs: pos as f64 * limits.shot_interval_secs,
                image,
            };
            deadline.excluding(|| visit(frame))?;
            count += 1;
        }
        Ok(count)
    })
}

/// Natural (numeric-aware) order of file names: runs of ASCII digits compare by value, so
/// `shot_2` comes before `shot_10` (capture apps rarely zero-pad their counters); the rest
/// compares character by character. Names equal this way (`shot_02` and `shot_2`) fall back to
/// plain string order, so the order is total and stable.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0usize, 0usize);
    while i < x.len() && j < y.len() {
        if x[i].is_ascii_digit() && y[j].is_ascii_digit() {
            let run = |s: &[u8], mut k: usize| {
                let start = k;
                while k < s.len() && s[k].is_ascii_digit() {
                    k += 1;
                }
                (start, k)
            };
            let ((xs, xe), (ys, ye)) = (run(x, i), run(y, j));
            // Compare by value without parsing (runs may exceed u64): drop leading zeros, then
            // the longer run is larger, then digit by digit.
            let (dx, dy) = (strip_zeros(&x[xs..xe]), strip_zeros(&y[ys..ye]));
            let ord = dx.len().cmp(&dy.len()).then_with(|| dx.cmp(dy));
            if ord != Ordering::Equal {
                return ord;
            }
            i = xe;
            j = ye;
        } else {
            let ord = x[i].cmp(&y[j]);
            if ord != Ordering::Equal {
                return ord;
            }
            i += 1;
            j += 1;
        }
    }
    (x.len() - i).cmp(&(y.len() - j)).then_with(|| a.cmp(b))
}

fn strip_zeros(digits: &[u8]) -> &[u8] {
    let z = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[z..]
}

fn too_many(n: u64, limits: &FrameLimits) -> MediaError {
    MediaError::TooManyEntries(format!(
        "the shot set archive lists {n} entries, limit {}",
        limits.max_zip_entries
    ))
}

fn bomb(limits: &FrameLimits) -> MediaError {
    MediaError::TooLarge(format!(
        "the shot set inflates to more than {} bytes (zip bomb?)",
        limits.max_zip_inflated_bytes
    ))
}

/// Directory metadata that archivers add and that is not a shot.
fn is_junk(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    name.starts_with("__MACOSX/") || base.starts_with('.') || base.eq_ignore_ascii_case("thumbs.db")
}

/// Entry count from the end-of-central-directory record (ZIP64 aware), read before the
/// archive library allocates anything for the directory.
fn declared_entries(b: &[u8]) -> Result<u64, MediaError> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let from = b.len().saturating_sub(22 + 65_535);
    let tail = &b[from..];
    let at = tail
        .windows(4)
        .rposition(|w| w == EOCD)
        .map(|p| from + p)
        .ok_or_else(|| {
            MediaError::Corrupt("shot set archive has no end record (truncated?)".into())
        })?;
    if at + 22 > b.len() {
        return Err(MediaError::Corrupt(
            "shot set archive end record is truncated".into(),
        ));
    }
    let total = u64::from(u16::from_le_bytes([b[at + 10], b[at + 11]]));
    if total != 0xFFFF {
        return Ok(total);
    }
    // ZIP64: the locator (20 bytes) precedes the EOCD and points at the ZIP64 end record.
    let loc = at
        .checked_sub(20)
        .filter(|&l| &b[l..l + 4] == b"PK\x06\x07");
    let Some(loc) = loc else {
        return Ok(total);
    };
    let off = u64::from_le_bytes(b[loc + 8..loc + 16].try_into().unwrap_or([0; 8]));
    // A forged offset near u64::MAX must not wrap around the length check.
    let off = usize::try_from(off)
        .ok()
        .filter(|&o| o.checked_add(56).is_some_and(|end| end <= b.len()));
    match off {
        Some(o) if &b[o..o + 4] == b"PK\x06\x06" => Ok(u64::from_le_bytes(
            b[o + 32..o + 40].try_into().unwrap_or([0xFF; 8]),
        )),
        _ => Err(MediaError::Corrupt(
            "shot set ZIP64 end record is invalid".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip64_locator_offset_near_the_end_of_u64_is_corrupt_not_a_panic() {
        // Found by fuzzing (fuzz/seeds/media_shots/zip64_locator_offset_overflow.zip): an EOCD
        // with 0xFFFF entries, preceded by a ZIP64 locator whose offset is 2^64 - 16.
        let mut b = b"PK\x03\x04\0\0\0\0PK\x06\x07\0\0\0\0".to_vec();
        b.extend_from_slice(&0xFFFF_FFFF_FFFF_FFF0u64.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(b"PK\x05\x06\0\0\0\0\xff\xff\xff\xff");
        b.extend_from_slice(&[0xff; 8]);
        b.extend_from_slice(&[0, 0]);
        assert!(matches!(declared_entries(&b), Err(MediaError::Corrupt(_))));
    }

    #[test]
    fn numbers_in_names_sort_by_value() {
        let mut names = vec![
            "shot_10.jpg",
            "shot_2.jpg",
            "shot_1.jpg",
            "shot_11.jpg",
            "shot_3.jpg",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            vec![
                "shot_1.jpg",
                "shot_2.jpg",
                "shot_3.jpg",
                "shot_10.jpg",
                "shot_11.jpg"
            ]
        );
    }

    #[test]
    fn natural_order_edge_cases() {
        assert_eq!(natural_cmp("a", "a"), Ordering::Equal);
        assert_eq!(natural_cmp("a", "b"), Ordering::Less);
        assert_eq!(natural_cmp("a9", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("a10", "a9"), Ordering::Greater);
        // Zero padding: equal values fall back to string order, never Equal for distinct names.
        assert_eq!(natural_cmp("a02", "a2"), Ordering::Less);
        assert_eq!(natural_cmp("a2", "a02"), Ordering::Greater);
        // Prefixes and folders.
        assert_eq!(natural_cmp("shot", "shot1"), Ordering::Less);
        assert_eq!(natural_cmp("b/shot_9", "b/shot_10"), Ordering::Less);
        assert_eq!(natural_cmp("a/shot_10", "b/shot_2"), Ordering::Less);
        // Runs longer than any integer type.
        assert_eq!(
            natural_cmp("x123456789012345678901234567890", "x99"),
            Ordering::Greater
        );
    }
}
