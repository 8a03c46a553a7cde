//! The persisted records of collections: a collection belongs to a company and holds
//! persons; a person holds images; every image carries the template (embedding) made from it,
//! with the id and version of the model that made it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Current UNIX time in seconds (float, as the Oz API emits timestamps).
pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A collection ("blacklist", watchlist) of one company.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectionRec {
    pub collection_id: Uuid,
    pub company_id: Uuid,
    pub alias: String,
    pub meta_data: Value,
    pub time_created: f64,
    pub time_updated: f64,
}

/// A person of a collection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersonRec {
    pub person_id: Uuid,
    pub collection_id: Uuid,
    pub company_id: Uuid,
    pub meta_data: Value,
    /// Images in upload order.
    pub image_ids: Vec<Uuid>,
    pub time_created: f64,
    pub time_updated: f64,
}

/// The template made from a person image: the embedding and the model that made it. Only
/// templates of the running model are searched; others are re-made from the image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TemplateRec {
    pub model_id: String,
    pub model_version: String,
    pub vector: Vec<f32>,
}

/// One photo of a person; its id is also the id of its template in the search index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersonImageRec {
    pub person_image_id: Uuid,
    pub person_id: Uuid,
    pub collection_id: Uuid,
    pub company_id: Uuid,
    /// The multipart field name the image came in.
    pub field_name: String,
    pub original_name: String,
    pub tags: Vec<String>,
    /// Stored file, relative to the collections file root.
    pub rel_path: String,
    pub content_type: String,
    pub size: u64,
    /// Face box `[x1, y1, x2, y2]` the template was made from.
    pub face_bbox: [f32; 4],
    pub template: TemplateRec,
    pub time_created: f64,
}

crate::accounts::tenant::company_owned_by_field!(CollectionRec, PersonRec, PersonImageRec);
