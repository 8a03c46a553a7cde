//! Orphan sweep: removes stored files that no record references.
//!
//! Files are written durably BEFORE the redb transaction that references them commits (see
//! `store::files`), so a crash (`kill -9`, power cut) between the two leaves a file nobody
//! points to; so does a crash between a delete's commit and the removal of its files. The
//! sweep finds and removes them:
//!
//! * **Areas**: `<data_dir>/media` (uploads and best shots; referenced by the `rel_path` of the
//!   flow's file records, the table the file route serves from) and `<data_dir>/collections`
//!   (person images; referenced by the person image records). Staging directories are not
//!   touched (they are cleared when their area is opened).
//! * **Only facelite's own names**: a file is a candidate only when its path in the area is
//!   `<uuid>/<uuid>/<uuid>.<ext>`, the shape facelite writes; anything else an operator put
//!   there is left alone. Symbolic links are never followed or removed.
//! * **Never a file in flight**: at start ([`at_start`], before the server accepts requests
//!   and before analyses resume) nothing is between its write and its commit, so every
//!   unreferenced file goes, and emptied `<company>/<folder>` directories with it. While
//!   serving ([`spawn_periodic`], every [`PERIOD`]) only files older than [`GRACE`] go, their
//!   age taken from the later of modification and status change (a rename into place counts),
//!   and directories stay. Candidates are listed BEFORE the referenced paths are read, so a
//!   file committed meanwhile is either seen as referenced or too young.
//! * **Nothing on doubt**: when the records cannot be read or one cannot be decoded, the sweep
//!   stops and removes nothing; a missing record table means "unknown", not "nothing
//!   referenced", and leaves its area alone.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use uuid::Uuid;

use crate::app::App;
use crate::store::Store;

/// Time between two sweeps while serving.
pub const PERIOD: Duration = Duration::from_secs(10 * 60);
/// Unreferenced files younger than this are left alone while serving (an upload between its
/// file write and its commit).
pub const GRACE: Duration = Duration::from_secs(10 * 60);

/// The flow's stored-file records (`crate::analysis::repo::FILES`, private to the analysis
/// module): `file_id` -> JSON with `rel_path`, relative to `<data_dir>/media`.
const FLOW_FILES: TableDefinition<'static, &'static str, &'static [u8]> =
    TableDefinition::new("flow_files");

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Unreferenced files removed.
    pub files_removed: usize,
    /// Their total size.
    pub bytes_removed: u64,
    /// Empty directories removed (at start only).
    pub dirs_removed: usize,
    /// Unreferenced files left because they are younger than the grace age.
    pub young_kept: usize,
    /// Referenced files seen.
    pub referenced: usize,
    /// Files that could not be removed (the reason is logged).
    pub failed: usize,
    /// Areas left alone because their records are not there to read.
    pub areas_skipped: usize,
}

impl SweepReport {
    /// One log line.
    pub fn summary(&self, min_age: Duration) -> String {
        let mut s = format!(
            "removed {} unreferenced files ({} bytes)",
            self.files_removed, self.bytes_removed
        );
        if self.dirs_removed > 0 {
            s.push_str(&format!(" and {} empty directories", self.dirs_removed));
        }
        s.push_str(&format!("; {} referenced files kept", self.referenced));
        if !min_age.is_zero() {
            s.push_str(&format!(
                ", {} unreferenced younger than {} s kept",
                self.young_kept,
                min_age.as_secs()
            ));
        }
        if self.failed > 0 {
            s.push_str(&format!(", {} could not be removed", self.failed));
        }
        if self.areas_skipped > 0 {
            s.push_str(&format!(
                ", {} areas skipped (no records)",
                self.areas_skipped
            ));
        }
        s
    }
}

/// One file area and how to read the paths its records reference.
struct Area {
    root: PathBuf,
    /// `None` when the records cannot tell (their table does not exist).
    referenced: fn(&Store) -> io::Result<Option<HashSet<String>>>,
}

