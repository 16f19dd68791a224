//! The hawkBit update source (the fleet engine): the device is a hawkBit target polling the DDI
//! API ([`super::ddi`] holds the wire format). The server assigns an update (an action); the
//! device downloads its RAUC bundle with resume, checked against the size and SHA-256 the server
//! gives, has RAUC install it, and reboots inside `reboot_window`, reporting each step as
//! feedback with progress. The action is closed only after the reboot: `success` once the new
//! slot has passed the health gate and is marked good, `failure` with the reason when it was
//! rolled back, so the fleet operator sees the device's real state, not "installed".
//!
//! The maintenance window (`maintenanceWindow: unavailable`) and `update: skip` are honoured by
//! downloading and waiting; a cancel request is accepted while nothing is installed yet.

use super::ddi::{self, ControllerBase, Deployment, Execution, Finished, Handling};
use super::{Agent, Offer, Outcome, UpdateState, rauc::Rauc};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

/// Longest wait between polls, whatever the server says.
const MAX_SLEEP: Duration = Duration::from_secs(24 * 3600);

/// A bundle downloaded for an action that may not be installed yet.
struct Waiting {
    action: String,
    path: PathBuf,
    offer: Offer,
}

struct Session<'a> {
    agent: &'a Agent,
    rauc: &'a Rauc,
    client: reqwest::Client,
    base: reqwest::Url,
    controller: String,
    booted_version: Option<String>,
    waiting: Option<Waiting>,
    /// Actions closed (or refused) by this process: not attempted again.
    done: HashSet<String>,
}

/// What one poll led to.
enum Next {
    Sleep(Duration),
    /// An update is installed and the device is rebooting.
    Stop,
}

pub(super) async fn run(agent: &Agent, rauc: &Rauc, booted_version: Option<String>) {
    let hb = &agent.cfg.hawkbit;
    let controller = crate::controller_id(hb);
    let base = match ddi::base_url(&hb.url, &hb.tenant, &controller) {
        Ok(u) => u,
        Err(e) => return agent.set(UpdateState::Error, format!("ota.hawkbit.url: {e}")),
    };
    let mut headers = reqwest::header::HeaderMap::new();
    let auth = if !hb.target_token.is_empty() {
        Some(format!("TargetToken {}", hb.target_token))
    } else if !hb.gateway_token.is_empty() {
        Some(format!("GatewayToken {}", hb.gateway_token))
    } else {
        None
    };
    if let Some(a) = auth {
        match reqwest::header::HeaderValue::from_str(&a) {
            Ok(mut v) => {
                v.set_sensitive(true);
                headers.insert(reqwest::header::AUTHORIZATION, v);
            }
            Err(_) => {
                return agent.set(
                    UpdateState::Error,
                    "the hawkBit token holds invalid characters",
                );
            }
        }
    }
    headers.insert(
        reqwest::header::ACCEPT,
        reqwest::header::HeaderValue::from_static("application/hal+json, application/json"),
    );
    let client = match reqwest::Client::builder()
        .default_headers(headers)
        .connect_timeout(Duration::from_secs(15))
        .build()
    {
        Ok(c) => c,
        Err(e) => return agent.set(UpdateState::Error, e.to_string()),
    };
    let mut s = Session {
        agent,
        rauc,
        client,
        base,
        controller,
        booted_version,
        waiting: None,
        done: HashSet::new(),
    };
    let retry = Duration::from_secs(agent.cfg.poll_secs.max(1));
    loop {
        let sleep = match s.poll().await {
            Ok(Next::Sleep(d)) => d.clamp(Duration::from_secs(1), MAX_SLEEP),
            Ok(Next::Stop) => return,
            Err(e) => {
                tracing::warn!(error = %e, "hawkBit poll failed");
                agent.set(UpdateState::Error, e);
                retry
            }
        };
        tokio::time::sleep(sleep).await;
    }
}

