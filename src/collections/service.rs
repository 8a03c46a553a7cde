//! The collection operations, each keeping store, image files and search index in step:
//! files are written (durably) first, then one redb transaction commits the records, then the
//! index changes. A failed commit removes the new files; the index never holds a template the
//! store does not.
//!
//! Rules kept here:
//! * a collection alias is unique within its company;
//! * a collection can be deleted only once it has no persons;
//! * a person that a COLLECTION analysis reported as a hit cannot be deleted until those
//!   analyses are deleted (an analysis still running on it blocks too);
//! * deleting a person deletes its images, their files and their templates.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::accounts::tenant::Scope;
use crate::collections::model::{now_secs, CollectionRec, PersonImageRec, PersonRec, TemplateRec};
use crate::collections::search::ModelKey;
use crate::collections::store::{link, linked, persons_of, unlink};
use crate::collections::{Collections, CollectionsError};
use crate::meta_change::MetaChange;
use crate::store::tables;
use crate::store::{Store, StoreError, StoreRead, WriteTx};

/// Longest collection alias, characters.
pub const MAX_ALIAS_CHARS: usize = 128;

fn not_found(what: &str, id: Uuid) -> CollectionsError {
    CollectionsError::NotFound(format!("{what} {id} not found"))
}

/// Validates an alias: 1..=128 characters after trimming, no control characters.
pub fn validate_alias(alias: &str) -> Result<String, CollectionsError> {
    let a = alias.trim();
    if a.is_empty() || a.chars().count() > MAX_ALIAS_CHARS || a.chars().any(char::is_control) {
        return Err(CollectionsError::Invalid(format!(
            "`alias` must be 1 to {MAX_ALIAS_CHARS} characters without control characters"
        )));
    }
    Ok(a.to_string())
}

/// Creates a collection of `company`.
pub fn create_collection(
    store: &Store,
    company: Uuid,
    alias: &str,
    meta_data: Value,
) -> Result<CollectionRec, CollectionsError> {
    let alias = validate_alias(alias)?;
    let scope = Scope::Company(company);
    store.write(|tx| {
        // Alias uniqueness per company, checked inside the write transaction (race-free).
        if let Some(c) = tx
            .list_scoped::<CollectionRec>(&scope)?
            .into_iter()
            .find(|c| c.alias == alias)
        {
            return Err(CollectionsError::Conflict {
                message: format!("the company already has a collection with alias '{alias}'"),
                details: json!({"collection_id": c.collection_id}),
            });
        }
        let now = now_secs();
        let rec = CollectionRec {
            collection_id: Uuid::new_v4(),
            company_id: company,
            alias,
            meta_data,
            time_created: now,
            time_updated: now,
        };
        tx.put_scoped(&scope, &rec)?;
        Ok(rec)
    })
}

/// Collections visible to `scope`, oldest first; `alias` and `company` filter.
pub fn list_collections(
    store: &Store,
    scope: &Scope,
    alias: Option<&str>,
    company: Option<Uuid>,
) -> Result<Vec<CollectionRec>, CollectionsError> {
    let mut all: Vec<CollectionRec> = store.list_scoped(scope)?;
    all.retain(|c| {
        alias.is_none_or(|a| c.alias == a) && company.is_none_or(|id| c.company_id == id)
    });
    all.sort_by(|a, b| a.time_created.total_cmp(&b.time_created));
    Ok(all)
}

/// A collection visible to `scope` (404 otherwise).
pub fn get_collection(
    store: &Store,
    scope: &Scope,
    id: Uuid,
) -> Result<CollectionRec, CollectionsError> {
    store
        .get_scoped(scope, &id.to_string())
        .map_err(|_| not_found("collection", id))
}

/// Changes a collection's `meta_data`; returns the new object.
pub fn change_collection_meta(
    store: &Store,
    c: &CollectionRec,
    change: MetaChange,
) -> Result<Value, CollectionsError> {
    let scope = Scope::Company(c.company_id);
    store.write(|tx| {
        let mut rec: CollectionRec = tx
            .find_scoped::<CollectionRec>(&scope, &c.collection_id.to_string())?
            .ok_or_else(|| not_found("collection", c.collection_id))?;
        change.apply(&mut rec.meta_data);
        rec.time_updated = now_secs();
        tx.put_scoped(&scope, &rec)?;
        Ok(rec.meta_data)
    })
}

/// Number of persons of a collection.
pub fn person_count(store: &Store, collection: Uuid) -> Result<usize, CollectionsError> {
    Ok(store.read(|tx| persons_of(tx, collection))?.len())
}

