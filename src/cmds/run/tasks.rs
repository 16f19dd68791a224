//! The background tasks `pinhole run` hands to the supervisor: the HTTP listeners, store upkeep,
//! the tour scheduler, the system monitor, the update agent, and the camera status listener.

use super::*;

/// Publishes camera state changes: `camera.status_change` always, plus `camera.connected` /
/// `camera.disconnected` when streaming starts or stops.
pub(super) fn camera_status_listener(
    events: EventBus,
    clock: SharedClock,
) -> crate::media::camera::StateListener {
    use crate::media::camera::CameraState;
    let last = std::sync::Mutex::new(std::collections::HashMap::<String, CameraState>::new());
    Arc::new(move |cam, status| {
        let now = clock.now_ms();
        let def = cam.definition();
        let params = serde_json::json!({
            "device": cam.id,
            "name": def.name,
            "status": status.state.service_status(),
            "state": status.state.as_str(),
            "error": status.error,
            "encoder": status.encoder,
        });
        let before = last
            .lock()
            .map(|mut m| m.insert(cam.id.clone(), status.state))
            .unwrap_or(None);
        match status.state {
            CameraState::Streaming if before != Some(CameraState::Streaming) => {
                tracing::info!(camera = %cam.id, "camera streaming");
                events.publish("camera.connected", params.clone(), now)
            }
            s if before == Some(CameraState::Streaming) && s != CameraState::Streaming => {
                tracing::warn!(camera = %cam.id, state = s.as_str(), error = ?status.error, "camera lost");
                events.publish("camera.disconnected", params.clone(), now)
            }
            _ => {}
        }
        events.publish("camera.status_change", params, now);
    })
}

/// GET /health/live over plain TCP: proves the accept loop and the router answer.
pub(super) async fn probe_http(addr: SocketAddr) -> anyhow::Result<()> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).await?;
    if buf[..n].starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        anyhow::bail!("unexpected answer {:?}", String::from_utf8_lossy(&buf[..n]))
    }
}

pub(super) const PROBE_EVERY: Duration = Duration::from_secs(5);
pub(super) const STALE_AFTER: Duration = Duration::from_secs(30);
/// How often the refused-before-authentication tally becomes an audit row.
const REFUSALS_EVERY: Duration = Duration::from_secs(60);

/// Runs `server` in its own task and probes it every few seconds; beats while the probe passes.
/// (The server must not share a task with the probe, or it could not answer it.)
pub(super) async fn beat_while_serving<F>(
    ctx: &SubsystemCtx,
    addr: SocketAddr,
    http: bool,
    server: F,
) -> anyhow::Result<()>
where
    F: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
{
    let mut server = tokio::spawn(server);
    let mut tick = tokio::time::interval(PROBE_EVERY);
    loop {
        tokio::select! {
            r = &mut server => {
                r??;
                return Ok(());
            }
            _ = tick.tick() => {
                let probe = async {
                    if http {
                        probe_http(addr).await
                    } else {
                        tokio::net::TcpStream::connect(addr).await.map(|_| ()).map_err(Into::into)
                    }
                };
                match tokio::time::timeout(Duration::from_secs(5), probe).await {
                    Ok(Ok(())) => ctx.heartbeat.beat(),
                    Ok(Err(e)) => tracing::warn!(subsystem = ctx.name, error = %e, "self-probe failed"),
                    Err(_) => tracing::warn!(subsystem = ctx.name, "self-probe timed out"),
                }
            }
        }
    }
}

pub(super) fn spawn_http(sup: &Supervisor, state: SharedState, listener: std::net::TcpListener) {
    let listener = Arc::new(listener);
    sup.spawn("api", STALE_AFTER, move |ctx| {
        let state = state.clone();
        let listener = listener.clone();
        async move {
            let std_listener = listener.try_clone()?;
            let addr = std_listener.local_addr()?;
            let app = api::router(state.clone());
            let mut server = axum_server::from_tcp(std_listener).handle(shutdown_handle(&ctx));
            limit_slow_clients(server.http_builder(), &state);
            let server = server.serve(app.into_make_service_with_connect_info::<SocketAddr>());
            beat_while_serving(&ctx, probe_addr(addr), true, server).await
        }
    });
}

pub(super) fn spawn_https(
    sup: &Supervisor,
    state: SharedState,
    listener: std::net::TcpListener,
    rustls: axum_server::tls_rustls::RustlsConfig,
) {
    let listener = Arc::new(listener);
    sup.spawn("api-tls", STALE_AFTER, move |ctx| {
        let state = state.clone();
        let listener = listener.clone();
        let rustls = rustls.clone();
        async move {
            let std_listener = listener.try_clone()?;
            let addr = std_listener.local_addr()?;
            let app = api::router(state.clone())
                .layer(api::security::hsts_layer())
                .layer(axum::Extension(api::security::OverTls));
            let mut server =
                axum_server::from_tcp_rustls(std_listener, rustls).handle(shutdown_handle(&ctx));
            limit_slow_clients(server.http_builder(), &state);
            let server = server.serve(app.into_make_service_with_connect_info::<SocketAddr>());
            beat_while_serving(&ctx, probe_addr(addr), false, server).await
        }
    });
}

