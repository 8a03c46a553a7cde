//! Person images on disk: `<data_dir>/collections/<company>/<collection>/<image>.<ext>`.
//!
//! Durability: a file is written to a staging name, fsynced, renamed into place and its
//! directory fsynced BEFORE the redb transaction that references it commits; a crash in between
//! leaves at most an unreferenced file, never a record without its image (re-enrolment after a
//! model change needs the image).

use std::io;
use std::path::Path;

use uuid::Uuid;

use crate::store::files::FileStore;

/// The collections file area: a [`FileStore`] of its own, staging in `collections/.staging`.
#[derive(Debug, Clone)]
pub struct ImageFiles {
    files: FileStore,
}

impl ImageFiles {
    /// Opens (creating) the area under `data_dir` and removes staging files left by a crash.
    pub fn open(data_dir: &Path) -> io::Result<ImageFiles> {
        let root = data_dir.join("collections");
        let staging = root.join(".staging");
        Ok(ImageFiles {
            files: FileStore::open_area(root, staging)?,
        })
    }

    /// Relative path of an image.
    pub fn rel_path(company: Uuid, collection: Uuid, image: Uuid, ext: &str) -> String {
        format!("{company}/{collection}/{image}.{ext}")
    }

    /// Writes `bytes` to `rel` durably (staging, fsync, rename, fsync of the directories).
    pub fn write(&self, rel: &str, bytes: &[u8]) -> io::Result<()> {
        self.files.write(rel, bytes)
    }

    /// Reads an image.
    pub fn read(&self, rel: &str) -> io::Result<Vec<u8>> {
        self.files.read(rel)
    }

    /// Removes an image (missing is fine).
    pub fn remove(&self, rel: &str) {
        self.files.remove(rel)
    }
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
