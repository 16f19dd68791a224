//! `pinhole run`: start every subsystem under the supervisor and serve until SIGTERM/SIGINT.
//!
//! Order matters for systemd: configuration is checked first (a bad file exits with status 2 and
//! every problem listed), then the store is opened and upgraded, keys are loaded, the listeners
//! are bound, and only then READY=1 is sent. Shutdown stops accepting, closes WebSocket sessions
//! with 1001, lets subsystems finish (recordings are closed by theirs), checkpoints the database,
//! and exits within `supervisor.shutdown_timeout_secs`.

use crate::api::{self, AppState, SharedState};
use crate::auth::directory::UserDirectory;
use crate::auth::ratelimit::LoginLimiter;
use crate::auth::token::TokenKeys;
use crate::auth::{Role, password};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::config::{Config, LogFormat, TlsMode};
use crate::events::EventBus;
use crate::secrets::{SecretBox, load_or_create_key};
use crate::store::cameras::{CameraOrigin, SourceKind};
use crate::store::{Store, audit, cameras, users};
use crate::supervisor::notify::{Notifier, SystemdNotifier};
use crate::supervisor::{Backoff, SubsystemCtx, Supervisor, watchdog};
use crate::system::SystemMonitor;
use anyhow::Context;
use clap::ValueEnum;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod demo;
mod tasks;

use demo::{demo_admin, demo_ptz_camera, demo_second_camera};
use tasks::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    Auto,
    Text,
    Json,
    Journald,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file [default: /etc/pinhole/pinhole.toml when it exists; built-in defaults
    /// otherwise, or with --demo].
    #[arg(long, env = "PINHOLE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Demo mode: state in ./data, an `admin` user (password from PINHOLE_ADMIN_PASSWORD or
    /// printed once), plain HTTP.
    #[arg(long)]
    pub demo: bool,
    /// With --demo: create no account, so the web page starts with its first-run setup (the
    /// administrator, device name, time zone, storage), as a freshly flashed appliance does.
    #[arg(long, requires = "demo")]
    pub first_run: bool,
    /// HTTP listen address (overrides http.listen).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// RTSP listen address (overrides media.rtsp_listen); port 0 picks a free port, printed at
    /// start.
    #[arg(long)]
    pub rtsp_listen: Option<SocketAddr>,
    /// State directory (overrides general.state_dir).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Log format (overrides log.format).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,
}

pub fn main(args: RunArgs) -> ExitCode {
    let config = match super::load_config(args.config.clone(), args.demo) {
        Ok(c) => c,
        Err(e) => {
            eprint!("pinhole: {e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let config = apply_cli(config, &args);
    crate::logging::init(config.log.format, &config.log.level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("pinhole")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pinhole: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let notifier: Arc<dyn Notifier> = Arc::new(SystemdNotifier);
    match runtime.block_on(serve(config, args.demo, args.first_run, notifier)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "pinhole stopped on an error");
            eprintln!("pinhole: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn apply_cli(mut c: Config, args: &RunArgs) -> Config {
    if let Some(l) = args.listen {
        c.http.listen = l;
    }
    if let Some(l) = args.rtsp_listen {
        c.media.rtsp_listen = l;
    }
    if let Some(d) = &args.state_dir {
        c.general.state_dir = d.clone();
    }
    if let Some(f) = args.log_format {
        c.log.format = match f {
            LogFormatArg::Auto => LogFormat::Auto,
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
            LogFormatArg::Journald => LogFormat::Journald,
        };
    }
    c
}

fn create_private_dir(p: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(p)
        .with_context(|| format!("cannot create {}", p.display()))
}

/// The address to probe our own listener on.
fn probe_addr(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), listen.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), listen.port())
        }
        _ => listen,
    }
}