/// A server handle that stops accepting at shutdown and gives open requests 3 s to finish.
fn shutdown_handle(ctx: &SubsystemCtx) -> axum_server::Handle {
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    let shutdown = ctx.shutdown.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        h.graceful_shutdown(Some(Duration::from_secs(3)));
    });
    handle
}

/// A client must send its request headers within `http.header_read_timeout_secs`, so
/// connections that trickle them (slowloris) do not pile up.
fn limit_slow_clients(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    state: &SharedState,
) {
    let secs = state.config.http.header_read_timeout_secs;
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(secs.into()));
}

/// Checks the database answers, keeps the user directory fresh (changes made with `pinhole user`
/// while running), prunes the audit log and the login limiter, and writes the refusals summary.
pub(super) fn spawn_store_upkeep(sup: &Supervisor, state: SharedState) {
    sup.spawn("store", STALE_AFTER, move |ctx| {
        let state = state.clone();
        async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
            let mut last_prune = tokio::time::Instant::now();
            let mut last_refusals = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = ctx.shutdown.cancelled() => {
                        state.write_refusals().await;
                        return Ok(());
                    }
                }
                if last_refusals.elapsed() >= REFUSALS_EVERY {
                    last_refusals = tokio::time::Instant::now();
                    state.write_refusals().await;
                }
                match tokio::time::timeout(
                    Duration::from_secs(10),
                    state.users.refresh(&state.store, state.clock.now_secs()),
                )
                .await
                {
                    Ok(Ok(())) => {
                        ctx.heartbeat.beat();
                        if let Some(m) = &state.media {
                            m.refresh_rtsp_users().await;
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "database check failed");
                        system_error(&state, "store", format!("database check failed: {e}"));
                    }
                    Err(_) => {
                        tracing::error!("database check timed out (10 s)");
                        system_error(&state, "store", "database check timed out (10 s)".into());
                    }
                }
                if last_prune.elapsed() >= Duration::from_secs(3600) {
                    last_prune = tokio::time::Instant::now();
                    state.login_limiter.prune();
                    let days = state.config.storage.audit_retention_days;
                    let now = state.now_ms();
                    match state
                        .store
                        .call(move |c| audit::apply_retention(c, now, days))
                        .await
                    {
                        Ok(n) if n > 0 => tracing::info!(removed = n, "pruned the audit log"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "audit log pruning failed"),
                    }
                }
            }
        }
    });
}

/// Publishes a `system.error` event for subscribers (the log has the details already).
fn system_error(state: &SharedState, subsystem: &str, error: String) {
    state.events.publish(
        "system.error",
        serde_json::json!({"subsystem": subsystem, "error": error}),
        state.now_ms(),
    );
}

/// Starts tours at their scheduled daily times (device time zone), once per minute that matches.
pub(super) fn spawn_tour_scheduler(sup: &Supervisor, state: SharedState) {
    sup.spawn("tours", STALE_AFTER, move |ctx| {
        let state = state.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            let mut last_minute = String::new();
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = ctx.shutdown.cancelled() => return Ok(()),
                }
                ctx.heartbeat.beat();
                let config = state.config.clone();
                let tz = state
                    .store
                    .call(move |c| crate::store::settings::effective(c, &config))
                    .await?
                    .get("timezone")
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "UTC".into());
                let minute = crate::ptz::tours::local_hhmm(state.now_ms(), &tz);
                if minute == last_minute {
                    continue;
                }
                last_minute = minute.clone();
                crate::ptz::tours::start_due(&state.tour_context(), &minute).await?;
            }
        }
    });
}

/// Probes for ONVIF cameras every `discovery_interval_secs` (not at all while it is 0); a
/// change of the interval takes effect at once.
pub(super) fn spawn_discovery(sup: &Supervisor, state: SharedState) {
    // The heartbeat must not go stale while the interval is long or off.
    sup.spawn("discovery", STALE_AFTER, move |ctx| {
        let state = state.clone();
        async move {
            let mut next: Option<tokio::time::Instant> = None;
            // Read again only when a settings change says it changed.
            let mut interval = state.discovery_interval_secs().await;
            loop {
                let now = tokio::time::Instant::now();
                if interval == 0 {
                    next = None;
                } else if next.is_none_or(|n| n > now + Duration::from_secs(interval)) {
                    next = Some(now + Duration::from_secs(interval));
                }
                let beat_at = now + PROBE_EVERY;
                let wake = next.map_or(beat_at, |n| n.min(beat_at));
                tokio::select! {
                    _ = tokio::time::sleep_until(wake) => {}
                    _ = state.discovery.interval_changed.notified() => {
                        interval = state.discovery_interval_secs().await;
                        next = None;
                        continue;
                    }
                    _ = ctx.shutdown.cancelled() => return Ok(()),
                }
                ctx.heartbeat.beat();
                if next.is_some_and(|n| n <= tokio::time::Instant::now()) {
                    state.discover().await;
                    next = None;
                }
            }
        }
    });
}

