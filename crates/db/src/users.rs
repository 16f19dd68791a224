//! User accounts. Password hashing happens in [`pinhole_base::password`]; this module only stores.

use super::StoreError;
use pinhole_base::FieldErrors;
use pinhole_base::role::Role;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    #[serde(skip)]
    pub password_hash: String,
    #[serde(skip)]
    pub token_generation: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

fn row_to_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(2)?;
    Ok(User {
        id: r.get(0)?,
        username: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        password_hash: r.get(3)?,
        token_generation: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

const COLUMNS: &str = "id, username, role, password_hash, token_generation, created_at, updated_at";

/// Usernames: 1-32 of letters, digits, `.`, `_`, `-`.
pub fn valid_username(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 32 {
        return Err("must be 1 to 32 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err("may contain only letters, digits, '.', '_' and '-'".into());
    }
    Ok(())
}

pub fn count(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?)
}

pub fn list(conn: &Connection) -> Result<Vec<User>, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY username"))?;
    let rows = stmt.query_map([], row_to_user)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn by_name(conn: &Connection, username: &str) -> Result<Option<User>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE username = ?1"),
            [username],
            row_to_user,
        )
        .optional()?)
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Option<User>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
            [id],
            row_to_user,
        )
        .optional()?)
}

/// Creates a user; `only_if_none` makes it the first-run path (fails if any user exists), checked
/// in the same transaction so two racing setup calls cannot both win.
pub fn create(
    conn: &mut Connection,
    username: &str,
    password_hash: &str,
    role: Role,
    now: i64,
    only_if_none: bool,
) -> Result<User, StoreError> {
    valid_username(username).map_err(|r| FieldErrors::single("username", r))?;
    let tx = conn.transaction()?;
    if only_if_none && count(&tx)? > 0 {
        return Err(StoreError::Conflict(
            "setup is already done: a user exists".into(),
        ));
    }
    if by_name(&tx, username)?.is_some() {
        return Err(StoreError::Conflict(format!(
            "user `{username}` already exists"
        )));
    }
    // A random first token generation: SQLite may give a deleted user's id to a new account, and
    // the deleted user's tokens must not work for it.
    let generation = rand::Rng::gen_range(&mut rand::thread_rng(), 1..(1i64 << 52));
    tx.execute(
        "INSERT INTO users (username, password_hash, role, token_generation, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![username, password_hash, role.as_str(), generation, now],
    )?;
    let id = tx.last_insert_rowid();
    tx.commit()?;
    by_id(conn, id)?.ok_or_else(|| StoreError::NotFound(username.into()))
}

/// Revokes one token (a logged-out session) until it would have expired anyway.
pub fn revoke_token(conn: &Connection, token_id: &str, expires_at: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO revoked_tokens (token_id, expires_at) VALUES (?1, ?2)",
        params![token_id, expires_at],
    )?;
    Ok(())
}

/// The revoked tokens that have not expired yet (at `now`, Unix seconds); forgets the others.
pub fn revoked_tokens(conn: &Connection, now: i64) -> Result<Vec<String>, StoreError> {
    conn.execute("DELETE FROM revoked_tokens WHERE expires_at <= ?1", [now])?;
    let mut stmt = conn.prepare("SELECT token_id FROM revoked_tokens")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Replaces a password hash and invalidates the user's tokens.
pub fn set_password(
    conn: &Connection,
    username: &str,
    password_hash: &str,
    now: i64,
) -> Result<(), StoreError> {
    let n = conn.execute(
        "UPDATE users SET password_hash = ?2, token_generation = token_generation + 1,
         updated_at = ?3 WHERE username = ?1",
        params![username, password_hash, now],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("user `{username}`")));
    }
    Ok(())
}

/// A user's secrets for the protocols that authenticate by digest, sealed with the device key:
/// the RTSP (and HTTP) Digest HA1, and the password itself for ONVIF's UsernameToken digest.
#[derive(Clone)]
pub struct DigestSecrets {
    pub rtsp_ha1: Vec<u8>,
    pub onvif_password: Vec<u8>,
}

/// Stores a user's digest secrets; with `only_if_missing`, only for an account that has none
/// yet (filled in at sign-in for accounts made before they existed).
pub fn set_digest_secrets(
    conn: &Connection,
    username: &str,
    s: &DigestSecrets,
    only_if_missing: bool,
) -> Result<(), StoreError> {
    let only = if only_if_missing {
        " AND (onvif_password_sealed IS NULL OR rtsp_ha1_sealed IS NULL)"
    } else {
        ""
    };
    let n = conn.execute(
        &format!(
            "UPDATE users SET rtsp_ha1_sealed = ?2, onvif_password_sealed = ?3 WHERE username = ?1{only}"
        ),
        params![username, s.rtsp_ha1, s.onvif_password],
    )?;
    if n == 0 && !only_if_missing {
        return Err(StoreError::NotFound(format!("user `{username}`")));
    }
    Ok(())
}

/// A user's digest secrets, opened: each `None` for an account whose password was set before
/// Pinhole kept it (it is filled in at the next sign-in).
#[derive(Debug, Default)]
pub struct OpenDigestSecrets {
    pub rtsp_ha1: Option<crate::secrets::SecretString>,
    pub onvif_password: Option<crate::secrets::SecretString>,
}

