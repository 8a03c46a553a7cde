//! Running one persisted analysis job on a worker thread, and storing its result.
//!
//! Order of effects: best-shot files are written durably first; then ONE redb transaction
//! stores the analysis result and the best-shot file records, deletes the job, recomputes the
//! folder's statuses and, when this was the last running analysis of its group, queues the
//! webhook in the outbox. A crash before the commit leaves the job in place, so it runs again
//! at the next start. A job that was started [`MAX_ATTEMPTS`] times without finishing (for
//! example because its media crashes the process) is failed instead of looping forever.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;

use serde_json::Value;
use uuid::Uuid;

use crate::analysis::face::Backend;
use crate::analysis::model::{
    now_secs, AnalysisRec, AnalysisType, FileRec, FolderRec, JobRec, MediaRec, OutputImage,
    ResultMedia, State,
};
use crate::analysis::outcome::{MediaSource, Outcome};
use crate::analysis::repo::{self, RepoError};
use crate::analysis::view::{self, Files};
use crate::analysis::{biometry, quality, rules, verdicts};
use crate::app::App;
use crate::config::Config;
use crate::store::files::FileStore;

/// Starts of one job before it is failed as "interrupted".
pub const MAX_ATTEMPTS: u32 = 3;

/// Runs the analysis of `kind` over a folder's media. Shared by stored jobs and instant mode.
pub fn execute(
    backend: &dyn Backend,
    source: &dyn MediaSource,
    kind: AnalysisType,
    media: &[MediaRec],
    requested: &[Uuid],
    params: &Value,
    config: &Config,
) -> Outcome {
    let sel = rules::select(kind, media, requested);
    let run = || match kind {
        AnalysisType::Quality => quality::run(
            backend,
            source,
            &sel,
            &quality::QualityParams {
                extract_best_shot: params
                    .get("extract_best_shot")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
                liveness_threshold: config.thresholds.liveness,
                sample_frames: config.analysis.sample_frames,
            },
        ),
        AnalysisType::Biometry => biometry::run(
            backend,
            source,
            &sel,
            &biometry::BiometryParams {
                match_threshold: config.thresholds.r#match,
                sample_frames: config.analysis.sample_frames,
            },
        ),
        // Stored COLLECTION jobs run in `run` (they need the collections); instant mode has
        // no collections.
        AnalysisType::Collection => Outcome::failed(
            "COLLECTION analyses search stored collections; instant mode does not support them",
            Default::default(),
        ),
        AnalysisType::Documents => Outcome::failed(
            format!("{} analyses are not implemented", kind.as_str()),
            Default::default(),
        ),
    };
    guarded(run)
}

/// Runs an analysis body; a panic (a bug) becomes a FAILED outcome instead of taking the
/// worker (and the job) down with it.
pub fn guarded(run: impl FnOnce() -> Outcome) -> Outcome {
    std::panic::catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|_| {
        Outcome::failed(
            "internal error while running the analysis (see the server log)",
            Default::default(),
        )
    })
}

/// Reads media bytes from the file store.
struct StoredSource<'a> {
    app: &'a App,
    files: &'a FileStore,
}

impl MediaSource for StoredSource<'_> {
    fn bytes(&self, m: &MediaRec) -> Result<Vec<u8>, String> {
        let rec: FileRec = repo::get(crate::store::raw::db(&self.app.store), m.file_id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "the media file record is missing".to_string())?;
        self.files
            .read(&rec.rel_path)
            .map_err(|e| format!("cannot read the stored media file: {e}"))
    }
}

/// What a finished job changed, for the caller's notifications.
pub struct Stored {
    pub webhook_queued: bool,
}