/// Deletes an empty collection.
pub fn delete_collection(
    store: &Store,
    cols: &Collections,
    c: &CollectionRec,
) -> Result<(), CollectionsError> {
    store.write(|tx| {
        let persons = persons_of(tx, c.collection_id)?;
        if !persons.is_empty() {
            return Err(CollectionsError::Conflict {
                message: format!(
                    "collection {} still has {} persons; delete them first",
                    c.collection_id,
                    persons.len()
                ),
                details: json!({"persons": persons.len()}),
            });
        }
        tx.delete_scoped::<CollectionRec>(
            &Scope::Company(c.company_id),
            &c.collection_id.to_string(),
        )?;
        Ok(())
    })?;
    cols.index.drop_collection(c.collection_id);
    Ok(())
}

/// A person image ready to be stored: its bytes and the template made from it.
pub struct NewImage {
    pub field_name: String,
    pub original_name: String,
    pub tags: Vec<String>,
    pub ext: &'static str,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    pub face_bbox: [f32; 4],
    pub template: TemplateRec,
}

fn store_files(
    cols: &Collections,
    c: &CollectionRec,
    person: Uuid,
    images: Vec<NewImage>,
) -> Result<Vec<PersonImageRec>, CollectionsError> {
    let now = now_secs();
    let mut recs: Vec<PersonImageRec> = Vec::with_capacity(images.len());
    for img in images {
        let id = Uuid::new_v4();
        let rel = crate::collections::files::ImageFiles::rel_path(
            c.company_id,
            c.collection_id,
            id,
            img.ext,
        );
        if let Err(e) = cols.files.write(&rel, &img.bytes) {
            remove_files(cols, &recs);
            return Err(CollectionsError::Io(e.to_string()));
        }
        recs.push(PersonImageRec {
            person_image_id: id,
            person_id: person,
            collection_id: c.collection_id,
            company_id: c.company_id,
            field_name: img.field_name,
            original_name: img.original_name,
            tags: img.tags,
            rel_path: rel,
            content_type: img.content_type.to_string(),
            size: img.bytes.len() as u64,
            face_bbox: img.face_bbox,
            template: img.template,
            time_created: now,
        });
    }
    Ok(recs)
}

fn remove_files(cols: &Collections, recs: &[PersonImageRec]) {
    for r in recs {
        cols.files.remove(&r.rel_path);
    }
}

fn index_images(cols: &Collections, recs: &[PersonImageRec]) {
    for r in recs {
        let key = ModelKey {
            id: r.template.model_id.clone(),
            version: r.template.model_version.clone(),
        };
        // Templates were made by the running engine, so this cannot be refused; if it were,
        // the image stays stored and is re-made at the next start.
        if let Err(e) = cols.index.insert(
            r.collection_id,
            r.person_image_id,
            r.person_id,
            &key,
            &r.template.vector,
        ) {
            eprintln!(
                "facelite: person image {} not indexed: {e}",
                r.person_image_id
            );
        }
    }
}

/// Creates a person with its images (at least one).
pub fn add_person(
    store: &Store,
    cols: &Collections,
    c: &CollectionRec,
    meta_data: Value,
    images: Vec<NewImage>,
) -> Result<(PersonRec, Vec<PersonImageRec>), CollectionsError> {
    if images.is_empty() {
        return Err(CollectionsError::Structure(
            "a person needs at least one image part (a photo showing exactly one face)".into(),
        ));
    }
    let person_id = Uuid::new_v4();
    let recs = store_files(cols, c, person_id, images)?;
    let now = now_secs();
    let person = PersonRec {
        person_id,
        collection_id: c.collection_id,
        company_id: c.company_id,
        meta_data,
        image_ids: recs.iter().map(|r| r.person_image_id).collect(),
        time_created: now,
        time_updated: now,
    };
    let scope = Scope::Company(c.company_id);
    let committed = store.write(|tx| {
        // The collection may have been deleted meanwhile.
        if tx
            .find_scoped::<CollectionRec>(&scope, &c.collection_id.to_string())?
            .is_none()
        {
            return Err(not_found("collection", c.collection_id));
        }
        tx.put_scoped(&scope, &person)?;
        link(
            tx,
            tables::PERSONS_BY_COLLECTION,
            c.collection_id,
            person_id,
        )?;
        for r in &recs {
            tx.put_scoped(&scope, r)?;
        }
        Ok(())
    });
    if let Err(e) = committed {
        remove_files(cols, &recs);
        return Err(e);
    }
    index_images(cols, &recs);
    Ok((person, recs))
}

