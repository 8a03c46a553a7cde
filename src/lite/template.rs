//! facelite's biometric template: the portable form of a face embedding that Lite's `extract`
//! hands out and `compare`/`verify`/`*_n` take back. Callers store templates themselves, so
//! the format is versioned, names the model that made the vector, and carries an integrity
//! check: a template from another model, a truncated or a tampered one is refused, never
//! compared.
//!
//! Layout (all integers little-endian):
//!
//! | offset  | size | field                                                        |
//! |---------|------|--------------------------------------------------------------|
//! | 0       | 4    | magic `FLTM`                                                 |
//! | 4       | 2    | format version, currently 1                                  |
//! | 6       | 1    | `m` = length of the model id (1..=255)                       |
//! | 7       | m    | model id, UTF-8                                              |
//! | 7+m     | 1    | `v` = length of the model version (1..=255)                  |
//! | 8+m     | v    | model version, UTF-8                                         |
//! | 8+m+v   | 2    | `d` = dimension (1..=[`MAX_DIMENSION`])                      |
//! | 10+m+v  | 4*d  | vector, `d` x IEEE-754 f32                                   |
//! | end-8   | 8    | first 8 bytes of SHA-256 over every byte before this field   |

use crate::vision::Embedding;

/// Identifies a facelite template among arbitrary bytes.
pub const MAGIC: &[u8; 4] = b"FLTM";
/// The only format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Largest vector a template may carry; bounds the work a hostile template can cause.
pub const MAX_DIMENSION: usize = 4096;
/// Bytes of the truncated SHA-256 that closes a template.
const CHECK_LEN: usize = 8;

/// Why bytes are not a usable template. Each message says what was wrong, for the client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("template is empty")]
    Empty,
    #[error("not a facelite template (magic bytes missing)")]
    BadMagic,
    #[error(
        "template format version {0} is not supported (this build reads version {FORMAT_VERSION})"
    )]
    UnsupportedVersion(u16),
    #[error("template is truncated or has trailing bytes: {0}")]
    Length(String),
    #[error("template integrity check failed: it was altered or corrupted")]
    Checksum,
    #[error("template is malformed: {0}")]
    Malformed(String),
    #[error("template was made by model {found}, but this server compares with {expected}; re-extract it from the image")]
    ModelMismatch { found: String, expected: String },
}

/// A decoded template: the embedding plus nothing else (the format version is implied).
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub embedding: Embedding,
}

impl Template {
    /// Wraps an embedding; refuses what could not be decoded again (empty or over-long model
    /// names, a dimension out of range, non-finite values), so every template written is
    /// readable.
    pub fn new(embedding: Embedding) -> Result<Template, TemplateError> {
        check_name("model id", &embedding.model_id)?;
        check_name("model version", &embedding.model_version)?;
        check_vector(&embedding.vector)?;
        Ok(Template { embedding })
    }

    /// Serialises to the documented binary layout.
    pub fn to_bytes(&self) -> Vec<u8> {
        let e = &self.embedding;
        let mut out = Vec::with_capacity(
            4 + 2 + 2 + e.model_id.len() + e.model_version.len() + 2 + 4 * e.vector.len() + 8,
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        // Lengths and dimension were validated by `new`, so these casts cannot truncate.
        out.push(e.model_id.len() as u8);
        out.extend_from_slice(e.model_id.as_bytes());
        out.push(e.model_version.len() as u8);
        out.extend_from_slice(e.model_version.as_bytes());
        out.extend_from_slice(&(e.vector.len() as u16).to_le_bytes());
        for v in &e.vector {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let check = checksum(&out);
        out.extend_from_slice(&check);
        out
    }

    /// Parses and verifies bytes written by [`Template::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Template, TemplateError> {
        if bytes.is_empty() {
            return Err(TemplateError::Empty);
        }
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(TemplateError::BadMagic);
        }
        let mut r = Reader {
            bytes,
            pos: MAGIC.len(),
        };
        let version = u16::from_le_bytes(r.take_array("format version")?);
        if version != FORMAT_VERSION {
            return Err(TemplateError::UnsupportedVersion(version));
        }
        if bytes.len() < CHECK_LEN + r.pos {
            return Err(TemplateError::Length(format!(
                "{} bytes is too short",
                bytes.len()
            )));
        }
        let (body, check) = bytes.split_at(bytes.len() - CHECK_LEN);
        let model_id = r.take_name("model id")?;
        let model_version = r.take_name("model version")?;
        let dim = usize::from(u16::from_le_bytes(r.take_array("dimension")?));
        if dim == 0 || dim > MAX_DIMENSION {
            return Err(TemplateError::Malformed(format!(
                "dimension {dim} is outside 1..={MAX_DIMENSION}"
            )));
        }
        let expected_len = r.pos + 4 * dim + CHECK_LEN;
        if bytes.len() != expected_len {
            return Err(TemplateError::Length(format!(
                "{} bytes where a {dim}-dimensional template has {expected_len}",
                bytes.len()
            )));
        }
        if checksum(body) != check {
            return Err(TemplateError::Checksum);
        }
        let vector: Vec<f32> = body[r.pos..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        check_vector(&vector)?;
        Ok(Template {
            embedding: Embedding {
                model_id,
                model_version,
                vector,
            },
        })
    }

    /// Refuses a template that another model or model version made: such vectors live in a
    /// different space and any score between them would be meaningless.
    pub fn require_model(&self, model_id: &str, model_version: &str) -> Result<(), TemplateError> {
        let e = &self.embedding;
        if e.model_id == model_id && e.model_version == model_version {
            Ok(())
        } else {
            Err(TemplateError::ModelMismatch {
                found: format!("{} {}", e.model_id, e.model_version),
                expected: format!("{model_id} {model_version}"),
            })
        }
    }
}

fn checksum(body: &[u8]) -> [u8; CHECK_LEN] {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&digest.as_ref()[..CHECK_LEN]);
    out
}