impl Session<'_> {
    async fn get(&self, url: &str, what: &str) -> Result<bytes::Bytes, String> {
        let res = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("hawkBit {what} {url}: {e}"))?;
        let status = res.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(format!(
                "hawkBit refused controller {} ({status}): check ota.hawkbit.target_token / gateway_token",
                self.controller
            ));
        }
        if !status.is_success() {
            return Err(format!("hawkBit {what} {url} answered {status}"));
        }
        res.bytes()
            .await
            .map_err(|e| format!("hawkBit {what} {url}: {e}"))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        body: &serde_json::Value,
    ) -> Result<(), String> {
        let res = self
            .client
            .request(method, url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("hawkBit {url}: {e}"))?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(format!("hawkBit {url} answered {}", res.status()))
        }
    }

    /// Feedback on the action at `href`; a failure to deliver it is logged (the caller decides
    /// whether that matters).
    async fn feedback(
        &self,
        href: &str,
        action: &str,
        execution: Execution,
        finished: Finished,
        progress: Option<(u32, u32)>,
        detail: &str,
    ) -> Result<(), String> {
        let url = ddi::feedback_url(href).map_err(|e| e.to_string())?;
        let body = ddi::feedback(action, execution, finished, progress, &[detail.to_string()]);
        let r = self.send(reqwest::Method::POST, url, &body).await;
        if let Err(e) = &r {
            tracing::warn!(action, error = %e, "hawkBit feedback not delivered");
        }
        r
    }

    async fn poll(&mut self) -> Result<Next, String> {
        let doc = self.get(self.base.as_str(), "poll").await?;
        let base = ControllerBase::parse(&doc).map_err(|e| e.to_string())?;
        if let Some(href) = &base.config_data {
            self.send_attributes(href).await?;
        }
        if let Some(href) = &base.cancel_action {
            self.cancel(href).await?;
        }
        match &base.deployment_base {
            Some(href) => {
                let doc = self.get(href, "deployment").await?;
                match Deployment::parse(&doc) {
                    Ok(d) => {
                        if self.deploy(href, d).await? {
                            return Ok(Next::Stop);
                        }
                    }
                    Err(e) => {
                        // Without an action id there is nothing to report on: say it here.
                        return Err(e.to_string());
                    }
                }
            }
            None => {
                if let Some(w) = self.waiting.take() {
                    // The action went away (closed or canceled on the server).
                    let _ = tokio::fs::remove_file(&w.path).await;
                }
                self.agent.set(
                    UpdateState::UpToDate,
                    format!(
                        "hawkBit assigns no update to {} (running {})",
                        self.controller,
                        self.booted_version
                            .as_deref()
                            .unwrap_or("the factory image")
                    ),
                );
            }
        }
        Ok(Next::Sleep(base.sleep))
    }

    /// The attributes the server shows for this device.
    async fn send_attributes(&self, href: &str) -> Result<(), String> {
        let url = reqwest::Url::parse(href).map_err(|e| format!("configData link {href}: {e}"))?;
        let slot = self.rauc.booted().await.ok().flatten().map(|s| s.name);
        let body = ddi::config_data(&[
            (
                "compatible",
                self.rauc.compatible().await.unwrap_or_default(),
            ),
            (
                "bundle_version",
                self.booted_version.clone().unwrap_or_default(),
            ),
            ("slot", slot.unwrap_or_default()),
            ("pinhole_version", env!("CARGO_PKG_VERSION").to_string()),
            ("arch", std::env::consts::ARCH.to_string()),
        ]);
        self.send(reqwest::Method::PUT, url, &body).await
    }

    /// A cancel request: honoured while the action's bundle is at most downloaded.
    async fn cancel(&mut self, href: &str) -> Result<(), String> {
        let doc = self.get(href, "cancel action").await?;
        let (id, stop) = ddi::parse_cancel(&doc).map_err(|e| e.to_string())?;
        let installed = self
            .agent
            .pending()
            .is_some_and(|p| p.action.as_deref() == Some(stop.as_str()));
        if installed {
            self.feedback(
                href,
                &id,
                Execution::Rejected,
                Finished::None,
                None,
                "already installed; the device boots into it",
            )
            .await?;
            return Ok(());
        }
        if let Some(w) = self.waiting.take_if(|w| w.action == stop) {
            let _ = tokio::fs::remove_file(&w.path).await;
        }
        self.done.insert(stop.clone());
        self.feedback(
            href,
            &id,
            Execution::Canceled,
            Finished::Success,
            None,
            "canceled; nothing was installed",
        )
        .await?;
        self.agent.set(
            UpdateState::Canceled,
            format!("hawkBit canceled action {stop}"),
        );
        Ok(())
    }

    /// Acts on an assigned update. `Ok(true)`: installed, and the device is rebooting.
    async fn deploy(&mut self, href: &str, d: Deployment) -> Result<bool, String> {
        let action = d.action.clone();
        // An update this device installed before its reboot: report how it went.
        if let Some((p, outcome)) = self
            .agent
            .judge_pending(self.rauc)
            .await
            .filter(|(p, _)| p.action.as_deref() == Some(action.as_str()))
        {
            let booted = match self.rauc.booted().await {
                Ok(Some(s)) => s.name,
                _ => String::new(),
            };
            match outcome {
                Outcome::Running => {
                    let detail = format!(
                        "version {} runs in slot {booted} and passed its health checks",
                        p.version
                    );
                    self.close(href, &action, Finished::Success, &detail)
                        .await?;
                    self.agent.clear_pending();
                    self.agent.set(UpdateState::UpToDate, detail);
                }
                Outcome::RolledBack(why) => {
                    self.close(href, &action, Finished::Failure, &why).await?;
                    self.agent.clear_pending();
                    self.agent.set(UpdateState::RolledBack, why);
                }
                Outcome::AwaitingReboot | Outcome::NeverCameUp => {
                    self.agent.reboot_in_window(&p.version).await;
                    return Ok(true);
                }
            }
            self.done.insert(action);
            return Ok(false);
        }
        if self.done.contains(&action) {
            return Ok(false);
        }
        let artifact = match d.bundle() {
            Ok(a) => a.clone(),
            Err(e) => {
                self.done.insert(action.clone());
                return self.fail(href, &action, e.to_string()).await;
            }
        };
        self.agent
            .h
            .update(|s| s.available = Some(artifact.version.clone()));
        if d.download == Handling::Skip {
            self.agent.set(
                UpdateState::Waiting,
                format!(
                    "hawkBit action {action}: version {} not to be downloaded yet",
                    artifact.version
                ),
            );
            return Ok(false);
        }
        if !artifact.version.is_empty()
            && self.booted_version.as_deref() == Some(artifact.version.as_str())
        {
            let detail = format!("version {} is already running", artifact.version);
            self.close(href, &action, Finished::Success, &detail)
                .await?;
            self.done.insert(action);
            self.agent.set(UpdateState::UpToDate, detail);
            return Ok(false);
        }
        let Some(url) = artifact
            .url
            .as_deref()
            .and_then(|u| reqwest::Url::parse(u).ok())
        else {
            return self
                .fail(
                    href,
                    &action,
                    format!("artifact {} has no download link", artifact.filename),
                )
                .await;
        };
        let offer = Offer {
            version: if artifact.version.is_empty() {
                artifact.filename.clone()
            } else {
                artifact.version.clone()
            },
            url,
            size: artifact.size,
            sha256: artifact.sha256.clone().unwrap_or_default(),
        };
        // Download (or find the bundle downloaded while waiting for the window).
        let path = match self.waiting.take_if(|w| w.action == action) {
            Some(w)
                if w.offer.sha256 == offer.sha256 && tokio::fs::metadata(&w.path).await.is_ok() =>
            {
                w.path
            }
            _ => {
                self.proceeding(
                    href,
                    &action,
                    0,
                    &format!(
                        "downloading {} ({} bytes)",
                        artifact.filename, artifact.size
                    ),
                )
                .await;
                let work = self.agent.download(&self.client, &offer);
                match self
                    .with_progress(href, &action, UpdateState::Downloading, work)
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        self.done.insert(action.clone());
                        return self
                            .fail(href, &action, format!("download failed: {e}"))
                            .await;
                    }
                }
            }
        };
        if d.update == Handling::Skip || d.window_open == Some(false) {
            let why = if d.update == Handling::Skip {
                "the server has not allowed the update yet"
            } else {
                "its maintenance window is closed"
            };
            let first = self.waiting.is_none();
            self.waiting = Some(Waiting {
                action: action.clone(),
                path,
                offer: offer.clone(),
            });
            if first {
                self.proceeding(
                    href,
                    &action,
                    100,
                    &format!("downloaded; waiting to install: {why}"),
                )
                .await;
            }
            self.agent.set(
                UpdateState::Waiting,
                format!("version {} downloaded; {why}", offer.version),
            );
            return Ok(false);
        }
        self.proceeding(
            href,
            &action,
            0,
            &format!("installing version {}", offer.version),
        )
        .await;
        let work = self
            .agent
            .install(self.rauc, &path, &offer, Some(action.clone()));
        if let Err(e) = self
            .with_progress(href, &action, UpdateState::Installing, work)
            .await
        {
            self.done.insert(action.clone());
            return self
                .fail(
                    href,
                    &action,
                    format!("RAUC did not install the bundle: {e}"),
                )
                .await;
        }
        self.proceeding(
            href,
            &action,
            100,
            &format!(
                "version {} installed; rebooting into it, then confirming its health",
                offer.version
            ),
        )
        .await;
        self.agent.reboot_in_window(&offer.version).await;
        Ok(true)
    }

    /// Closes the action: the last word on it.
    async fn close(
        &self,
        href: &str,
        action: &str,
        finished: Finished,
        detail: &str,
    ) -> Result<(), String> {
        self.feedback(href, action, Execution::Closed, finished, None, detail)
            .await
    }

    /// Closes the action as failed, with the reason, and returns the reason as the error.
    async fn fail(&self, href: &str, action: &str, why: String) -> Result<bool, String> {
        let _ = self.close(href, action, Finished::Failure, &why).await;
        Err(why)
    }

    /// Progress on the action, `pct` of 100 (best effort).
    async fn proceeding(&self, href: &str, action: &str, pct: u32, detail: &str) {
        let _ = self
            .feedback(
                href,
                action,
                Execution::Proceeding,
                Finished::None,
                Some((pct, 100)),
                detail,
            )
            .await;
    }

    /// Runs `work`, sending the status's progress as feedback every few seconds meanwhile.
    async fn with_progress<T>(
        &self,
        href: &str,
        action: &str,
        doing: UpdateState,
        work: impl std::future::Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        tokio::pin!(work);
        let mut tick = tokio::time::interval(Duration::from_secs(3));
        tick.tick().await;
        let mut sent = None;
        loop {
            tokio::select! {
                r = &mut work => return r,
                _ = tick.tick() => {
                    let pct = self.agent.h.status().progress.unwrap_or(0).clamp(0, 100) as u32;
                    if sent != Some(pct) {
                        sent = Some(pct);
                        self.proceeding(href, action, pct, &format!("{doing} {pct} %")).await;
                    }
                }
            }
        }
    }
}