/// Adds images to a person, at most `max_images` in total.
pub fn add_images(
    store: &Store,
    cols: &Collections,
    c: &CollectionRec,
    person_id: Uuid,
    images: Vec<NewImage>,
    max_images: usize,
) -> Result<(PersonRec, Vec<PersonImageRec>), CollectionsError> {
    if images.is_empty() {
        return Err(CollectionsError::Structure(
            "no image part in the request".into(),
        ));
    }
    let recs = store_files(cols, c, person_id, images)?;
    let scope = Scope::Company(c.company_id);
    // Shared across the commit and the index update: a deletion of this person (exclusive)
    // either commits first, and the commit below finds no person, or waits until the new
    // templates are indexed, and then removes them with the rest. Without it the deletion
    // could run in between and leave the new templates of a deleted person in the index.
    let _shared = cols.match_guard.read().unwrap_or_else(|p| p.into_inner());
    let committed = store.write(|tx| {
        let mut person: PersonRec = tx
            .find_scoped::<PersonRec>(&scope, &person_id.to_string())?
            .filter(|p| p.collection_id == c.collection_id)
            .ok_or_else(|| not_found("person", person_id))?;
        if person.image_ids.len() + recs.len() > max_images {
            return Err(CollectionsError::TooLarge(format!(
                "a person may have at most {max_images} images; this one has {} and the request adds {}",
                person.image_ids.len(),
                recs.len()
            )));
        }
        person.image_ids.extend(recs.iter().map(|r| r.person_image_id));
        person.time_updated = now_secs();
        tx.put_scoped(&scope, &person)?;
        for r in &recs {
            tx.put_scoped(&scope, r)?;
        }
        Ok(person)
    });
    match committed {
        Ok(person) => {
            index_images(cols, &recs);
            Ok((person, recs))
        }
        Err(e) => {
            remove_files(cols, &recs);
            Err(e)
        }
    }
}

/// A person of collection `c`.
pub fn get_person(
    store: &Store,
    c: &CollectionRec,
    person_id: Uuid,
) -> Result<PersonRec, CollectionsError> {
    store
        .read(|tx| {
            tx.find_scoped::<PersonRec>(&Scope::Company(c.company_id), &person_id.to_string())
        })?
        .filter(|p| p.collection_id == c.collection_id)
        .ok_or_else(|| not_found("person", person_id))
}

/// Images of a person, in upload order.
pub fn images_of(store: &Store, p: &PersonRec) -> Result<Vec<PersonImageRec>, CollectionsError> {
    let scope = Scope::Company(p.company_id);
    Ok(store.read(|tx| {
        let mut out = Vec::with_capacity(p.image_ids.len());
        for id in &p.image_ids {
            if let Some(r) = tx.find_scoped::<PersonImageRec>(&scope, &id.to_string())? {
                out.push(r);
            }
        }
        Ok(out)
    })?)
}

/// A page of a collection's persons (key order), and the total.
pub fn list_persons(
    store: &Store,
    c: &CollectionRec,
    offset: usize,
    limit: usize,
) -> Result<(Vec<PersonRec>, usize), CollectionsError> {
    let scope = Scope::Company(c.company_id);
    Ok(store.read(|tx| {
        let ids = persons_of(tx, c.collection_id)?;
        let total = ids.len();
        let mut out = Vec::new();
        for id in ids.into_iter().skip(offset).take(limit) {
            if let Some(p) = tx.find_scoped::<PersonRec>(&scope, &id.to_string())? {
                out.push(p);
            }
        }
        Ok((out, total))
    })?)
}

/// Analyses that block deleting `person`: those recorded as having matched it that still
/// report it (or still run), as `analysis::repo` answers; the other references are stale.
fn blocking_analyses(
    tx: &WriteTx,
    person: Uuid,
) -> Result<(Vec<Uuid>, Vec<Uuid>), CollectionsError> {
    let refs = linked(tx, tables::PERSON_MATCHES, person)?;
    crate::analysis::repo::analyses_holding_person(crate::store::raw::write_txn(tx), person, &refs)
        .map_err(|e| CollectionsError::Store(e.to_string()))
}

/// Records that analysis `analysis` reported `persons` as hits (before its result is stored).
pub fn record_matches(
    store: &Store,
    analysis: Uuid,
    persons: &[Uuid],
) -> Result<(), CollectionsError> {
    if persons.is_empty() {
        return Ok(());
    }
    Ok(store.write(|tx| {
        for p in persons {
            link(tx, tables::PERSON_MATCHES, *p, analysis)?;
        }
        Ok::<(), StoreError>(())
    })?)
}

