//! The collections layer without the face models: a scripted enroller stands in for the vision
//! engine. Checks the re-enrolment on a model change and the deletion rules against the flow's
//! analysis records.

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

use crate::analysis::model::fixtures::collection_analysis;
use crate::analysis::model::{AnalysisRec, State};
use crate::collections::enrol::{EnrolError, Enrolled, Enroller, Refusal};
use crate::collections::model::{CollectionRec, PersonImageRec, PersonRec, TemplateRec};
use crate::collections::search::ModelKey;
use crate::collections::service::{self, NewImage};
use crate::collections::{Collections, CollectionsError};
use crate::store::Store;

/// Templates are the first four bytes of the image, as a vector; `refuse` refuses every image.
struct Scripted {
    version: &'static str,
    refuse: bool,
}

impl Enroller for Scripted {
    fn model(&self) -> ModelKey {
        ModelKey {
            id: "scripted".into(),
            version: self.version.into(),
        }
    }
    fn enrol(&self, bytes: &[u8]) -> Result<Enrolled, EnrolError> {
        if self.refuse || bytes.len() < 4 {
            return Err(EnrolError::Refused(Refusal {
                reason: "no_face",
                message: "no face".into(),
            }));
        }
        Ok(Enrolled {
            template: TemplateRec {
                model_id: "scripted".into(),
                model_version: self.version.into(),
                vector: bytes[..4].iter().map(|b| f32::from(*b) + 1.0).collect(),
            },
            face_bbox: [0.0, 0.0, 10.0, 10.0],
        })
    }
}

fn open(
    dir: &std::path::Path,
    version: &'static str,
    refuse: bool,
) -> (Store, Collections, usize, usize, usize) {
    let store = Store::open_in(dir).expect("store");
    crate::analysis::repo::ensure_tables(crate::store::raw::db(&store)).expect("flow tables");
    let (cols, report) =
        Collections::open(&store, dir, Arc::new(Scripted { version, refuse })).expect("open");
    (
        store,
        cols,
        report.templates,
        report.reenrolled,
        report.failed.len(),
    )
}

fn image(cols: &Collections, bytes: &[u8]) -> NewImage {
    let e = cols.enroller.enrol(bytes).expect("enrol");
    NewImage {
        field_name: "image1".into(),
        original_name: "a.jpg".into(),
        tags: vec![],
        ext: "jpg",
        content_type: "image/jpeg",
        bytes: bytes.to_vec(),
        face_bbox: e.face_bbox,
        template: e.template,
    }
}

fn search(cols: &Collections, collection: Uuid, version: &str, q: &[f32]) -> Vec<Uuid> {
    let model = ModelKey {
        id: "scripted".into(),
        version: version.into(),
    };
    cols.index
        .search_persons(&[collection], &model, q, 5, 4)
        .map(|hits| hits.iter().map(|h| h.hit.person_id).collect())
        .unwrap_or_default()
}

#[test]
fn a_model_change_re_enrols_from_the_stored_images_and_never_compares_across_models() {
    let dir = tempfile::tempdir().expect("tmp");
    let company = Uuid::new_v4();
    let (cid, pid) = {
        let (store, cols, n, _, _) = open(dir.path(), "1", false);
        assert_eq!(n, 0);
        let c = service::create_collection(&store, company, "watch", json!({})).expect("c");
        let (p, _) = service::add_person(
            &store,
            &cols,
            &c,
            json!({}),
            vec![image(&cols, &[9, 0, 0, 0, 7]), image(&cols, &[8, 1, 0, 0])],
        )
        .expect("person");
        assert_eq!(
            search(&cols, c.collection_id, "1", &[10.0, 1.0, 1.0, 1.0]),
            vec![p.person_id]
        );
        (c.collection_id, p.person_id)
    };
    // Same model: loaded as stored.
    {
        let (_, cols, n, re, failed) = open(dir.path(), "1", false);
        assert_eq!((n, re, failed), (2, 0, 0));
        assert_eq!(search(&cols, cid, "1", &[10.0, 1.0, 1.0, 1.0]), vec![pid]);
    }
    // Another version: every template is re-made from its stored image, and only the new
    // model's queries are answered.
    {
        let (store, cols, n, re, failed) = open(dir.path(), "2", false);
        assert_eq!((n, re, failed), (2, 2, 0));
        assert_eq!(search(&cols, cid, "2", &[10.0, 1.0, 1.0, 1.0]), vec![pid]);
        assert!(search(&cols, cid, "1", &[10.0, 1.0, 1.0, 1.0]).is_empty());
        let p = service::get_person(
            &store,
            &service::get_collection(&store, &crate::accounts::tenant::Scope::All, cid).expect("c"),
            pid,
        )
        .expect("p");
        for img in service::images_of(&store, &p).expect("images") {
            assert_eq!(img.template.model_version, "2");
        }
    }
    // A version whose enroller refuses the images: they stay stored, unsearched, reported.
    let (_, cols, n, re, failed) = open(dir.path(), "3", true);
    assert_eq!((n, re, failed), (0, 0, 2));
    assert_eq!(cols.index.total(), 0);
}