/// Runs the appliance until a signal arrives.
pub async fn serve(
    config: Config,
    demo: bool,
    first_run: bool,
    notifier: Arc<dyn Notifier>,
) -> anyhow::Result<()> {
    raise_fd_limit();
    let clock: SharedClock = Arc::new(SystemClock);
    let config = Arc::new(config);
    let state_dir = config.general.state_dir.clone();
    create_private_dir(&state_dir)?;
    notifier.status("opening the database");

    let db_path = config.database_path();
    let store = tokio::task::spawn_blocking(move || Store::open(&db_path))
        .await
        .context("database task")??;
    let jwt_key = load_or_create_key(&state_dir.join("jwt.key"))?;
    let device_key = load_or_create_key(&state_dir.join("device.key"))?;
    let secrets = SecretBox::new(&device_key);

    {
        let cams = config.cameras.clone();
        let secrets = secrets.clone();
        let now = clock.now_secs();
        let added = store
            .call(move |c| {
                let sealed = cameras::seal_url_credentials(c, &secrets, now)?;
                if sealed > 0 {
                    tracing::info!(sealed, "moved credentials out of camera URLs");
                }
                cameras::seed_from_config(c, &secrets, &cams, now)
            })
            .await?;
        if added > 0 {
            tracing::info!(added, "cameras provisioned from the configuration file");
        }
    }
    if demo && !first_run {
        demo_admin(
            &store,
            &secrets,
            clock.as_ref(),
            config.auth.min_password_length,
        )
        .await?;
    }
    if demo {
        demo_ptz_camera(&store, &secrets, clock.as_ref()).await?;
        demo_second_camera(&store, &secrets, clock.as_ref()).await?;
    }
    let users_dir = UserDirectory::default();
    users_dir.refresh(&store, clock.now_secs()).await?;
    if users_dir.is_empty() {
        tracing::warn!(
            "no user exists yet: create the admin with `pinhole user add NAME`, or through the web page's first-run setup"
        );
    }

    // Bind before READY=1: a client told we are ready must be able to connect.
    let http_listener = std::net::TcpListener::bind(config.http.listen)
        .with_context(|| format!("cannot listen on {} (http.listen)", config.http.listen))?;
    http_listener.set_nonblocking(true)?;
    let http_addr = http_listener.local_addr()?;
    let tls = match config.tls.mode {
        TlsMode::Off => None,
        mode => {
            crate::tls::install_crypto_provider();
            let files = match mode {
                TlsMode::SelfSigned => {
                    crate::tls::ensure_self_signed(&state_dir, &config.general.device_name)?
                }
                _ => crate::tls::TlsFiles {
                    cert: config.tls.cert.clone().unwrap_or_default(),
                    key: config.tls.key.clone().unwrap_or_default(),
                },
            };
            let rustls =
                axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert, &files.key)
                    .await
                    .with_context(|| {
                        format!(
                            "cannot load TLS certificate {} / key {}",
                            files.cert.display(),
                            files.key.display()
                        )
                    })?;
            let l = std::net::TcpListener::bind(config.tls.listen)
                .with_context(|| format!("cannot listen on {} (tls.listen)", config.tls.listen))?;
            l.set_nonblocking(true)?;
            Some((l, rustls))
        }
    };

    let events = EventBus::new(256);
    let supervisor = Supervisor::new(Backoff {
        initial: Duration::from_millis(config.supervisor.restart_backoff_initial_ms),
        max: Duration::from_secs(config.supervisor.restart_backoff_max_secs),
    })
    .publish_failures(events.clone(), clock.clone());
    let media = if config.media.enabled {
        notifier.status("starting the media engine");
        Some(start_media(&config, &store, &clock, &events, &secrets, &supervisor).await?)
    } else {
        tracing::info!("media engine disabled (media.enabled = false)");
        None
    };
    // Wrong RTSP passwords count against the HTTP login limits, and back.
    let login_limiter = Arc::new(LoginLimiter::per_minute(
        config.auth.login_attempts_per_minute,
    ));
    if let Some(m) = &media {
        m.access.set_limits(login_limiter.clone());
    }
    let state: SharedState = Arc::new(AppState {
        config: config.clone(),
        store: store.clone(),
        clock: clock.clone(),
        tokens: TokenKeys::new(jwt_key.as_ref()),
        users: users_dir,
        secrets,
        login_limiter,
        refusals: Default::default(),
        role_refusals: Default::default(),
        events: events.clone(),
        health: supervisor.registry.clone(),
        monitor: SystemMonitor::new(120),
        metrics: api::metrics::Metrics::new(),
        started_at: tokio::time::Instant::now(),
        ready: Default::default(),
        ws_connections: Default::default(),
        ws_sessions: Default::default(),
        ws_per_address: Default::default(),
        subscriptions: Default::default(),
        next_client_id: Default::default(),
        shutdown: supervisor.shutdown.clone(),
        tls_enabled: tls.is_some(),
        ptz: crate::ptz::manager::PtzManager::new(
            supervisor.shutdown.clone(),
            events.clone(),
            clock.clone(),
        ),
        tours: Default::default(),
        media,
        detection: Default::default(),
        mqtt: Default::default(),
        ota: Default::default(),
        discovery: Arc::new(crate::discovery::Discovery::new(config.discovery.clone())),
        local_devices: Default::default(),
        stream_edits: Default::default(),
        picture_edits: Default::default(),
        osd_edits: Default::default(),
        onvif: Arc::new(crate::api::onvif_face::OnvifFace::new(
            false,
            crate::api::onvif_face::endpoint_id(&state_dir),
        )),
    });
    if let Some(on) = state
        .setting("onvif_enabled")
        .await
        .and_then(|v| v.as_bool())
    {
        state.onvif.set_enabled(on);
    }
    let made = state
        .store
        .call(|c| crate::store::onvif_profiles::list(c))
        .await?;
    *state
        .onvif
        .made_profiles
        .write()
        .unwrap_or_else(|p| p.into_inner()) = made;
    if let Some(m) = &state.media {
        m.refresh_rtsp_users().await;
        m.set_status_listener(camera_status_listener(events.clone(), clock.clone()));
        m.spawn_background();
    }
    state.cameras_changed().await;
    if let Some(m) = &state.media {
        let mut detection = config.detection.clone();
        detection.models_dir = Some(config.models_dir());
        let status = crate::detect::service::start(
            detection,
            m.clone(),
            store.clone(),
            events.clone(),
            clock.clone(),
            config.snapshots_dir(),
            supervisor.shutdown.clone(),
        )
        .await;
        let _ = state.detection.set(status);
    }
    let _ = state
        .ota
        .set(spawn_update_agent(&state, supervisor.shutdown.clone()));
    let _ = state.mqtt.set(crate::detect::mqtt::spawn(
        config.mqtt.clone(),
        &config.general.device_name,
        events.clone(),
        supervisor.shutdown.clone(),
    ));

    spawn_http(&supervisor, state.clone(), http_listener);
    let mut listening = format!("http://{http_addr}");
    if let Some(m) = &state.media {
        listening.push_str(&format!(", rtsp://{}", m.rtsp_addr()));
    }
    let mut https_port = None;
    if let Some((listener, rustls)) = tls {
        let addr = listener.local_addr()?;
        https_port = Some(addr.port());
        listening.push_str(&format!(", https://{addr}"));
        spawn_https(&supervisor, state.clone(), listener, rustls);
    }
    spawn_store_upkeep(&supervisor, state.clone());
    spawn_system_monitor(&supervisor, state.clone());
    spawn_tour_scheduler(&supervisor, state.clone());
    spawn_discovery(&supervisor, state.clone());
    if state.media.is_some() {
        spawn_device_watch(&supervisor, state.clone());
    }
    crate::api::onvif_face::events::spawn(&supervisor, state.clone());
    let ports = crate::api::onvif_face::responder::Ports {
        http: http_addr.port(),
        https: https_port,
    };
    state.onvif.set_ports(ports);
    crate::api::onvif_face::responder::spawn(&supervisor, state.clone());
    if state.media.is_some() {
        let state = state.clone();
        tokio::spawn(async move { crate::api::broadcast_ops::autostart(&state).await });
    }

    state.ready.store(true, Ordering::SeqCst);
    let ready_status = format!("ready: listening on {listening}");
    notifier.ready(&ready_status);
    tracing::info!(version = crate::VERSION, listen = %listening, state_dir = %state_dir.display(), "pinhole ready");
    eprintln!("pinhole {} listening on {listening}", crate::VERSION);
    state.events.publish(
        "system.startup",
        serde_json::json!({"version": crate::VERSION}),
        clock.now_ms(),
    );
    let watchdog_task = tokio::spawn(watchdog::run(
        supervisor.registry.clone(),
        notifier.clone(),
        ready_status,
        Duration::from_secs(5),
        supervisor.shutdown.clone(),
    ));

    wait_for_signal().await;
    tracing::info!("shutting down");
    notifier.stopping("stopping: closing connections and recordings");
    state
        .events
        .publish("system.shutdown", serde_json::json!({}), clock.now_ms());
    state.ready.store(false, Ordering::SeqCst);
    supervisor.request_shutdown();
    let timeout = Duration::from_secs(config.supervisor.shutdown_timeout_secs);
    if let Some(m) = &state.media {
        // Recorders finalise their segments (EOS through the muxer) before the process ends.
        m.shutdown(timeout).await;
    }
    // Every WebSocket gets its close frame (1001) before the runtime ends, however busy.
    state.ws_sessions.close();
    if tokio::time::timeout(timeout, state.ws_sessions.wait())
        .await
        .is_err()
    {
        tracing::warn!("WebSocket sessions did not close in time");
    }
    let stuck = supervisor.wait_stopped(timeout).await;
    if !stuck.is_empty() {
        tracing::warn!(?stuck, "subsystems did not stop in time; exiting anyway");
    }
    watchdog_task.abort();
    // Fold the WAL into the main file so the next start (or a copy of the SD card) is clean.
    let checkpoint = store.call(|c| {
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    });
    if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(2), checkpoint).await {
        tracing::warn!(error = %e, "WAL checkpoint at shutdown failed");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Starts the media engine with the effective recordings directory and retention policy (the
/// API may have changed them since the configuration file was written).
async fn start_media(
    config: &Arc<Config>,
    store: &Store,
    clock: &SharedClock,
    events: &EventBus,
    secrets: &SecretBox,
    supervisor: &Supervisor,
) -> anyhow::Result<Arc<crate::media::MediaEngine>> {
    let cfg = config.clone();
    let effective = store
        .call(move |c| crate::store::settings::effective(c, &cfg))
        .await?;
    let recordings_dir = effective
        .get("recordings_dir")
        .and_then(|v| v.as_str())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| config.recordings_dir());
    let retention = effective
        .get("retention_policy")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    crate::media::MediaEngine::start(
        config,
        recordings_dir,
        retention,
        store.clone(),
        clock.clone(),
        events.clone(),
        secrets.clone(),
        supervisor.shutdown.clone(),
    )
    .await
}

/// Every WebSocket client holds a descriptor: use the hard limit, not the 1024 soft default
/// (systemd's LimitNOFILE= sets both for the service).
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(error = %e, soft, hard, "cannot raise the open-file limit");
            }
        }
        _ => {}
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            tracing::error!("cannot install signal handlers; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