/// Runs one stored job to completion. Errors are store errors; the job then stays on disk and
/// the worker queues it again after a delay ([`crate::analysis::store_retry_delay`]).
pub fn run(
    app: &App,
    backend: &dyn Backend,
    files: &FileStore,
    id: Uuid,
) -> Result<Stored, RepoError> {
    let db = crate::store::raw::db(&app.store);
    let nothing = Stored {
        webhook_queued: false,
    };
    // Count the attempt first, durably, so a crash loop ends.
    let txn = db.begin_write()?;
    let Some(mut job) = repo::get_w::<JobRec>(&txn, id)? else {
        return Ok(nothing);
    };
    job.attempts += 1;
    repo::put(&txn, &job)?;
    txn.commit()?;
    let Some(a) = repo::get::<AnalysisRec>(db, id)? else {
        drop_job(app, id)?;
        return Ok(nothing);
    };
    if a.state != State::Processing {
        drop_job(app, id)?;
        return Ok(nothing);
    }
    let Some(folder) = repo::get::<FolderRec>(db, a.folder_id)? else {
        drop_job(app, id)?;
        return Ok(nothing);
    };
    let media: Vec<MediaRec> = repo::get_many(db, &folder.media_ids)?;
    let started = std::time::Instant::now();
    let outcome = if job.attempts > MAX_ATTEMPTS {
        Outcome::failed(
            format!(
                "the analysis was interrupted {} times (server restarts) and was given up",
                job.attempts - 1
            ),
            Default::default(),
        )
    } else {
        let source = StoredSource { app, files };
        match a.analysis_type {
            AnalysisType::Collection => guarded(|| {
                crate::collections::analysis::run(app, backend, &source, &a, &folder, &media)
            }),
            kind => execute(
                backend,
                &source,
                kind,
                &media,
                &a.requested_media,
                &a.params,
                &app.config,
            ),
        }
    };
    let stored = store_outcome(app, files, a, &folder, outcome)?;
    eprintln!(
        "facelite: analysis {id} done in {} ms",
        started.elapsed().as_millis()
    );
    Ok(stored)
}

fn drop_job(app: &App, id: Uuid) -> Result<(), RepoError> {
    let txn = crate::store::raw::db(&app.store).begin_write()?;
    repo::delete::<JobRec>(&txn, id)?;
    txn.commit()?;
    Ok(())
}

/// Turns an outcome into result fields; best shots get file ids (and bytes to write).
pub fn apply_outcome(a: &mut AnalysisRec, outcome: Outcome) -> Vec<(Uuid, Vec<u8>)> {
    let mut shots = Vec::new();
    a.results_media = outcome
        .media
        .into_iter()
        .map(|m| {
            let mut output_images = Vec::new();
            if let Some(bytes) = m.best_shot {
                let fid = Uuid::new_v4();
                output_images.push(OutputImage {
                    file_id: fid,
                    kind: "best_shot".into(),
                });
                shots.push((fid, bytes));
            }
            ResultMedia {
                result_media_id: Uuid::new_v4(),
                source_media_id: m.media_id,
                media_type: m.media_type,
                resolution_status: m.resolution,
                results_data: m.results_data,
                output_images,
                person_id: m.matched_persons.first().copied(),
                matched_persons: m.matched_persons,
            }
        })
        .collect();
    a.state = outcome.state;
    a.resolution_status = verdicts::analysis_resolution(outcome.state, outcome.verdict);
    a.results_data = outcome.results_data;
    a.error_message = outcome.error_message;
    a.source_media = outcome.source_media;
    a.time_updated = now_secs();
    a.time_finished = Some(a.time_updated);
    shots
}