fn areas(data_dir: &Path) -> [Area; 2] {
    [
        Area {
            root: data_dir.join("media"),
            referenced: media_paths,
        },
        Area {
            root: data_dir.join("collections"),
            referenced: collection_paths,
        },
    ]
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Paths of the flow's file records (uploads and best shots).
fn media_paths(store: &Store) -> io::Result<Option<HashSet<String>>> {
    #[derive(serde::Deserialize)]
    struct Rel {
        rel_path: String,
    }
    let txn = crate::store::raw::db(store).begin_read().map_err(other)?;
    let table = match txn.open_table(FLOW_FILES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(other(e)),
    };
    let mut out = HashSet::new();
    for row in table.iter().map_err(other)? {
        let (k, v) = row.map_err(other)?;
        let rec: Rel = serde_json::from_slice(v.value()).map_err(|e| {
            other(format!(
                "stored file record {} cannot be decoded: {e}",
                k.value()
            ))
        })?;
        out.insert(rec.rel_path);
    }
    Ok(Some(out))
}

/// Paths of the person image records.
fn collection_paths(store: &Store) -> io::Result<Option<HashSet<String>>> {
    let images: Vec<crate::collections::model::PersonImageRec> = store
        .list_scoped(&crate::accounts::tenant::Scope::All)
        .map_err(other)?;
    Ok(Some(images.into_iter().map(|i| i.rel_path).collect()))
}

/// Whether `name` is `<uuid>.<ext>` (ext: 1 to 8 ASCII letters or digits).
fn is_file_name(name: &str) -> bool {
    let Some((stem, ext)) = name.split_once('.') else {
        return false;
    };
    stem.parse::<Uuid>().is_ok()
        && stem.len() == 36
        && (1..=8).contains(&ext.len())
        && ext.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_uuid_dir(name: &str) -> bool {
    name.len() == 36 && name.parse::<Uuid>().is_ok()
}

/// A file that may go: its path relative to the area and its size.
struct Candidate {
    rel: String,
    path: PathBuf,
    size: u64,
}

/// When a file last changed: the later of its modification and status change (a rename into
/// place changes the latter).
fn changed_at(meta: &fs::Metadata) -> SystemTime {
    let ctime = UNIX_EPOCH + Duration::new(meta.ctime().max(0) as u64, meta.ctime_nsec() as u32);
    let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
    ctime.max(mtime)
}

fn read_dir_names(dir: &Path) -> io::Result<Vec<(String, fs::FileType)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        out.push((name, entry.file_type()?));
    }
    Ok(out)
}

/// Candidates of one area: facelite-shaped files at least `min_age` old at `now`.
fn list_candidates(
    root: &Path,
    min_age: Duration,
    now: SystemTime,
    report: &mut SweepReport,
) -> io::Result<Vec<Candidate>> {
    let mut out = Vec::new();
    for (company, ct) in read_dir_names(root)? {
        if !ct.is_dir() || !is_uuid_dir(&company) {
            continue;
        }
        let cdir = root.join(&company);
        for (folder, ft) in read_dir_names(&cdir)? {
            if !ft.is_dir() || !is_uuid_dir(&folder) {
                continue;
            }
            let fdir = cdir.join(&folder);
            for (name, t) in read_dir_names(&fdir)? {
                if !t.is_file() || !is_file_name(&name) {
                    continue;
                }
                let path = fdir.join(&name);
                let Ok(meta) = fs::symlink_metadata(&path) else {
                    continue; // removed meanwhile
                };
                let age = now
                    .duration_since(changed_at(&meta))
                    .unwrap_or(Duration::ZERO);
                if !min_age.is_zero() && age < min_age {
                    report.young_kept += 1;
                    continue;
                }
                out.push(Candidate {
                    rel: format!("{company}/{folder}/{name}"),
                    path,
                    size: meta.len(),
                });
            }
        }
    }
    Ok(out)
}

/// Removes the empty `<company>/<folder>` and `<company>` directories of an area.
fn prune_dirs(root: &Path, report: &mut SweepReport) -> io::Result<()> {
    for (company, ct) in read_dir_names(root)? {
        if !ct.is_dir() || !is_uuid_dir(&company) {
            continue;
        }
        let cdir = root.join(&company);
        for (folder, ft) in read_dir_names(&cdir)? {
            if ft.is_dir() && is_uuid_dir(&folder) && fs::remove_dir(cdir.join(&folder)).is_ok() {
                report.dirs_removed += 1;
            }
        }
        // Fails (and stays) when not empty.
        if fs::remove_dir(&cdir).is_ok() {
            report.dirs_removed += 1;
        }
    }
    Ok(())
}