/// Opens a user's digest secrets (`None`: no such user).
pub fn digest_secrets(
    conn: &Connection,
    secrets: &crate::secrets::SecretBox,
    username: &str,
) -> Result<Option<OpenDigestSecrets>, StoreError> {
    type Sealed = Option<Vec<u8>>;
    let row: Option<(Sealed, Sealed)> = conn
        .query_row(
            "SELECT rtsp_ha1_sealed, onvif_password_sealed FROM users WHERE username = ?1",
            [username],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let open = |sealed: Option<Vec<u8>>| {
        sealed
            .map(|b| {
                secrets.open(&b).map_err(|e| StoreError::Sealed {
                    what: format!("user `{username}`'s digest secrets"),
                    detail: e.to_string(),
                })
            })
            .transpose()
    };
    row.map(|(ha1, pw)| {
        Ok(OpenDigestSecrets {
            rtsp_ha1: open(ha1)?,
            onvif_password: open(pw)?,
        })
    })
    .transpose()
}

/// (username, argon2 hash, sealed HA1 if set).
pub type RtspCredential = (String, String, Option<Vec<u8>>);

/// RTSP credentials of every user.
pub fn rtsp_credentials(conn: &Connection) -> Result<Vec<RtspCredential>, StoreError> {
    let mut stmt = conn.prepare("SELECT username, password_hash, rtsp_ha1_sealed FROM users")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn admins(conn: &Connection) -> Result<i64, StoreError> {
    Ok(
        conn.query_row("SELECT COUNT(*) FROM users WHERE role = 'admin'", [], |r| {
            r.get(0)
        })?,
    )
}

/// Changes a role, refusing to demote the last admin; invalidates the user's tokens.
pub fn set_role(
    conn: &mut Connection,
    username: &str,
    role: Role,
    now: i64,
) -> Result<User, StoreError> {
    let tx = conn.transaction()?;
    let user = by_name(&tx, username)?
        .ok_or_else(|| StoreError::NotFound(format!("user `{username}`")))?;
    if user.role == Role::Admin && role != Role::Admin && admins(&tx)? <= 1 {
        return Err(StoreError::Conflict("cannot demote the last admin".into()));
    }
    tx.execute(
        "UPDATE users SET role = ?2, token_generation = token_generation + 1, updated_at = ?3
         WHERE id = ?1",
        params![user.id, role.as_str(), now],
    )?;
    tx.commit()?;
    by_id(conn, user.id)?.ok_or_else(|| StoreError::NotFound(username.into()))
}

/// Deletes a user, refusing to delete the last admin.
pub fn delete(conn: &mut Connection, username: &str) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    let user = by_name(&tx, username)?
        .ok_or_else(|| StoreError::NotFound(format!("user `{username}`")))?;
    if user.role == Role::Admin && admins(&tx)? <= 1 {
        return Err(StoreError::Conflict("cannot delete the last admin".into()));
    }
    tx.execute("DELETE FROM users WHERE id = ?1", [user.id])?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn create_list_and_guard_last_admin() {
        let s = Store::open_in_memory().expect("store");
        s.call_blocking(|c| {
            create(c, "root", "h", Role::Admin, 1, true)?;
            assert!(matches!(
                create(c, "second", "h", Role::Admin, 1, true),
                Err(StoreError::Conflict(_))
            ));
            assert!(matches!(
                create(c, "ROOT", "h", Role::Viewer, 1, false),
                Err(StoreError::Conflict(_))
            ));
            create(c, "eve", "h", Role::Viewer, 1, false)?;
            assert!(matches!(
                create(c, "bad name", "h", Role::Viewer, 1, false),
                Err(StoreError::Invalid(_))
            ));
            assert_eq!(list(c)?.len(), 2);
            assert!(matches!(delete(c, "root"), Err(StoreError::Conflict(_))));
            assert!(matches!(
                set_role(c, "root", Role::Viewer, 2),
                Err(StoreError::Conflict(_))
            ));
            let first = by_name(c, "eve")?.map(|u| u.token_generation).unwrap_or(0);
            let eve = set_role(c, "eve", Role::Operator, 2)?;
            assert_eq!(eve.role, Role::Operator);
            assert_eq!(eve.token_generation, first + 1);
            set_password(c, "eve", "h2", 3)?;
            assert_eq!(
                by_name(c, "eve")?.map(|u| u.token_generation),
                Some(first + 2)
            );
            let id = eve.id;
            delete(c, "eve")?;
            assert!(by_name(c, "eve")?.is_none());
            // A new account may get the deleted one's id, never its token generation.
            let again = create(c, "eve", "h", Role::Admin, 4, false)?;
            assert_eq!(again.id, id);
            assert!(again.token_generation != first + 2 && again.token_generation > 0);
            Ok(())
        })
        .expect("ops");
    }

    #[test]
    fn revoked_tokens_are_kept_until_they_expire() {
        let s = Store::open_in_memory().expect("store");
        s.call_blocking(|c| {
            revoke_token(c, "a", 100)?;
            revoke_token(c, "a", 100)?;
            revoke_token(c, "b", 200)?;
            let mut now = revoked_tokens(c, 50)?;
            now.sort();
            assert_eq!(now, ["a", "b"]);
            assert_eq!(revoked_tokens(c, 100)?, ["b"]);
            assert!(revoked_tokens(c, 200)?.is_empty());
            Ok(())
        })
        .expect("ops");
    }
}