/// Deletes a person with its images and templates, unless analyses still report it.
pub fn delete_person(
    store: &Store,
    cols: &Collections,
    c: &CollectionRec,
    person_id: Uuid,
) -> Result<(), CollectionsError> {
    // Exclusive until the index no longer holds the person's templates: no COLLECTION
    // analysis is between its search and its recorded matches, and no image addition is
    // between its commit and its index update.
    let _exclusive = cols.match_guard.write().unwrap_or_else(|p| p.into_inner());
    let scope = Scope::Company(c.company_id);
    let images = store.write(|tx| {
        let person: PersonRec = tx
            .find_scoped::<PersonRec>(&scope, &person_id.to_string())?
            .filter(|p| p.collection_id == c.collection_id)
            .ok_or_else(|| not_found("person", person_id))?;
        let (blocking, stale) = blocking_analyses(tx, person_id)?;
        if !blocking.is_empty() {
            return Err(CollectionsError::Conflict {
                message: format!(
                    "person {person_id} was matched by {} COLLECTION analyses; delete those analyses (or their folders) first",
                    blocking.len()
                ),
                details: json!({"analysis_ids": blocking}),
            });
        }
        let mut images = Vec::new();
        for id in &person.image_ids {
            if let Some(i) = tx.find_scoped::<PersonImageRec>(&scope, &id.to_string())? {
                tx.delete_scoped::<PersonImageRec>(&scope, &id.to_string())?;
                images.push(i);
            }
        }
        tx.delete_scoped::<PersonRec>(&scope, &person_id.to_string())?;
        unlink(tx, tables::PERSONS_BY_COLLECTION, c.collection_id, person_id)?;
        for a in stale {
            unlink(tx, tables::PERSON_MATCHES, person_id, a)?;
        }
        Ok(images)
    })?;
    let ids: Vec<Uuid> = images.iter().map(|i| i.person_image_id).collect();
    cols.index.remove(c.collection_id, &ids);
    remove_files(cols, &images);
    Ok(())
}

/// Deletes one image (and its template) of a person.
pub fn delete_image(
    store: &Store,
    cols: &Collections,
    c: &CollectionRec,
    person_id: Uuid,
    image_id: Uuid,
) -> Result<(), CollectionsError> {
    let scope = Scope::Company(c.company_id);
    let img = store.write(|tx| {
        let mut person: PersonRec = tx
            .find_scoped::<PersonRec>(&scope, &person_id.to_string())?
            .filter(|p| p.collection_id == c.collection_id)
            .ok_or_else(|| not_found("person", person_id))?;
        let img: PersonImageRec = tx
            .find_scoped::<PersonImageRec>(&scope, &image_id.to_string())?
            .filter(|i| i.person_id == person_id)
            .ok_or_else(|| not_found("person image", image_id))?;
        person.image_ids.retain(|i| *i != image_id);
        person.time_updated = now_secs();
        tx.put_scoped(&scope, &person)?;
        tx.delete_scoped::<PersonImageRec>(&scope, &image_id.to_string())?;
        Ok::<_, CollectionsError>(img)
    })?;
    cols.index.remove(c.collection_id, &[image_id]);
    cols.files.remove(&img.rel_path);
    Ok(())
}

/// One stored person image with its bytes (for the file route).
pub fn image_file(
    store: &Store,
    cols: &Collections,
    c: &CollectionRec,
    person_id: Uuid,
    image_id: Uuid,
) -> Result<(PersonImageRec, Vec<u8>), CollectionsError> {
    let img: PersonImageRec = store
        .read(|tx| {
            tx.find_scoped::<PersonImageRec>(&Scope::Company(c.company_id), &image_id.to_string())
        })?
        .filter(|i| i.person_id == person_id && i.collection_id == c.collection_id)
        .ok_or_else(|| not_found("person image", image_id))?;
    let bytes = cols
        .files
        .read(&img.rel_path)
        .map_err(|e| CollectionsError::Io(format!("cannot read the stored image: {e}")))?;
    Ok((img, bytes))
}

/// The stored template of a person image (for scoring a hit).
pub fn template_of(
    store: &Store,
    company: Uuid,
    image_id: Uuid,
) -> Result<Option<TemplateRec>, CollectionsError> {
    Ok(store
        .read(|tx| {
            tx.find_scoped::<PersonImageRec>(&Scope::Company(company), &image_id.to_string())
        })?
        .map(|i| i.template))
}

/// The collections of `company` (what a COLLECTION analysis searches by default).
pub fn collections_of_company(
    store: &Store,
    company: Uuid,
) -> Result<Vec<CollectionRec>, CollectionsError> {
    list_collections(store, &Scope::Company(company), None, None)
}
