//! The in-memory view of who exists, used to check every token without a database round trip.
//!
//! A token is valid only if its signature and expiry check out *and* its user still exists with the
//! same `token_generation`; the role used is the user's current one, not the one in the token.
//! The directory is reloaded after every change made through the API and every few seconds by the
//! store subsystem, so changes made with the `pinhole user` command while the service runs take
//! effect within that period.

use crate::auth::token::{TokenError, TokenKeys};
use crate::auth::{Principal, Role};
use crate::clock::Clock;
use crate::store::{Store, StoreError, users};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

#[derive(Debug, Clone)]
struct Entry {
    username: String,
    role: Role,
    generation: i64,
}

#[derive(Debug, Clone, Default)]
pub struct UserDirectory {
    users: Arc<RwLock<HashMap<i64, Entry>>>,
    /// Ids of tokens revoked before their expiry (logged out).
    revoked: Arc<RwLock<HashSet<String>>>,
}

impl UserDirectory {
    /// Reloads from the store (`now`: Unix seconds, to forget expired revocations).
    pub async fn refresh(&self, store: &Store, now: i64) -> Result<(), StoreError> {
        let (list, revoked) = store
            .call(move |c| Ok((users::list(c)?, users::revoked_tokens(c, now)?)))
            .await?;
        self.replace(list);
        let revoked: HashSet<String> = revoked.into_iter().collect();
        match self.revoked.write() {
            Ok(mut g) => *g = revoked,
            Err(p) => *p.into_inner() = revoked,
        }
        Ok(())
    }

    /// Revokes the credential `p` came with (logout), at once and for good.
    pub async fn revoke(&self, store: &Store, p: &Principal) -> Result<(), StoreError> {
        if p.token_id.is_empty() {
            return Ok(()); // issued before token ids: it expires on its own
        }
        let (id, exp) = (p.token_id.clone(), p.expires_at);
        store
            .call(move |c| users::revoke_token(c, &id, exp))
            .await?;
        match self.revoked.write() {
            Ok(mut g) => g.insert(p.token_id.clone()),
            Err(e) => e.into_inner().insert(p.token_id.clone()),
        };
        Ok(())
    }

    fn is_revoked(&self, token_id: &str) -> bool {
        !token_id.is_empty()
            && self
                .revoked
                .read()
                .map(|g| g.contains(token_id))
                .unwrap_or(true)
    }

    pub fn replace(&self, list: Vec<users::User>) {
        let map = list
            .into_iter()
            .map(|u| {
                (
                    u.id,
                    Entry {
                        username: u.username,
                        role: u.role,
                        generation: u.token_generation,
                    },
                )
            })
            .collect();
        match self.users.write() {
            Ok(mut g) => *g = map,
            Err(p) => *p.into_inner() = map,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.users.read().map(|g| g.is_empty()).unwrap_or(true)
    }

    /// Verifies a token and returns the caller with their current role.
    pub fn verify(
        &self,
        keys: &TokenKeys,
        clock: &dyn Clock,
        token: &str,
    ) -> Result<Principal, TokenError> {
        let claims = keys.verify(token, clock)?;
        if self.is_revoked(&claims.jti) {
            return Err(TokenError::Revoked);
        }
        let users = self.users.read().map_err(|_| TokenError::Invalid)?;
        let entry = users.get(&claims.user_id).ok_or(TokenError::Revoked)?;
        if entry.generation != claims.r#gen || !entry.username.eq_ignore_ascii_case(&claims.sub) {
            return Err(TokenError::Revoked);
        }
        let mut p = claims.principal();
        p.role = entry.role;
        p.username = entry.username.clone();
        Ok(p)
    }

    /// Is this principal still valid (not expired, not revoked)? Used by long-lived WebSocket
    /// sessions on every call.
    pub fn still_valid(&self, p: &Principal, clock: &dyn Clock) -> Result<Role, TokenError> {
        if p.expires_at <= clock.now_secs() {
            return Err(TokenError::Expired);
        }
        if self.is_revoked(&p.token_id) {
            return Err(TokenError::Revoked);
        }
        let users = self.users.read().map_err(|_| TokenError::Invalid)?;
        match users.get(&p.user_id) {
            Some(e) if e.generation == p.generation => Ok(e.role),
            _ => Err(TokenError::Revoked),
        }
    }
}