/// Sweeps every file area of `data_dir` at time `now`: removes the facelite-named files no
/// record references and that are at least `min_age` old; with `min_age` zero (only when no
/// write can be in flight) also the directories left empty.
fn sweep_at(
    store: &Store,
    data_dir: &Path,
    min_age: Duration,
    now: SystemTime,
) -> io::Result<SweepReport> {
    let mut report = SweepReport::default();
    for area in areas(data_dir) {
        if !area.root.is_dir() {
            continue;
        }
        // First the files, then the records: see the module doc.
        let candidates = list_candidates(&area.root, min_age, now, &mut report)?;
        let Some(referenced) = (area.referenced)(store)? else {
            report.areas_skipped += 1;
            continue;
        };
        for c in candidates {
            if referenced.contains(&c.rel) {
                report.referenced += 1;
                continue;
            }
            match fs::remove_file(&c.path) {
                Ok(()) => {
                    report.files_removed += 1;
                    report.bytes_removed += c.size;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    report.failed += 1;
                    eprintln!("facelite: sweep: cannot remove {}: {e}", c.path.display());
                }
            }
        }
        if min_age.is_zero() {
            prune_dirs(&area.root, &mut report)?;
        }
    }
    Ok(report)
}

/// Sweeps every file area of `data_dir`: removes the files no record references that are at
/// least `min_age` old (all of them with `min_age` zero, which is only right when nothing can
/// be between its write and its commit, and then also the directories left empty).
pub fn sweep(store: &Store, data_dir: &Path, min_age: Duration) -> io::Result<SweepReport> {
    sweep_at(store, data_dir, min_age, SystemTime::now())
}

/// The start-up sweep (everything unreferenced): call after the store and the file areas are
/// open and before the server accepts requests or analyses resume. Logs one line; an error is
/// logged, not fatal.
pub fn at_start(store: &Store, data_dir: &Path) -> Option<SweepReport> {
    match sweep(store, data_dir, Duration::ZERO) {
        Ok(r) => {
            eprintln!("facelite: sweep: {}", r.summary(Duration::ZERO));
            Some(r)
        }
        Err(e) => {
            eprintln!("facelite: sweep: skipped, nothing removed: {e}");
            None
        }
    }
}

