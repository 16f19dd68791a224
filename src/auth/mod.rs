//! Who may do what: roles, password hashes, access tokens and login rate limiting.
//!
//! Roles are ordered `viewer < operator < admin`; every REST route and JSON-RPC method declares the
//! least role it needs and the server checks it on every call. Tokens are HS256 JWTs signed with a
//! per-device key; each carries the user's `token_generation`, so changing a password or a role
//! (or deleting the user) revokes every token issued before.

pub mod directory;
pub mod ratelimit;
pub mod token;

pub use pinhole_base::password;
pub use pinhole_base::role::Role;

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
    /// The credential's own id (revoked on logout); empty for tokens issued before ids.
    pub token_id: String,
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
