//! Who is calling: the authenticated user behind a request, with role and company.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Roles of spec section 2.4. `CLIENT ADMIN` is a CLIENT with `is_admin`; spaced spellings
/// are accepted on input, underscore forms are emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    #[serde(rename = "ADMIN")]
    Admin,
    #[serde(rename = "OPERATOR")]
    Operator,
    #[serde(rename = "CLIENT", alias = "CLIENT_SERVICE", alias = "CLIENT SERVICE")]
    Client,
    #[serde(rename = "CLIENT_ADMIN", alias = "CLIENT ADMIN")]
    ClientAdmin,
    #[serde(rename = "CLIENT_OPERATOR", alias = "CLIENT OPERATOR")]
    ClientOperator,
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub email: String,
    /// `None` for ADMIN and OPERATOR, who are not bound to a company.
    pub company_id: Option<Uuid>,
    pub role: Role,
    pub is_admin: bool,
    pub is_service: bool,
    pub can_start_analysis_quality: bool,
    pub can_start_analysis_biometry: bool,
    pub can_start_analysis_collection: bool,
}