/// Starts the periodic sweep (every [`PERIOD`], files older than [`GRACE`]) on the blocking
/// pool. Logs a line when it removed something or failed. Must be called inside the runtime.
pub fn spawn_periodic(app: Arc<App>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(PERIOD).await;
            let app = app.clone();
            let done = tokio::task::spawn_blocking(move || {
                sweep(&app.store, &app.config.server.data_dir, GRACE)
            })
            .await;
            match done {
                Ok(Ok(r)) if r.files_removed > 0 || r.failed > 0 => {
                    eprintln!("facelite: sweep: {}", r.summary(GRACE));
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => eprintln!("facelite: sweep: skipped, nothing removed: {e}"),
                Err(e) => eprintln!("facelite: sweep: task failed: {e}"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::files::FileStore;

    fn put_file_rec(store: &Store, rel: &str) {
        let db = crate::store::raw::db(store);
        let txn = db.begin_write().expect("txn");
        {
            let mut t = txn.open_table(FLOW_FILES).expect("table");
            let id = Uuid::new_v4().to_string();
            let v = serde_json::json!({"file_id": id, "rel_path": rel}).to_string();
            t.insert(id.as_str(), v.as_bytes()).expect("insert");
        }
        txn.commit().expect("commit");
    }

    fn rel() -> String {
        FileStore::rel_path(Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), "jpg")
    }

    #[test]
    fn start_sweep_removes_unreferenced_files_only() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open_in(dir.path()).expect("store");
        let media = FileStore::open(dir.path()).expect("media");
        let (kept, orphan) = (rel(), rel());
        media.write(&kept, b"kept").expect("write");
        media.write(&orphan, b"orphan!").expect("write");
        // Foreign names are left alone, even unreferenced.
        let foreign = dir.path().join("media/README.txt");
        fs::write(&foreign, b"x").expect("foreign");
        let odd = dir
            .path()
            .join("media")
            .join(&kept)
            .with_file_name("notes.jpg");
        fs::write(&odd, b"x").expect("odd");
        // No file records table yet: unknown, nothing removed.
        let r = sweep(&store, dir.path(), Duration::ZERO).expect("sweep");
        assert_eq!(r.files_removed, 0, "{r:?}");
        assert!(r.areas_skipped >= 1, "{r:?}");
        put_file_rec(&store, &kept);
        let r = sweep(&store, dir.path(), Duration::ZERO).expect("sweep");
        assert_eq!((r.files_removed, r.bytes_removed), (1, 7), "{r:?}");
        assert_eq!(r.referenced, 1);
        // The orphan's folder (and company) directories were emptied and pruned.
        assert_eq!(r.dirs_removed, 2, "{r:?}");
        assert_eq!(media.read(&kept).expect("kept"), b"kept");
        assert!(media.read(&orphan).is_err());
        assert!(foreign.exists() && odd.exists());
    }

    #[test]
    fn periodic_sweep_spares_young_files_and_directories() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open_in(dir.path()).expect("store");
        let media = FileStore::open(dir.path()).expect("media");
        put_file_rec(&store, &rel());
        let orphan = rel();
        media.write(&orphan, b"in flight").expect("write");
        let r = sweep(&store, dir.path(), GRACE).expect("sweep");
        assert_eq!((r.files_removed, r.young_kept), (0, 1), "{r:?}");
        assert!(media.read(&orphan).is_ok());
        // Later than the grace age it goes, but its directory stays.
        let later = SystemTime::now() + GRACE + Duration::from_secs(1);
        let r = sweep_at(&store, dir.path(), GRACE, later).expect("sweep");
        assert_eq!((r.files_removed, r.dirs_removed), (1, 0), "{r:?}");
        assert!(media.read(&orphan).is_err());
        let folder_dir = dir.path().join("media").join(&orphan);
        assert!(folder_dir.parent().is_some_and(Path::is_dir));
    }

    #[test]
    fn collection_images_are_swept_and_staging_is_left_alone() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open_in(dir.path()).expect("store");
        let images = crate::collections::files::ImageFiles::open(dir.path()).expect("area");
        let orphan = rel();
        images.write(&orphan, b"face").expect("write");
        let staging = dir.path().join("collections/.staging/upload-x");
        fs::write(&staging, b"x").expect("staging");
        let r = sweep(&store, dir.path(), Duration::ZERO).expect("sweep");
        assert_eq!(r.files_removed, 1, "{r:?}");
        assert!(images.read(&orphan).is_err());
        assert!(staging.exists());
    }

    #[test]
    fn an_undecodable_record_stops_the_sweep() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open_in(dir.path()).expect("store");
        let media = FileStore::open(dir.path()).expect("media");
        let orphan = rel();
        media.write(&orphan, b"x").expect("write");
        let db = crate::store::raw::db(&store);
        let txn = db.begin_write().expect("txn");
        txn.open_table(FLOW_FILES)
            .expect("table")
            .insert("k", &b"not json"[..])
            .expect("insert");
        txn.commit().expect("commit");
        assert!(sweep(&store, dir.path(), Duration::ZERO).is_err());
        assert!(media.read(&orphan).is_ok());
    }

    #[test]
    fn names() {
        assert!(is_file_name(&format!("{}.jpg", Uuid::new_v4())));
        assert!(!is_file_name(&format!("{}.tar.gz", Uuid::new_v4())));
        assert!(!is_file_name(&format!("{}", Uuid::new_v4())));
        assert!(!is_file_name("upload-1.jpg"));
        assert!(!is_file_name(&format!("{}.jpg", Uuid::new_v4().simple())));
        assert!(is_uuid_dir(&Uuid::new_v4().to_string()));
        assert!(!is_uuid_dir(".staging"));
    }
}
