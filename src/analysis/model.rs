//! The persisted records of the Oz flow: folders, media, stored files, analyses, jobs and the
//! webhook outbox, with the Oz API's enums (media types, analysis types, states). Each record is stored as
//! JSON in its own redb table (see [`crate::analysis::repo`]).

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

/// Media types of the Oz API, decided from the bytes, never from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MediaType {
    #[serde(rename = "IMAGE_FOLDER")]
    Image,
    #[serde(rename = "VIDEO_FOLDER")]
    Video,
    #[serde(rename = "SHOTS_SET")]
    ShotsSet,
}

impl MediaType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Image => "IMAGE_FOLDER",
            MediaType::Video => "VIDEO_FOLDER",
            MediaType::ShotsSet => "SHOTS_SET",
        }
    }
}

/// Analysis types. Input accepts any case and `liveness` for QUALITY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnalysisType {
    #[serde(rename = "QUALITY")]
    Quality,
    #[serde(rename = "BIOMETRY")]
    Biometry,
    #[serde(rename = "COLLECTION")]
    Collection,
    #[serde(rename = "DOCUMENTS")]
    Documents,
}

impl AnalysisType {
    /// Parses a client's type string (any case; `liveness` = QUALITY).
    pub fn parse(s: &str) -> Option<AnalysisType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "quality" | "liveness" => Some(AnalysisType::Quality),
            "biometry" => Some(AnalysisType::Biometry),
            "collection" => Some(AnalysisType::Collection),
            "documents" => Some(AnalysisType::Documents),
            _ => None,
        }
    }

    /// The upper-case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AnalysisType::Quality => "QUALITY",
            AnalysisType::Biometry => "BIOMETRY",
            AnalysisType::Collection => "COLLECTION",
            AnalysisType::Documents => "DOCUMENTS",
        }
    }
}

/// `analysis.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    Processing,
    Failed,
    Finished,
}

/// The verdict vocabulary of `resolution_status` / `resolution` / `system_resolution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Resolution {
    Initial,
    Processing,
    Failed,
    Finished,
    Declined,
    OperatorRequired,
    Success,
}

impl Resolution {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Initial => "INITIAL",
            Resolution::Processing => "PROCESSING",
            Resolution::Failed => "FAILED",
            Resolution::Finished => "FINISHED",
            Resolution::Declined => "DECLINED",
            Resolution::OperatorRequired => "OPERATOR_REQUIRED",
            Resolution::Success => "SUCCESS",
        }
    }

    /// Parses a wire name (any case).
    pub fn parse(s: &str) -> Option<Resolution> {
        serde_json::from_value(Value::String(s.trim().to_ascii_uppercase())).ok()
    }
}

/// A folder: the unit an integrator uploads media into and runs analyses on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FolderRec {
    pub folder_id: Uuid,
    /// Owning company; nil for folders created by a company-less ADMIN.
    pub company_id: Uuid,
    pub user_id: Uuid,
    pub time_created: f64,
    pub time_updated: f64,
    pub meta_data: Value,
    /// Base URL (scheme + host) of the request that created the folder, for links in webhook
    /// bodies when `server.public_url` is not configured.
    pub base_url: String,
    /// Webhook URL applying to every analysis group of the folder.
    pub resolution_endpoint: Option<String>,
    pub resolution_status: Resolution,
    pub system_resolution: Resolution,
    /// Media in upload order.
    pub media_ids: Vec<Uuid>,
    /// Analyses in creation order.
    pub analysis_ids: Vec<Uuid>,
}

/// One uploaded file of a folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MediaRec {
    pub media_id: Uuid,
    pub folder_id: Uuid,
    pub company_id: Uuid,
    pub media_type: MediaType,
    /// The multipart field name the file came in (the key of `media:tags`).
    pub field_name: String,
    pub original_name: String,
    pub tags: Vec<String>,
    pub meta_data: Value,
    /// Stored file (see [`FileRec`]); equals `media_id`.
    pub file_id: Uuid,
    pub size: u64,
    pub time_created: f64,
    pub time_updated: f64,
}

/// A file on disk that the file route serves: an uploaded media or a produced best shot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileRec {
    pub file_id: Uuid,
    pub company_id: Uuid,
    pub folder_id: Uuid,
    /// Path relative to the media root of the data dir.
    pub rel_path: String,
    pub content_type: String,
    pub size: u64,
}

/// A produced image (best shot) attached to a per-media result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputImage {
    pub file_id: Uuid,
    /// What the image is (`best_shot`).
    pub kind: String,
}

/// Result of one analysis for one source media (`results_media[]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultMedia {
    pub result_media_id: Uuid,
    pub source_media_id: Uuid,
    pub media_type: MediaType,
    pub resolution_status: Resolution,
    pub results_data: Value,
    pub output_images: Vec<OutputImage>,
    /// COLLECTION: the best-matching person at or above the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<Uuid>,
    /// COLLECTION: every person matched at or above the threshold (`person_id` among them).
    /// Not served (the client reads `results_data.matches`); it is what keeps each of them
    /// from being deleted while the analysis exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched_persons: Vec<Uuid>,
}

