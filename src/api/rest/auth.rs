//! `/api/auth`: login (bearer token or browser session), first-run setup, who am I, password
//! change.

use crate::api::SharedState;
use crate::api::accounts;
use crate::api::authn::{
    AsViewer, AuditActor, Authed, Authn, CSRF_COOKIE, ClientIp, SESSION_COOKIE,
};
use crate::api::error::{ApiError, ErrorBody, JsonBody, from_json_rejection};
use crate::auth::Role;
use crate::auth::token::{Claims, random_token};
use crate::store::settings;
use crate::store::users::{self, User};
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// The login body: JSON, or a form (`application/x-www-form-urlencoded`) as FastAPI's OAuth2
/// password flow sends it.
pub struct LoginBody(pub LoginRequest);

impl<S: Send + Sync> FromRequest<S> for LoginBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            #[derive(Deserialize)]
            struct Form {
                username: String,
                password: String,
            }
            let axum::Form(f) = axum::Form::<Form>::from_request(req, state)
                .await
                .map_err(|e| ApiError::invalid(e.body_text()))?;
            Ok(LoginBody(LoginRequest {
                username: f.username,
                password: f.password,
            }))
        } else {
            let axum::Json(v) = axum::Json::<LoginRequest>::from_request(req, state)
                .await
                .map_err(from_json_rejection)?;
            Ok(LoginBody(v))
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// HS256 JWT; send as `Authorization: Bearer <token>` or to the `authenticate` method.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// RFC 3339.
    pub expires_at: String,
    pub username: String,
    #[schema(value_type = String, example = "admin")]
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    pub username: String,
    #[schema(value_type = String)]
    pub role: Role,
    /// Send back as `X-CSRF-Token` on every state-changing request of this session.
    pub csrf_token: String,
    pub expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub username: String,
    #[schema(value_type = String)]
    pub role: Role,
    pub permissions: Vec<&'static str>,
    pub expires_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    pub username: String,
    pub password: String,
    pub device_name: Option<String>,
    pub timezone: Option<String>,
    pub recordings_dir: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SetupStatus {
    /// True while no user exists: the page must ask for the admin account.
    pub setup_required: bool,
    pub device_name: String,
}

fn issue(
    state: &SharedState,
    user: &User,
    csrf: Option<String>,
) -> Result<(String, Claims), ApiError> {
    let now = state.clock.now_secs();
    let ttl = state.config.auth.token_ttl_secs;
    let claims = Claims {
        sub: user.username.clone(),
        user_id: user.id,
        role: user.role,
        iat: now,
        exp: now + ttl as i64,
        r#gen: user.token_generation,
        csrf,
        jti: random_token(),
    };
    let token = state
        .tokens
        .issue(&claims)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((token, claims))
}

fn token_response(state: &SharedState, user: &User) -> Result<TokenResponse, ApiError> {
    let (access_token, claims) = issue(state, user, None)?;
    Ok(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in: state.config.auth.token_ttl_secs,
        expires_at: crate::clock::rfc3339_ms(claims.exp * 1000),
        username: user.username.clone(),
        role: user.role,
    })
}

/// Rate limit, then check the password.
async fn password_login(
    state: &SharedState,
    ip: IpAddr,
    req: LoginRequest,
) -> Result<User, ApiError> {
    if let Err(wait) = state.login_limiter.check(ip, &req.username) {
        state
            .metrics
            .logins
            .with_label_values(&["rate_limited"])
            .inc();
        return Err(ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    match accounts::check_password(state, &req.username, req.password).await? {
        Some(u) => {
            state.metrics.logins.with_label_values(&["ok"]).inc();
            Ok(u)
        }
        None => {
            state.metrics.logins.with_label_values(&["failed"]).inc();
            state.login_limiter.account_failed(&req.username);
            Err(ApiError::Unauthorized("wrong username or password".into()))
        }
    }
}

fn with_actor(mut r: Response, who: &str) -> Response {
    r.extensions_mut().insert(AuditActor(who.to_string()));
    r
}

/// Exchange a username and password for an access token.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body(content = LoginRequest, description = "JSON, or the same fields as a form"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, body = ErrorBody, description = "wrong username or password"),
        (status = 429, body = ErrorBody, description = "too many attempts from this address or for this account"),
    ))]
pub async fn login(
    State(state): State<SharedState>,
    ClientIp(ip): ClientIp,
    LoginBody(req): LoginBody,
) -> Response {
    let who = req.username.clone();
    let result = async {
        let user = password_login(&state, ip, req).await?;
        Ok::<_, ApiError>(Json(token_response(&state, &user)?))
    }
    .await;
    with_actor(result.into_response(), &who)
}

fn session_cookies(
    state: &SharedState,
    token: &str,
    csrf: &str,
    max_age: u64,
) -> axum::response::AppendHeaders<[(header::HeaderName, String); 2]> {
    let secure = if state.tls_enabled { "; Secure" } else { "" };
    axum::response::AppendHeaders([
        (
            header::SET_COOKIE,
            format!(
                "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
            ),
        ),
        (
            header::SET_COOKIE,
            format!("{CSRF_COOKIE}={csrf}; Path=/; SameSite=Strict; Max-Age={max_age}{secure}"),
        ),
    ])
}

