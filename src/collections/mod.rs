//! Collections (the 1:N "blacklist"): a company's collections of persons, their
//! images and templates, and the exact in-memory search over them.
//!
//! * [`model`] and [`store`]: the records and their redb tables;
//! * [`files`]: person images on disk, written durably before the records that name them;
//! * [`enrol`]: when a photo is fit to become a template, and why not; [`engine`] runs it on
//!   the vision engine;
//! * [`service`]: the operations (create, list, delete with their rules) on store, files and
//!   index together;
//! * [`search`]: the in-memory index, loaded from the store at start and updated by every
//!   change;
//! * [`analysis`]: the COLLECTION analysis, which `analysis::jobs` runs for stored jobs;
//!   `api::collections` is the HTTP surface.
//!
//! Invariant: the index holds exactly the templates of the stored images whose model id and
//! version are the running embedder's. At start, images with a template of another model are
//! re-enrolled from their stored file (see [`Collections::open`]).

pub mod analysis;
pub mod engine;
pub mod enrol;
pub mod files;
pub mod model;
pub mod search;
pub mod service;
pub mod store;
#[cfg(test)]
mod tests;
pub mod upload;

use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::collections::enrol::{EnrolError, Enroller};
use crate::collections::files::ImageFiles;
use crate::collections::model::PersonImageRec;
use crate::collections::search::{ModelKey, SearchIndex};

/// Errors of the collections layer; mapped to Oz error bodies in `api::error`.
#[derive(Debug, thiserror::Error)]
pub enum CollectionsError {
    #[error("store error: {0}")]
    Store(String),
    #[error("cannot store the image: {0}")]
    Io(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Structure(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
    /// The client stopped sending its request body.
    #[error("{0}")]
    Stalled(String),
    /// The object cannot change in its current state (a person still matched by analyses,
    /// a collection that still has persons); `details` says what blocks it.
    #[error("{message}")]
    Conflict {
        message: String,
        details: serde_json::Value,
    },
    /// A person image without exactly one usable face.
    #[error("{message}")]
    Unusable {
        message: String,
        details: serde_json::Value,
    },
}

impl From<crate::store::StoreError> for CollectionsError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::NotFound { what, key } => {
                CollectionsError::NotFound(format!("{what} {key} not found"))
            }
            other => CollectionsError::Store(other.to_string()),
        }
    }
}

/// The collections part of the application state.
pub struct Collections {
    pub index: SearchIndex,
    /// Makes templates with the running embedder.
    pub enroller: Arc<dyn Enroller>,
    pub files: ImageFiles,
    /// Person deletion holds it exclusively. A COLLECTION analysis holds it shared from its
    /// search until its match references are committed, so a person is never deleted between
    /// being found and being recorded as matched; adding images holds it shared from the commit
    /// until the new templates are indexed, so a deleted person's templates never stay in the
    /// index. Nobody holds it during inference.
    pub match_guard: RwLock<()>,
}

/// What [`Collections::open`] did, for the start-up log.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub templates: usize,
    pub reenrolled: usize,
    /// Images whose template is of another model and could not be re-made (with why).
    pub failed: Vec<(uuid::Uuid, String)>,
}

impl Collections {
    /// Opens the image area and loads every template of the running
    /// model into the index. Templates of another model (or version) are re-made from their
    /// stored image with `enroller` and stored before they are indexed; an image that cannot
    /// be re-enrolled stays stored but is not searched, and is reported.
    pub fn open(
        store: &crate::store::Store,
        data_dir: &Path,
        enroller: Arc<dyn Enroller>,
    ) -> Result<(Collections, LoadReport), CollectionsError> {
        let model = enroller.model();
        let files = ImageFiles::open(data_dir).map_err(|e| CollectionsError::Io(e.to_string()))?;
        let index = SearchIndex::new(model.clone());
        let mut report = LoadReport::default();
        let images: Vec<PersonImageRec> =
            store.list_scoped(&crate::accounts::tenant::Scope::All)?;
        for mut img in images {
            let same =
                img.template.model_id == model.id && img.template.model_version == model.version;
            if !same {
                let remade = files
                    .read(&img.rel_path)
                    .map_err(|e| format!("cannot read the stored image: {e}"))
                    .and_then(|b| match enroller.enrol(&b) {
                        Ok(e) => Ok(e.template),
                        Err(EnrolError::Refused(r)) => Err(r.message),
                        Err(EnrolError::Internal(m)) => Err(m),
                    });
                match remade {
                    Ok(t) if t.model_id == model.id && t.model_version == model.version => {
                        img.template = t;
                        let scope = crate::accounts::tenant::Scope::Company(img.company_id);
                        store.write(|tx| tx.put_scoped(&scope, &img))?;
                        report.reenrolled += 1;
                    }
                    Ok(t) => {
                        report.failed.push((
                            img.person_image_id,
                            format!(
                                "re-enrolment produced a {} {} template",
                                t.model_id, t.model_version
                            ),
                        ));
                        continue;
                    }
                    Err(e) => {
                        report.failed.push((img.person_image_id, e));
                        continue;
                    }
                }
            }
            let key = ModelKey {
                id: img.template.model_id.clone(),
                version: img.template.model_version.clone(),
            };
            match index.insert(
                img.collection_id,
                img.person_image_id,
                img.person_id,
                &key,
                &img.template.vector,
            ) {
                Ok(()) => report.templates += 1,
                Err(e) => report.failed.push((img.person_image_id, e.to_string())),
            }
        }
        Ok((
            Collections {
                index,
                enroller,
                files,
                match_guard: RwLock::new(()),
            },
            report,
        ))
    }
}
