//! Instant (non-persistent) analyses: media bytes stay in memory, the worker runs the analysis
//! and sends the outcome back; nothing is written to the store or the disk.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use crate::analysis::model::{AnalysisType, MediaRec};
use crate::analysis::outcome::{MediaSource, Outcome};

/// One instant analysis waiting for a worker.
pub struct InstantTask {
    pub kind: AnalysisType,
    pub requested: Vec<Uuid>,
    pub params: Value,
    pub media: Arc<Vec<MediaRec>>,
    pub bytes: Arc<HashMap<Uuid, Vec<u8>>>,
    pub reply: tokio::sync::oneshot::Sender<Outcome>,
}

/// Media bytes held in memory.
pub struct MemorySource<'a>(pub &'a HashMap<Uuid, Vec<u8>>);

impl MediaSource for MemorySource<'_> {
    fn bytes(&self, m: &MediaRec) -> Result<Vec<u8>, String> {
        self.0
            .get(&m.media_id)
            .cloned()
            .ok_or_else(|| "media bytes are missing".to_string())
    }
}
