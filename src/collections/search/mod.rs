//! The in-memory 1:N search engine: every collection's templates, one [`Gallery`] per
//! collection, for the embedding model the server runs now.
//!
//! Templates of any other model (or model version) are never loaded here, so a probe can never be
//! compared with a template from another model; they are re-made from the stored person images
//! when the model changes (see `collections::Collections::open`).

pub mod gallery;
pub mod kernel;

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use uuid::Uuid;

pub use gallery::{hit_order, Gallery, Hit};

/// Why a vector could not be indexed or searched for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SearchError {
    #[error("the embedding has {got} values, the collection's model makes {expected}")]
    Dimension { expected: usize, got: usize },
    #[error("the embedding contains a value that is not a finite number of sane magnitude")]
    NotFinite,
    #[error("the embedding is all zeros")]
    ZeroVector,
    #[error("the embedding was made by model {got}, the collections hold templates of {expected}; it is never compared across models")]
    ModelMismatch { expected: String, got: String },
}

/// Which model made a template: id and version, as the vision engine reports them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelKey {
    pub id: String,
    pub version: String,
}

impl std::fmt::Display for ModelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.id, self.version)
    }
}

/// A hit found in one of several collections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CollectionHit {
    pub collection_id: Uuid,
    pub hit: Hit,
}

/// Every collection's gallery, behind one lock: searches share it, changes take it briefly.
pub struct SearchIndex {
    model: ModelKey,
    galleries: RwLock<HashMap<Uuid, Gallery>>,
}

impl SearchIndex {
    /// An empty index for templates of `model`. Each collection's gallery takes the vector
    /// length of its first template and refuses other lengths.
    pub fn new(model: ModelKey) -> SearchIndex {
        SearchIndex {
            model,
            galleries: RwLock::new(HashMap::new()),
        }
    }

    /// The model whose templates this index holds.
    pub fn model(&self) -> &ModelKey {
        &self.model
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<Uuid, Gallery>> {
        // A panic while holding the lock would be a bug; the data stays consistent because
        // every mutation is a single call on one gallery, so keep serving.
        self.galleries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<Uuid, Gallery>> {
        self.galleries.write().unwrap_or_else(|p| p.into_inner())
    }

    fn check_model(&self, model: &ModelKey) -> Result<(), SearchError> {
        if *model != self.model {
            return Err(SearchError::ModelMismatch {
                expected: self.model.to_string(),
                got: model.to_string(),
            });
        }
        Ok(())
    }

    /// Adds a template to a collection's gallery (creating the gallery).
    pub fn insert(
        &self,
        collection_id: Uuid,
        template_id: Uuid,
        person_id: Uuid,
        model: &ModelKey,
        vector: &[f32],
    ) -> Result<(), SearchError> {
        self.check_model(model)?;
        let mut g = self.write();
        g.entry(collection_id)
            .or_insert_with(|| Gallery::new(vector.len()))
            .insert(template_id, person_id, vector)
    }

    /// Removes templates of a collection (absent ids are ignored).
    pub fn remove(&self, collection_id: Uuid, template_ids: &[Uuid]) {
        let mut g = self.write();
        if let Some(gallery) = g.get_mut(&collection_id) {
            for t in template_ids {
                gallery.remove(*t);
            }
            if gallery.is_empty() {
                g.remove(&collection_id);
            }
        }
    }

    /// Forgets a whole collection.
    pub fn drop_collection(&self, collection_id: Uuid) {
        self.write().remove(&collection_id);
    }

    /// Number of templates in a collection.
    pub fn len_of(&self, collection_id: Uuid) -> usize {
        self.read().get(&collection_id).map_or(0, Gallery::len)
    }

    /// Total templates held.
    pub fn total(&self) -> usize {
        self.read().values().map(Gallery::len).sum()
    }

    /// The best `k` templates over the given collections, exact, ordered by [`hit_order`].
    pub fn search(
        &self,
        collections: &[Uuid],
        model: &ModelKey,
        query: &[f32],
        k: usize,
    ) -> Result<Vec<CollectionHit>, SearchError> {
        self.check_model(model)?;
        let g = self.read();
        let mut all = Vec::new();
        for c in collections {
            if let Some(gallery) = g.get(c) {
                for hit in gallery.search(query, k)? {
                    all.push(CollectionHit {
                        collection_id: *c,
                        hit,
                    });
                }
            }
        }
        all.sort_unstable_by(|a, b| hit_order(&a.hit, &b.hit));
        all.truncate(k);
        Ok(all)
    }

    /// The best `persons` distinct persons (each with its best template), exact. A person has
    /// at most `max_templates_per_person` templates, so the top `persons * max` templates
    /// always contain the best template of each of the top `persons` persons.
    pub fn search_persons(
        &self,
        collections: &[Uuid],
        model: &ModelKey,
        query: &[f32],
        persons: usize,
        max_templates_per_person: usize,
    ) -> Result<Vec<CollectionHit>, SearchError> {
        let k = persons.saturating_mul(max_templates_per_person.max(1));
        let hits = self.search(collections, model, query, k)?;
        let mut seen = std::collections::HashSet::new();
        Ok(hits
            .into_iter()
            .filter(|h| seen.insert(h.hit.person_id))
            .take(persons)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(v: &str) -> ModelKey {
        ModelKey {
            id: "m".into(),
            version: v.into(),
        }
    }

    #[test]
    fn other_models_are_never_compared() {
        let idx = SearchIndex::new(key("1"));
        let c = Uuid::new_v4();
        assert!(matches!(
            idx.insert(c, Uuid::new_v4(), Uuid::new_v4(), &key("2"), &[1.0, 0.0]),
            Err(SearchError::ModelMismatch { .. })
        ));
        idx.insert(c, Uuid::new_v4(), Uuid::new_v4(), &key("1"), &[1.0, 0.0])
            .expect("insert");
        assert!(matches!(
            idx.search(&[c], &key("2"), &[1.0, 0.0], 1),
            Err(SearchError::ModelMismatch { .. })
        ));
        assert_eq!(
            idx.search(&[c], &key("1"), &[1.0, 0.0], 1)
                .expect("s")
                .len(),
            1
        );
    }

    #[test]
    fn persons_are_deduplicated_and_collections_kept_apart() {
        let idx = SearchIndex::new(key("1"));
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let (p1, p2, p3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let m = key("1");
        idx.insert(a, Uuid::new_v4(), p1, &m, &[1.0, 0.0])
            .expect("i");
        idx.insert(a, Uuid::new_v4(), p1, &m, &[0.99, 0.1])
            .expect("i");
        idx.insert(a, Uuid::new_v4(), p2, &m, &[0.9, 0.3])
            .expect("i");
        idx.insert(b, Uuid::new_v4(), p3, &m, &[1.0, 0.0])
            .expect("i");
        let got = idx.search_persons(&[a], &m, &[1.0, 0.0], 5, 2).expect("s");
        let persons: Vec<Uuid> = got.iter().map(|h| h.hit.person_id).collect();
        assert_eq!(persons, vec![p1, p2]);
        let both = idx
            .search_persons(&[a, b], &m, &[1.0, 0.0], 1, 2)
            .expect("s");
        assert_eq!(both.len(), 1);
        assert!(both[0].hit.similarity >= 0.999);
        assert!(idx
            .search(&[Uuid::new_v4()], &m, &[1.0, 0.0], 3)
            .expect("s")
            .is_empty());
        idx.drop_collection(a);
        assert_eq!(idx.len_of(a), 0);
        assert_eq!(idx.total(), 1);
    }
}