/// Log in the browser: sets an HttpOnly session cookie and returns the CSRF token.
#[utoipa::path(post, path = "/api/auth/session", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = SessionResponse, description = "cookies pinhole_session (HttpOnly) and pinhole_csrf set"),
        (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub async fn create_session(
    State(state): State<SharedState>,
    ClientIp(ip): ClientIp,
    LoginBody(req): LoginBody,
) -> Response {
    let who = req.username.clone();
    let result = async {
        let user = password_login(&state, ip, req).await?;
        let csrf = random_token();
        let (token, claims) = issue(&state, &user, Some(csrf.clone()))?;
        let body = SessionResponse {
            username: user.username.clone(),
            role: user.role,
            csrf_token: csrf.clone(),
            expires_at: crate::clock::rfc3339_ms(claims.exp * 1000),
        };
        Ok::<_, ApiError>((
            session_cookies(&state, &token, &csrf, state.config.auth.token_ttl_secs),
            Json(body),
        ))
    }
    .await;
    with_actor(result.into_response(), &who)
}

/// Log out: revokes the credential the request carries (the session cookie, or a bearer
/// token), so a copy of it stops working too, and clears the session cookies.
#[utoipa::path(delete, path = "/api/auth/session", tag = "auth",
    responses(
        (status = 204, description = "the credential revoked and the cookies cleared"),
        (status = 500, body = ErrorBody),
    ))]
pub async fn delete_session(
    State(state): State<SharedState>,
    Extension(authn): Extension<Authn>,
) -> Result<Response, ApiError> {
    if let Some(p) = authn.principal {
        state.users.revoke(&state.store, &p).await?;
    }
    Ok((StatusCode::NO_CONTENT, session_cookies(&state, "", "", 0)).into_response())
}

/// Whether first-run setup is needed (no user exists yet).
#[utoipa::path(get, path = "/api/auth/setup", tag = "auth", responses((status = 200, body = SetupStatus)))]
pub async fn setup_status(State(state): State<SharedState>) -> Result<Json<SetupStatus>, ApiError> {
    let config = state.config.clone();
    let (n, eff) = state
        .store
        .call(move |c| Ok((users::count(c)?, settings::effective(c, &config)?)))
        .await?;
    Ok(Json(SetupStatus {
        setup_required: n == 0,
        device_name: eff
            .get("device_name")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
    }))
}

/// First-run setup: creates the admin account. Works only while no user exists.
#[utoipa::path(post, path = "/api/auth/setup", tag = "auth",
    request_body = SetupRequest,
    responses(
        (status = 201, body = TokenResponse),
        (status = 409, body = ErrorBody, description = "setup already done"),
        (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub async fn setup(
    State(state): State<SharedState>,
    ClientIp(ip): ClientIp,
    JsonBody(req): JsonBody<SetupRequest>,
) -> Response {
    let who = req.username.clone();
    let result = async {
        if let Err(wait) = state.login_limiter.check(ip, &req.username) {
            return Err(ApiError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        // Validate the settings before creating anyone, so a bad value leaves nothing half done.
        let mut changes = std::collections::BTreeMap::new();
        for (k, v) in [
            ("device_name", req.device_name),
            ("timezone", req.timezone),
            ("recordings_dir", req.recordings_dir),
        ] {
            if let Some(v) = v {
                let value = serde_json::Value::String(v);
                if let Some(d) = settings::def(k) {
                    (d.validate)(&value).map_err(|r| ApiError::field(k, r))?;
                }
                changes.insert(k.to_string(), value);
            }
        }
        let user =
            accounts::create_user(&state, req.username, req.password, Role::Admin, true).await?;
        if !changes.is_empty() {
            accounts::update_settings(&state, Some(user.username.clone()), changes).await?;
        }
        Ok((StatusCode::CREATED, Json(token_response(&state, &user)?)))
    }
    .await;
    with_actor(result.into_response(), &who)
}

/// The caller's identity.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn me(Authed(p): AsViewer) -> Json<MeResponse> {
    Json(MeResponse {
        username: p.username,
        role: p.role,
        permissions: p.role.permissions().to_vec(),
        expires_at: crate::clock::rfc3339_ms(p.expires_at * 1000),
    })
}

/// Change your own password. Every existing token of yours is revoked; a new one is returned.
#[utoipa::path(post, path = "/api/auth/change-password", tag = "auth",
    request_body = ChangePasswordRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn change_password(
    State(state): State<SharedState>,
    Authed(p): AsViewer,
    JsonBody(req): JsonBody<ChangePasswordRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let user =
        accounts::change_password(&state, &p.username, req.current_password, req.new_password)
            .await?;
    Ok(Json(token_response(&state, &user)?))
}