/// An analysis.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnalysisRec {
    pub analysis_id: Uuid,
    pub folder_id: Uuid,
    pub company_id: Uuid,
    /// Analyses created by one request form a group; a webhook fires when a group finishes.
    pub group_id: Uuid,
    pub analysis_type: AnalysisType,
    pub state: State,
    pub resolution_status: Resolution,
    /// Media requested explicitly (`source_media`); empty = chosen by the rules of 2.7.
    pub requested_media: Vec<Uuid>,
    /// Media actually consumed (filled when the analysis ran).
    pub source_media: Vec<Uuid>,
    pub params: Value,
    pub meta_data: Value,
    pub results_data: Value,
    pub results_media: Vec<ResultMedia>,
    /// Why the analysis FAILED, for the client.
    pub error_message: Option<String>,
    /// Webhook for this analysis' group (from the analyses body or the folder).
    pub resolution_endpoint: Option<String>,
    pub time_created: f64,
    pub time_updated: f64,
    /// When the result was stored. `time_updated` also moves on a `meta_data` edit, so the
    /// folder's "last finished group" is found by this instead. Absent in records
    /// written before it existed (then `time_updated` stands in).
    #[serde(default)]
    pub time_finished: Option<f64>,
}

/// A queued analysis: present while the analysis is PROCESSING, removed in the transaction
/// that stores its result. Jobs found at start are run again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRec {
    pub analysis_id: Uuid,
    pub enqueued_at: f64,
    /// Times the job was started (a job interrupted by a crash runs again).
    pub attempts: u32,
}

/// An undelivered webhook notification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxRec {
    pub delivery_id: Uuid,
    pub url: String,
    pub folder_id: Uuid,
    /// The JSON body, fixed when the group finished.
    pub body: String,
    pub created_at: f64,
    pub next_attempt_at: f64,
    pub attempts: u32,
    pub last_error: Option<String>,
}

crate::accounts::tenant::company_owned_by_field!(FolderRec, MediaRec, FileRec, AnalysisRec);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analysis_types_parse_any_case_and_liveness_alias() {
        assert_eq!(AnalysisType::parse("Quality"), Some(AnalysisType::Quality));
        assert_eq!(AnalysisType::parse("LIVENESS"), Some(AnalysisType::Quality));
        assert_eq!(
            AnalysisType::parse("biometry"),
            Some(AnalysisType::Biometry)
        );
        assert_eq!(
            AnalysisType::parse("documents"),
            Some(AnalysisType::Documents)
        );
        assert_eq!(AnalysisType::parse("ocr"), None);
        assert_eq!(
            Resolution::parse("operator_required"),
            Some(Resolution::OperatorRequired)
        );
        assert_eq!(
            serde_json::to_value(MediaType::ShotsSet).ok(),
            Some(Value::String("SHOTS_SET".into()))
        );
    }
}

/// Records for unit tests of the flow and of the families that read it.
#[cfg(test)]
pub(crate) mod fixtures {
    use uuid::Uuid;

    use super::{
        now_secs, AnalysisRec, AnalysisType, FolderRec, MediaType, Resolution, ResultMedia, State,
    };

    /// An empty folder of `company`.
    pub fn folder(company: Uuid) -> FolderRec {
        FolderRec {
            folder_id: Uuid::new_v4(),
            company_id: company,
            user_id: Uuid::new_v4(),
            time_created: now_secs(),
            time_updated: now_secs(),
            meta_data: serde_json::json!({}),
            base_url: "http://h".into(),
            resolution_endpoint: None,
            resolution_status: Resolution::Initial,
            system_resolution: Resolution::Initial,
            media_ids: vec![],
            analysis_ids: vec![],
        }
    }

    /// A COLLECTION analysis in `state` whose one result names `person`.
    pub fn collection_analysis(state: State, person: Option<Uuid>) -> AnalysisRec {
        AnalysisRec {
            analysis_id: Uuid::new_v4(),
            folder_id: Uuid::new_v4(),
            company_id: Uuid::new_v4(),
            group_id: Uuid::new_v4(),
            analysis_type: AnalysisType::Collection,
            state,
            resolution_status: Resolution::Declined,
            requested_media: vec![],
            source_media: vec![],
            params: serde_json::json!({}),
            meta_data: serde_json::json!({}),
            results_data: serde_json::json!({}),
            results_media: vec![ResultMedia {
                result_media_id: Uuid::new_v4(),
                source_media_id: Uuid::new_v4(),
                media_type: MediaType::Image,
                resolution_status: Resolution::Declined,
                results_data: serde_json::json!({}),
                output_images: vec![],
                person_id: person,
                matched_persons: person.into_iter().collect(),
            }],
            error_message: None,
            resolution_endpoint: None,
            time_created: now_secs(),
            time_updated: now_secs(),
            time_finished: None,
        }
    }
}
