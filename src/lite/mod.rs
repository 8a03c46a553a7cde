//! Oz API Lite without HTTP: facelite's template format, the decision rule, the Lite error
//! codes and the extract/compare/liveness pipeline. The HTTP handlers are in `api::lite`.

pub mod decision;
pub mod error;
pub mod pipeline;
pub mod template;