fn store_outcome(
    app: &App,
    files: &FileStore,
    mut a: AnalysisRec,
    folder: &FolderRec,
    outcome: Outcome,
) -> Result<Stored, RepoError> {
    let id = a.analysis_id;
    let shots = apply_outcome(&mut a, outcome);
    let mut file_recs = Vec::new();
    for (fid, bytes) in shots {
        let rel = FileStore::rel_path(folder.company_id, folder.folder_id, fid, "jpg");
        if let Err(e) = files.write(&rel, &bytes) {
            for f in &file_recs {
                let f: &FileRec = f;
                files.remove(&f.rel_path);
            }
            return Err(RepoError::Redb(format!("cannot store a best shot: {e}")));
        }
        file_recs.push(FileRec {
            file_id: fid,
            company_id: folder.company_id,
            folder_id: folder.folder_id,
            rel_path: rel,
            content_type: "image/jpeg".into(),
            size: bytes.len() as u64,
        });
    }
    let discard = |file_recs: &[FileRec]| {
        for f in file_recs {
            files.remove(&f.rel_path);
        }
    };
    // The best shots written above are removed again when the result is not stored: the
    // analysis is gone, or the transaction failed (the job is then retried, writing new ones).
    match commit_outcome(app, id, a, &file_recs) {
        Ok(Some(stored)) => Ok(stored),
        Ok(None) => {
            discard(&file_recs);
            Ok(Stored {
                webhook_queued: false,
            })
        }
        Err(e) => {
            discard(&file_recs);
            Err(e)
        }
    }
}

/// Stores an analysis result in one transaction (see the module comment); `None` when the
/// analysis or its folder was deleted, or was already final, while it ran.
fn commit_outcome(
    app: &App,
    id: Uuid,
    mut a: AnalysisRec,
    file_recs: &[FileRec],
) -> Result<Option<Stored>, RepoError> {
    let txn = crate::store::raw::db(&app.store).begin_write()?;
    // The analysis or folder may have been deleted while it ran.
    let current = repo::get_w::<AnalysisRec>(&txn, id)?;
    let folder_now = repo::get_w::<FolderRec>(&txn, a.folder_id)?;
    let (Some(current), Some(mut folder_now)) = (current, folder_now) else {
        repo::delete::<JobRec>(&txn, id)?;
        txn.commit()?;
        return Ok(None);
    };
    if current.state != State::Processing {
        repo::delete::<JobRec>(&txn, id)?;
        txn.commit()?;
        return Ok(None);
    }
    // Keep metadata edits made while the analysis ran.
    a.meta_data = current.meta_data;
    repo::put(&txn, &a)?;
    for f in file_recs {
        repo::put(&txn, f)?;
    }
    repo::delete::<JobRec>(&txn, id)?;
    let mut analyses = Vec::new();
    for aid in &folder_now.analysis_ids {
        if *aid == id {
            analyses.push(a.clone());
        } else if let Some(x) = repo::get_w::<AnalysisRec>(&txn, *aid)? {
            analyses.push(x);
        }
    }
    let (rs, sr) = verdicts::folder(&analyses);
    folder_now.resolution_status = rs;
    folder_now.system_resolution = sr;
    folder_now.time_updated = now_secs();
    repo::put(&txn, &folder_now)?;
    let group_done = analyses
        .iter()
        .filter(|x| x.group_id == a.group_id)
        .all(|x| x.state != State::Processing);
    let mut webhook_queued = false;
    if group_done {
        if let Some(url) = a.resolution_endpoint.clone() {
            let mut media_now = Vec::new();
            for mid in &folder_now.media_ids {
                if let Some(m) = repo::get_w::<MediaRec>(&txn, *mid)? {
                    media_now.push(m);
                }
            }
            let base = app
                .config
                .server
                .public_url
                .clone()
                .unwrap_or_else(|| folder_now.base_url.clone());
            let body = view::folder_json(
                &folder_now,
                &media_now,
                Some(&analyses),
                &Files::Linked { base: &base },
            );
            crate::webhook::enqueue(
                &txn,
                &app.config.webhooks,
                &url,
                folder_now.folder_id,
                body.to_string(),
            )?;
            webhook_queued = true;
        }
    }
    txn.commit()?;
    Ok(Some(Stored { webhook_queued }))
}