fn put_analysis(store: &Store, a: &AnalysisRec) {
    let flow = crate::analysis::access::ScopedFlow::new(store, crate::accounts::tenant::Scope::All);
    flow.write(|w| w.put(a)).expect("put");
}

fn drop_analysis(store: &Store, id: Uuid) {
    let flow = crate::analysis::access::ScopedFlow::new(store, crate::accounts::tenant::Scope::All);
    flow.write(|w| w.delete::<AnalysisRec>(id)).expect("delete");
}

/// A "watch" collection with one person enrolled from one image.
fn watched_person(
    store: &Store,
    cols: &Collections,
) -> (CollectionRec, PersonRec, Vec<PersonImageRec>) {
    let c = service::create_collection(store, Uuid::new_v4(), "watch", json!({})).expect("c");
    let (p, imgs) =
        service::add_person(store, cols, &c, json!({}), vec![image(cols, &[1, 2, 3, 4])])
            .expect("person");
    (c, p, imgs)
}

#[test]
fn a_matched_person_is_kept_until_its_analyses_are_gone_and_deletion_removes_everything() {
    let dir = tempfile::tempdir().expect("tmp");
    let (store, cols, _, _, _) = open(dir.path(), "1", false);
    let (c, p, imgs) = watched_person(&store, &cols);
    let pid = p.person_id;
    // A running analysis that recorded the person, and a finished one that reports it.
    let running = collection_analysis(State::Processing, None);
    let reported = collection_analysis(State::Finished, Some(pid));
    put_analysis(&store, &running);
    put_analysis(&store, &reported);
    service::record_matches(&store, running.analysis_id, &[pid]).expect("record");
    service::record_matches(&store, reported.analysis_id, &[pid]).expect("record");
    // The collection still has a person.
    assert!(matches!(
        service::delete_collection(&store, &cols, &c),
        Err(CollectionsError::Conflict { .. })
    ));
    match service::delete_person(&store, &cols, &c, pid) {
        Err(CollectionsError::Conflict { details, .. }) => {
            assert_eq!(details["analysis_ids"].as_array().map(Vec::len), Some(2))
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // The running one finishes without naming the person: only the other holds it.
    let mut finished = running.clone();
    finished.state = State::Finished;
    finished.results_media[0].person_id = None;
    put_analysis(&store, &finished);
    match service::delete_person(&store, &cols, &c, pid) {
        Err(CollectionsError::Conflict { details, .. }) => {
            assert_eq!(details["analysis_ids"], json!([reported.analysis_id]))
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    drop_analysis(&store, reported.analysis_id);
    service::delete_person(&store, &cols, &c, pid).expect("deleted once no analysis holds it");
    assert_eq!(cols.index.total(), 0);
    assert!(cols.files.read(&imgs[0].rel_path).is_err());
    assert!(service::images_of(&store, &p).expect("images").is_empty());
    service::delete_collection(&store, &cols, &c).expect("empty collection");
}

/// Adding images commits and indexes under the match guard, so it cannot interleave with a
/// person deletion (which holds the guard exclusively from its check to its index update) and
/// leave a deleted person's new templates in the index.
#[test]
fn adding_images_waits_for_a_deletion_holding_the_guard() {
    let dir = tempfile::tempdir().expect("tmp");
    let (store, cols, _, _, _) = open(dir.path(), "1", false);
    let (c, p, _) = watched_person(&store, &cols);
    let extra = image(&cols, &[5, 6, 7, 8]);
    std::thread::scope(|s| {
        let exclusive = cols.match_guard.write().unwrap_or_else(|e| e.into_inner());
        let adder =
            s.spawn(|| service::add_images(&store, &cols, &c, p.person_id, vec![extra], 16));
        std::thread::sleep(std::time::Duration::from_millis(400));
        assert!(
            !adder.is_finished(),
            "images were added while a deletion held the guard"
        );
        let now = service::get_person(&store, &c, p.person_id).expect("person");
        assert_eq!(
            now.image_ids.len(),
            1,
            "committed while a deletion held the guard"
        );
        assert_eq!(cols.index.total(), 1);
        drop(exclusive);
        let (person, _) = adder.join().expect("thread").expect("added");
        assert_eq!(person.image_ids.len(), 2);
    });
    assert_eq!(cols.index.total(), 2);
    service::delete_person(&store, &cols, &c, p.person_id).expect("deleted");
    assert_eq!(cols.index.total(), 0);
}
