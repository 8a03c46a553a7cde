//! Who is calling: the authenticated user behind a request, with role and company.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Roles of the Oz API. `CLIENT ADMIN` is a CLIENT with `is_admin`; spaced spellings
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

/// A `user_type` as written by a client: the role plus what the spelling implies
/// (`CLIENT ADMIN` implies `is_admin`, `CLIENT SERVICE` implies `is_service`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserType {
    pub role: Role,
    pub implies_admin: bool,
    pub implies_service: bool,
}

impl Role {
    /// The emitted (underscore) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Operator => "OPERATOR",
            Role::Client => "CLIENT",
            Role::ClientAdmin => "CLIENT_ADMIN",
            Role::ClientOperator => "CLIENT_OPERATOR",
        }
    }

    /// Parses a `user_type` case-insensitively, with spaces, underscores or hyphens between
    /// words (`CLIENT ADMIN`, `client_admin`, `Client-Operator`); `None` for unknown roles.
    pub fn parse(s: &str) -> Option<UserType> {
        let norm: String = s
            .trim()
            .chars()
            .map(|c| {
                if c == ' ' || c == '-' {
                    '_'
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        let (role, implies_admin, implies_service) = match norm.as_str() {
            "ADMIN" => (Role::Admin, false, false),
            "OPERATOR" => (Role::Operator, false, false),
            "CLIENT" => (Role::Client, false, false),
            "CLIENT_ADMIN" => (Role::ClientAdmin, true, false),
            "CLIENT_OPERATOR" => (Role::ClientOperator, false, false),
            "CLIENT_SERVICE" => (Role::Client, false, true),
            _ => return None,
        };
        Some(UserType {
            role,
            implies_admin,
            implies_service,
        })
    }

    /// ADMIN and OPERATOR work across companies and belong to none.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Operator)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Principal {
    /// A company administrator (`CLIENT_ADMIN`, i.e. a CLIENT with `is_admin`).
    pub fn is_company_admin(&self) -> bool {
        self.role == Role::ClientAdmin || (self.role == Role::Client && self.is_admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling_of_the_roles() {
        assert_eq!(Role::parse("ADMIN").map(|t| t.role), Some(Role::Admin));
        assert_eq!(
            Role::parse("operator").map(|t| t.role),
            Some(Role::Operator)
        );
        let ca = Role::parse("CLIENT ADMIN").expect("client admin");
        assert_eq!((ca.role, ca.implies_admin), (Role::ClientAdmin, true));
        assert_eq!(Role::parse("client_admin"), Some(ca));
        assert_eq!(
            Role::parse("Client-Operator").map(|t| t.role),
            Some(Role::ClientOperator)
        );
        let cs = Role::parse("CLIENT SERVICE").expect("client service");
        assert_eq!((cs.role, cs.implies_service), (Role::Client, true));
        assert_eq!(Role::parse("ROOT"), None);
        assert_eq!(Role::parse(""), None);
        for r in [
            Role::Admin,
            Role::Operator,
            Role::Client,
            Role::ClientAdmin,
            Role::ClientOperator,
        ] {
            assert_eq!(Role::parse(r.as_str()).map(|t| t.role), Some(r));
        }
    }
}