/// Index of media by id (for rendering).
pub fn media_index(media: &[MediaRec]) -> HashMap<Uuid, &MediaRec> {
    media.iter().map(|m| (m.media_id, m)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::face::{FaceEmbedding, FaceError, FaceObs, SampledFrame};
    use crate::analysis::instant::MemorySource;
    use crate::analysis::model::{MediaType, Resolution};
    use image::RgbImage;
    use serde_json::json;

    /// A scripted backend: the "identity" of an image is its mean colour; a black image has
    /// no face; a passive model is present only when `passive` is set.
    struct Fake {
        passive: Option<f32>,
    }

    fn png(rgb: [u8; 3]) -> Vec<u8> {
        let img = RgbImage::from_pixel(32, 32, image::Rgb(rgb));
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut out, image::ImageFormat::Png)
            .expect("png");
        out.into_inner()
    }

    impl Backend for Fake {
        fn decode_image(&self, bytes: &[u8]) -> Result<RgbImage, FaceError> {
            image::load_from_memory(bytes)
                .map(|i| i.to_rgb8())
                .map_err(|e| FaceError::Undecodable(e.to_string()))
        }
        fn for_each_frame(
            &self,
            _: &[u8],
            _: MediaType,
            _: usize,
            _: &mut dyn FnMut(SampledFrame) -> Result<(), FaceError>,
        ) -> Result<(), FaceError> {
            Err(FaceError::Undecodable("no video in this fake".into()))
        }
        fn analyze(&self, img: &RgbImage) -> Result<FaceObs, FaceError> {
            let p = img.get_pixel(0, 0).0;
            if p == [0, 0, 0] {
                return Err(FaceError::NoFace);
            }
            Ok(FaceObs {
                face_count: 1,
                bbox: [0.0, 0.0, 10.0, 10.0],
                score: 0.9,
                landmarks5: [[2.0, 3.0], [8.0, 3.0], [5.0, 5.0], [3.0, 8.0], [7.0, 8.0]],
                embedding: FaceEmbedding {
                    model_id: "fake".into(),
                    model_version: "1".into(),
                    vector: p.iter().map(|c| f32::from(*c) / 255.0).collect(),
                },
                quality: 0.5,
            })
        }
        fn passive_liveness(&self, _: &RgbImage, _: &FaceObs) -> Result<f32, FaceError> {
            self.passive.ok_or(FaceError::NoPassiveModel)
        }
        fn mesh(&self, _: &RgbImage, _: &FaceObs) -> Result<Vec<[f32; 2]>, FaceError> {
            Err(FaceError::Model("no mesh".into()))
        }
        fn match_confidence(&self, a: &FaceEmbedding, b: &FaceEmbedding) -> Result<f32, FaceError> {
            let d: f32 = a
                .vector
                .iter()
                .zip(&b.vector)
                .map(|(x, y)| (x - y).abs())
                .sum();
            Ok((1.0 - d).max(0.0))
        }
    }

    fn media(tags: &[&str]) -> MediaRec {
        let id = Uuid::new_v4();
        MediaRec {
            media_id: id,
            folder_id: Uuid::nil(),
            company_id: Uuid::nil(),
            media_type: MediaType::Image,
            field_name: "f".into(),
            original_name: "f.png".into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            meta_data: json!({}),
            file_id: id,
            size: 1,
            time_created: 0.0,
            time_updated: 0.0,
        }
    }

    fn run(fake: &Fake, kind: AnalysisType, items: &[(MediaRec, Vec<u8>)]) -> Outcome {
        let bytes: HashMap<Uuid, Vec<u8>> =
            items.iter().map(|(m, b)| (m.media_id, b.clone())).collect();
        let list: Vec<MediaRec> = items.iter().map(|(m, _)| m.clone()).collect();
        execute(
            fake,
            &MemorySource(&bytes),
            kind,
            &list,
            &[],
            &json!({}),
            &Config::default(),
        )
    }

    #[test]
    fn still_quality_without_a_passive_model_fails_with_the_documented_reason() {
        let fake = Fake { passive: None };
        let out = run(
            &fake,
            AnalysisType::Quality,
            &[(media(&["photo_selfie"]), png([200, 100, 50]))],
        );
        assert_eq!(out.state, State::Failed);
        let msg = out.error_message.unwrap_or_default();
        assert!(msg.contains("no passive liveness model installed"), "{msg}");
        assert_eq!(out.media[0].resolution, Resolution::Failed);
        let with = Fake { passive: Some(0.2) };
        let out = run(
            &with,
            AnalysisType::Quality,
            &[(media(&[]), png([200, 100, 50]))],
        );
        assert_eq!(
            (out.state, out.verdict),
            (State::Finished, Some(Resolution::Success))
        );
        assert!(out.media[0].best_shot.is_some());
        let attack = Fake { passive: Some(0.7) };
        let out = run(
            &attack,
            AnalysisType::Quality,
            &[(media(&[]), png([200, 100, 50]))],
        );
        assert_eq!(out.verdict, Some(Resolution::Declined));
    }

    #[test]
    fn quality_with_only_document_photos_fails_as_no_eligible_media() {
        let fake = Fake { passive: Some(0.1) };
        let out = run(
            &fake,
            AnalysisType::Quality,
            &[(media(&["photo_id", "photo_id_front"]), png([9, 9, 9]))],
        );
        assert_eq!(out.state, State::Failed);
        assert!(out
            .error_message
            .unwrap_or_default()
            .contains("no eligible media"));
    }

    #[test]
    fn biometry_reports_the_worst_pair_and_fails_without_faces() {
        let fake = Fake { passive: None };
        let same = run(
            &fake,
            AnalysisType::Biometry,
            &[
                (media(&[]), png([200, 100, 50])),
                (media(&[]), png([200, 100, 50])),
            ],
        );
        assert_eq!(same.verdict, Some(Resolution::Success));
        let three = run(
            &fake,
            AnalysisType::Biometry,
            &[
                (media(&[]), png([200, 100, 50])),
                (media(&[]), png([200, 100, 50])),
                (media(&[]), png([100, 100, 50])),
            ],
        );
        assert_eq!(three.verdict, Some(Resolution::Declined));
        let min = three.results_data["min_confidence"].as_f64().expect("min");
        let max = three.results_data["max_confidence"].as_f64().expect("max");
        assert!(min < 0.85 && max > 0.99, "{min} {max}");
        assert_eq!(
            three.results_data["pairs"].as_array().map(Vec::len),
            Some(3)
        );
        let one = run(
            &fake,
            AnalysisType::Biometry,
            &[(media(&[]), png([1, 2, 3]))],
        );
        assert_eq!(one.state, State::Failed);
        let noface = run(
            &fake,
            AnalysisType::Biometry,
            &[
                (media(&[]), png([200, 100, 50])),
                (media(&[]), png([0, 0, 0])),
            ],
        );
        assert_eq!(noface.state, State::Failed);
        assert!(noface.error_message.unwrap_or_default().contains("no face"));
    }

    #[test]
    fn outcomes_become_records_with_best_shot_files() {
        let fake = Fake { passive: Some(0.1) };
        let out = run(
            &fake,
            AnalysisType::Quality,
            &[(media(&[]), png([200, 100, 50]))],
        );
        let mut a = AnalysisRec {
            analysis_id: Uuid::new_v4(),
            folder_id: Uuid::nil(),
            company_id: Uuid::nil(),
            group_id: Uuid::nil(),
            analysis_type: AnalysisType::Quality,
            state: State::Processing,
            resolution_status: Resolution::Processing,
            requested_media: vec![],
            source_media: vec![],
            params: json!({}),
            meta_data: json!({}),
            results_data: json!({}),
            results_media: vec![],
            error_message: None,
            resolution_endpoint: None,
            time_created: 0.0,
            time_updated: 0.0,
            time_finished: None,
        };
        let shots = apply_outcome(&mut a, out);
        assert_eq!(a.state, State::Finished);
        assert_eq!(a.resolution_status, Resolution::Success);
        assert_eq!(shots.len(), 1);
        assert_eq!(a.results_media[0].output_images[0].file_id, shots[0].0);
        assert!(a.results_media[0].results_data["confidence_spoofing"].is_number());
    }
}