fn check_name(what: &str, s: &str) -> Result<(), TemplateError> {
    if s.is_empty() || s.len() > 255 {
        return Err(TemplateError::Malformed(format!(
            "{what} must be 1..=255 bytes, is {}",
            s.len()
        )));
    }
    Ok(())
}

fn check_vector(v: &[f32]) -> Result<(), TemplateError> {
    if v.is_empty() || v.len() > MAX_DIMENSION {
        return Err(TemplateError::Malformed(format!(
            "dimension {} is outside 1..={MAX_DIMENSION}",
            v.len()
        )));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(TemplateError::Malformed(
            "vector holds a non-finite value".into(),
        ));
    }
    Ok(())
}

/// Bounds-checked cursor over the template bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], TemplateError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(TemplateError::Length(format!("ends inside the {what}"))),
        }
    }

    fn take_array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], TemplateError> {
        let s = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    fn take_name(&mut self, what: &str) -> Result<String, TemplateError> {
        let [len] = self.take_array::<1>(what)?;
        if len == 0 {
            return Err(TemplateError::Malformed(format!("{what} is empty")));
        }
        let s = self.take(usize::from(len), what)?;
        String::from_utf8(s.to_vec())
            .map_err(|_| TemplateError::Malformed(format!("{what} is not UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Template {
        let vector: Vec<f32> = (0..128).map(|i| (i as f32 - 64.0) / 500.0).collect();
        Template::new(Embedding {
            model_id: "faceapi-recognition".into(),
            model_version: "1".into(),
            vector,
        })
        .unwrap()
    }

    #[test]
    fn round_trips_exactly() {
        let t = sample();
        let bytes = t.to_bytes();
        assert_eq!(&bytes[..4], MAGIC);
        assert_eq!(bytes.len(), 4 + 2 + 1 + 19 + 1 + 1 + 2 + 512 + 8);
        assert_eq!(Template::from_bytes(&bytes).unwrap(), t);
    }

    #[test]
    fn every_single_byte_change_is_refused() {
        let bytes = sample().to_bytes();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(
                Template::from_bytes(&b).is_err(),
                "flip at byte {i} was accepted"
            );
        }
    }

    #[test]
    fn every_truncation_and_extension_is_refused() {
        let bytes = sample().to_bytes();
        for n in 0..bytes.len() {
            assert!(
                Template::from_bytes(&bytes[..n]).is_err(),
                "prefix of {n} accepted"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            Template::from_bytes(&longer),
            Err(TemplateError::Length(_))
        ));
    }

    #[test]
    fn other_version_and_model_are_refused() {
        let mut bytes = sample().to_bytes();
        bytes[4] = 2;
        assert_eq!(
            Template::from_bytes(&bytes),
            Err(TemplateError::UnsupportedVersion(2))
        );
        let t = sample();
        assert!(t.require_model("faceapi-recognition", "1").is_ok());
        assert!(matches!(
            t.require_model("faceapi-recognition", "2"),
            Err(TemplateError::ModelMismatch { .. })
        ));
        assert_eq!(
            Template::from_bytes(b"\xff\xd8\xff\xe0"),
            Err(TemplateError::BadMagic)
        );
    }

    #[test]
    fn unencodable_embeddings_are_refused() {
        let mut e = sample().embedding;
        e.vector[3] = f32::NAN;
        assert!(Template::new(e).is_err());
        let mut e = sample().embedding;
        e.model_id = String::new();
        assert!(Template::new(e).is_err());
    }
}
