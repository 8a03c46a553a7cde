//! Media files on disk, next to the redb store: `<data_dir>/media/<company>/<folder>/<file>`.
//!
//! Durability contract: a file is written to `<data_dir>/tmp`, fsynced, renamed into place and
//! its directory fsynced BEFORE the redb transaction that references it commits. So a record a
//! client was told about always has its bytes, even after `kill -9` or a power cut. A crash
//! between the two steps can leave an unreferenced file, never a dangling record; staging
//! files left by a crash are removed when an area is opened, and unreferenced files by
//! `crate::sweep` (all of them at start, those older than its grace age while serving).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use uuid::Uuid;

/// Where media files live.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
    tmp: PathBuf,
}

impl FileStore {
    /// Opens the media file area under `data_dir`, creating it, and clears stale staging files.
    pub fn open(data_dir: &Path) -> io::Result<FileStore> {
        FileStore::open_area(data_dir.join("media"), data_dir.join("tmp"))
    }

    /// Opens a file area at `root` staging through `tmp` (other families keep their files
    /// apart with the same durability rules), creating both and clearing stale staging files.
    pub fn open_area(root: PathBuf, tmp: PathBuf) -> io::Result<FileStore> {
        fs::create_dir_all(&root)?;
        fs::create_dir_all(&tmp)?;
        for entry in fs::read_dir(&tmp)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(FileStore { root, tmp })
    }

    /// A fresh staging path (not yet created).
    pub fn staging_path(&self) -> PathBuf {
        self.tmp.join(format!("upload-{}", Uuid::new_v4()))
    }

    /// Relative path of a stored file.
    pub fn rel_path(company: Uuid, folder: Uuid, file: Uuid, ext: &str) -> String {
        format!("{company}/{folder}/{file}.{ext}")
    }

    fn abs(&self, rel: &str) -> io::Result<PathBuf> {
        // Relative paths are built from UUIDs; refuse anything else defensively (a leading dot
        // also keeps callers out of a staging directory kept inside the area).
        if rel.split('/').any(|s| s.is_empty() || s.starts_with('.')) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad stored path",
            ));
        }
        Ok(self.root.join(rel))
    }

    /// Moves a fully written staging file to `rel`, durably (fsync file, rename, fsync dirs).
    pub fn persist(&self, staged: &Path, rel: &str) -> io::Result<()> {
        let dest = self.abs(rel)?;
        File::open(staged)?.sync_all()?;
        self.make_parent(&dest)?;
        fs::rename(staged, &dest)?;
        sync_dir(dest.parent().unwrap_or(&self.root))
    }

    /// Writes `bytes` durably to `rel` (staging + fsync + rename + fsync dir).
    pub fn write(&self, rel: &str, bytes: &[u8]) -> io::Result<()> {
        let staged = self.staging_path();
        let res = (|| {
            let mut f = File::create(&staged)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            drop(f);
            self.persist(&staged, rel)
        })();
        if res.is_err() {
            let _ = fs::remove_file(&staged);
        }
        res
    }

    fn make_parent(&self, dest: &Path) -> io::Result<()> {
        let Some(parent) = dest.parent() else {
            return Ok(());
        };
        if parent.is_dir() {
            return Ok(());
        }
        fs::create_dir_all(parent)?;
        // Make the new directory entries durable too.
        let mut p = parent;
        while p != self.root {
            if let Some(up) = p.parent() {
                sync_dir(up)?;
                p = up;
            } else {
                break;
            }
        }
        Ok(())
    }

    /// The absolute path of a stored file, for streaming it without reading it whole.
    pub fn path_of(&self, rel: &str) -> io::Result<PathBuf> {
        self.abs(rel)
    }

    /// Reads a stored file.
    pub fn read(&self, rel: &str) -> io::Result<Vec<u8>> {
        fs::read(self.abs(rel)?)
    }

    /// Removes a stored file (missing files are fine).
    pub fn remove(&self, rel: &str) {
        if let Ok(p) = self.abs(rel) {
            let _ = fs::remove_file(p);
        }
    }

    /// Removes a folder's directory once its files are gone.
    pub fn remove_folder_dir(&self, company: Uuid, folder: Uuid) {
        let _ = fs::remove_dir_all(self.root.join(company.to_string()).join(folder.to_string()));
    }

    /// Number of files under the media root (tests use it to prove a rejected upload stored
    /// nothing).
    pub fn count_files(&self) -> usize {
        fn walk(p: &Path) -> usize {
            let Ok(rd) = fs::read_dir(p) else { return 0 };
            rd.flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        walk(&p)
                    } else {
                        1
                    }
                })
                .sum()
        }
        walk(&self.root) + walk(&self.tmp)
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_remove_and_stale_staging_cleanup() {
        let dir = tempfile::tempdir().expect("tmp");
        let fs_ = FileStore::open(dir.path()).expect("open");
        let (c, f, id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let rel = FileStore::rel_path(c, f, id, "jpg");
        fs_.write(&rel, b"abc").expect("write");
        assert_eq!(fs_.read(&rel).expect("read"), b"abc");
        assert_eq!(fs_.count_files(), 1);
        std::fs::write(fs_.staging_path(), b"stale").expect("stale");
        assert_eq!(fs_.count_files(), 2);
        let again = FileStore::open(dir.path()).expect("reopen");
        assert_eq!(again.count_files(), 1);
        again.remove(&rel);
        assert_eq!(again.count_files(), 0);
        assert!(again.read("../x").is_err());
    }
}
