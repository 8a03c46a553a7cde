//! Person images on disk: `<data_dir>/collections/<company>/<collection>/<image>.<ext>`.
//!
//! Durability: a file is written to a staging name, fsynced, renamed into place and its
//! directory fsynced BEFORE the redb transaction that references it commits; a crash in between
//! leaves at most an unreferenced file, never a record without its image (re-enrolment after a
//! model change needs the image).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use uuid::Uuid;

/// The collections file area.
#[derive(Debug, Clone)]
pub struct ImageFiles {
    root: PathBuf,
}

impl ImageFiles {
    /// Opens (creating) the area under `data_dir` and removes staging files left by a crash.
    pub fn open(data_dir: &Path) -> io::Result<ImageFiles> {
        let root = data_dir.join("collections");
        fs::create_dir_all(root.join(".staging"))?;
        for e in fs::read_dir(root.join(".staging"))?.flatten() {
            let _ = fs::remove_file(e.path());
        }
        Ok(ImageFiles { root })
    }

    /// Relative path of an image.
    pub fn rel_path(company: Uuid, collection: Uuid, image: Uuid, ext: &str) -> String {
        format!("{company}/{collection}/{image}.{ext}")
    }

    fn abs(&self, rel: &str) -> io::Result<PathBuf> {
        if rel
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".." || s.starts_with('.'))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad stored path",
            ));
        }
        Ok(self.root.join(rel))
    }

    /// Writes `bytes` to `rel` durably (staging, fsync, rename, fsync of the directories).
    pub fn write(&self, rel: &str, bytes: &[u8]) -> io::Result<()> {
        let dest = self.abs(rel)?;
        let staged = self.root.join(".staging").join(Uuid::new_v4().to_string());
        let res = (|| {
            let mut f = File::create(&staged)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            drop(f);
            let parent = dest.parent().unwrap_or(&self.root).to_path_buf();
            if !parent.is_dir() {
                fs::create_dir_all(&parent)?;
                let mut p = parent.as_path();
                while p != self.root {
                    let Some(up) = p.parent() else { break };
                    sync_dir(up)?;
                    p = up;
                }
            }
            fs::rename(&staged, &dest)?;
            sync_dir(&parent)
        })();
        if res.is_err() {
            let _ = fs::remove_file(&staged);
        }
        res
    }

    /// Reads an image.
    pub fn read(&self, rel: &str) -> io::Result<Vec<u8>> {
        fs::read(self.abs(rel)?)
    }

    /// Removes an image (missing is fine).
    pub fn remove(&self, rel: &str) {
        if let Ok(p) = self.abs(rel) {
            let _ = fs::remove_file(p);
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_remove_and_path_checks() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = ImageFiles::open(dir.path()).expect("open");
        let rel = ImageFiles::rel_path(Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), "jpg");
        f.write(&rel, b"jpeg").expect("write");
        assert_eq!(f.read(&rel).expect("read"), b"jpeg");
        f.remove(&rel);
        assert!(f.read(&rel).is_err());
        assert!(f.read("../x").is_err());
        assert!(f.write(".staging/x", b"").is_err());
    }
}