/// Follows local cameras being plugged in and pulled out (see
/// [`crate::media::devices::DeviceWatch`]): announces each as `camera.device_added` or
/// `camera.device_removed`, keeps the list `/api/devices` answers from, and restarts at once the
/// cameras configured on a device that comes back.
pub(super) fn spawn_device_watch(sup: &Supervisor, state: SharedState) {
    use crate::media::devices::{DeviceChange, DeviceWatch};
    sup.spawn("devices", STALE_AFTER, move |ctx| {
        let state = state.clone();
        async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let watch = tokio::task::spawn_blocking(move || {
                DeviceWatch::start(move |change| {
                    let _ = tx.send(change);
                })
            })
            .await?;
            let watch = match watch {
                Ok(w) => Arc::new(w),
                Err(e) => {
                    // The list is then probed on each request instead.
                    tracing::warn!(error = %e, "local cameras are not followed as they come and go");
                    loop {
                        tokio::select! {
                            _ = tokio::time::sleep(PROBE_EVERY) => ctx.heartbeat.beat(),
                            _ = ctx.shutdown.cancelled() => return Ok(()),
                        }
                    }
                }
            };
            *state.local_devices.write().unwrap_or_else(|p| p.into_inner()) = Some(watch.clone());
            let mut published = Unpublish(Some(state.clone()));
            let outcome = loop {
                tokio::select! {
                    change = rx.recv() => {
                        let Some(change) = change else { break Err(anyhow::anyhow!("the device watch stopped")) };
                        let (event, device) = match &change {
                            DeviceChange::Added(d) => ("camera.device_added", d),
                            DeviceChange::Removed(d) => ("camera.device_removed", d),
                        };
                        tracing::info!(device = %device.url, name = %device.name, "{event}");
                        state.events.publish(event, serde_json::to_value(device).unwrap_or_default(), state.now_ms());
                        if let (DeviceChange::Added(d), Some(media)) = (&change, &state.media) {
                            for id in media.device_plugged(&d.url) {
                                tracing::info!(camera = %id, device = %d.url, "camera plugged back in: restarting it");
                            }
                        }
                    }
                    _ = tokio::time::sleep(PROBE_EVERY) => ctx.heartbeat.beat(),
                    _ = ctx.shutdown.cancelled() => break Ok(()),
                }
            };
            published.0 = None;
            state.local_devices.write().unwrap_or_else(|p| p.into_inner()).take();
            // The monitor's thread is joined off the runtime.
            let _ = tokio::task::spawn_blocking(move || drop(watch)).await;
            outcome
        }
    });
}

/// Takes the device watch out of the shared state if its task ends without doing so itself (a
/// panic), so the list is not answered from a watch nobody reads; the watch is dropped on a
/// thread of its own, which joins the monitor's thread off the runtime.
struct Unpublish(Option<SharedState>);

impl Drop for Unpublish {
    fn drop(&mut self) {
        let Some(state) = self.0.take() else {
            return;
        };
        let watch = state
            .local_devices
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(watch) = watch {
            let _ = std::thread::Builder::new()
                .name("device-watch-end".into())
                .spawn(move || drop(watch));
        }
    }
}

pub(super) fn spawn_system_monitor(sup: &Supervisor, state: SharedState) {
    sup.spawn("system", STALE_AFTER, move |ctx| {
        let state = state.clone();
        async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = ctx.shutdown.cancelled() => return Ok(()),
                }
                let monitor = state.monitor.clone();
                let now = state.now_ms();
                let sample = tokio::task::spawn_blocking(move || monitor.sample(now)).await?;
                // Live graphs (the web page's system view) follow this event, not polling.
                state.events.publish(
                    "system.health",
                    serde_json::to_value(sample).unwrap_or_default(),
                    now,
                );
                ctx.heartbeat.beat();
            }
        }
    });
}

/// The update agent: confirms (or rolls back) a freshly installed slot once the appliance is
/// healthy. Local cameras must stream; IP cameras may be offline for their own reasons.
pub(super) fn spawn_update_agent(
    state: &SharedState,
    shutdown: tokio_util::sync::CancellationToken,
) -> Arc<crate::ota::OtaHandle> {
    let st = state.clone();
    let clock = state.clock.clone();
    let mut cfg = state.config.ota.clone();
    cfg.timezone = state.config.general.timezone.clone();
    crate::ota::spawn(
        cfg,
        state.config.general.state_dir.clone(),
        state.events.clone(),
        move || clock.now_ms(),
        move || crate::ota::health::Snapshot {
            unhealthy: st.health.unhealthy(),
            cameras_down: st
                .media
                .as_ref()
                .map(|m| {
                    m.cameras()
                        .iter()
                        .filter_map(|c| {
                            let def = c.definition();
                            let status = c.status();
                            let local = def.source.is_local();
                            (def.enabled
                                && local
                                && status.state != crate::media::camera::CameraState::Streaming)
                                .then(|| (c.id.clone(), status.state.as_str().to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        },
        shutdown,
    )
}
