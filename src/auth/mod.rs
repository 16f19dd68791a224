//! Who may do what: roles, password hashes, access tokens and login rate limiting.
//!
//! Roles are ordered `viewer < operator < admin`; every REST route and JSON-RPC method declares the
//! least role it needs and the server checks it on every call. Tokens are HS256 JWTs signed with a
//! per-device key; each carries the user's `token_generation`, so changing a password or a role
//! (or deleting the user) revokes every token issued before.

pub mod directory;
pub mod password;
pub mod ratelimit;
pub mod token;

use serde::{Deserialize, Serialize};

/// Access levels, least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The camera service's permission names for this role.
    pub fn permissions(self) -> &'static [&'static str] {
        match self {
            Role::Viewer => &["view"],
            Role::Operator => &["view", "control"],
            Role::Admin => &["view", "control", "admin"],
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    /// When the credential that authenticated this caller expires (Unix seconds).
    pub expires_at: i64,
    /// The CSRF token bound to a cookie session; `None` for bearer tokens.
    pub csrf: Option<String>,
    /// The user's token generation when the credential was issued.
    pub generation: i64,
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.role >= role
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        for r in [Role::Viewer, Role::Operator, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
