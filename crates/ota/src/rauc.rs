//! RAUC's D-Bus API (`de.pengutronix.rauc.Installer` on the system bus), through zbus.
//!
//! Facts this client relies on (RAUC 1.8, checked against the real service in `tests/ota.rs`):
//! `InstallBundle(s, a{sv})` returns as soon as the install has started; progress arrives in
//! the `Progress` property `(percent, message, depth)`; the result is the `Completed(i)` signal
//! (0 = success), and `LastError` is set before it is emitted. So the client subscribes to
//! `Completed` before calling `InstallBundle`, then reads `LastError`. A bundle that is unsigned,
//! signed by another key, tampered with, truncated or for another `compatible` is refused by
//! RAUC before anything is written to a slot.

use std::collections::HashMap;
use std::time::Duration;
use zbus::zvariant::{OwnedValue, Value};

#[zbus::proxy(
    interface = "de.pengutronix.rauc.Installer",
    default_service = "de.pengutronix.rauc",
    default_path = "/"
)]
trait Installer {
    fn install_bundle(&self, source: &str, args: HashMap<&str, Value<'_>>) -> zbus::Result<()>;
    fn mark(&self, state: &str, slot_identifier: &str) -> zbus::Result<(String, String)>;
    fn get_slot_status(&self) -> zbus::Result<Vec<(String, HashMap<String, OwnedValue>)>>;
    fn get_primary(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn operation(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn last_error(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn progress(&self) -> zbus::Result<(i32, String, i32)>;
    #[zbus(property)]
    fn compatible(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn boot_slot(&self) -> zbus::Result<String>;
    #[zbus(signal)]
    fn completed(&self, result: i32) -> zbus::Result<()>;
}

#[derive(Debug, thiserror::Error)]
pub enum RaucError {
    #[error("cannot reach RAUC on D-Bus ({address}): {source}")]
    Connect {
        address: String,
        source: zbus::Error,
    },
    #[error("RAUC: {0}")]
    Call(#[from] zbus::Error),
    #[error("RAUC refused the bundle: {0}")]
    Install(String),
    #[error("RAUC did not finish the install within {0:?}")]
    Timeout(Duration),
}

/// One slot as RAUC reports it.
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq)]
pub struct Slot {
    pub name: String,
    pub class: String,
    pub bootname: Option<String>,
    /// booted / inactive / active.
    pub state: Option<String>,
    /// good / bad (from the boot loader).
    pub boot_status: Option<String>,
    pub bundle_version: Option<String>,
    pub bundle_compatible: Option<String>,
}

fn text(m: &HashMap<String, OwnedValue>, key: &str) -> Option<String> {
    m.get(key).and_then(|v| String::try_from(v.clone()).ok())
}

#[derive(Clone)]
pub struct Rauc {
    proxy: InstallerProxy<'static>,
}

impl Rauc {
    /// Connects to RAUC on the system bus, or on the bus at `address` (tests use a private one).
    pub async fn connect(address: Option<&str>) -> Result<Self, RaucError> {
        let shown = address.unwrap_or("system bus").to_string();
        let wrap = |source| RaucError::Connect {
            address: shown.clone(),
            source,
        };
        let conn = match address {
            Some(a) => {
                zbus::connection::Builder::address(a)
                    .map_err(wrap)?
                    .build()
                    .await
            }
            None => zbus::Connection::system().await,
        }
        .map_err(wrap)?;
        let proxy = InstallerProxy::new(&conn).await.map_err(wrap)?;
        // A call that needs the service: fails clearly when RAUC is not running.
        proxy.compatible().await.map_err(wrap)?;
        Ok(Self { proxy })
    }

    pub async fn compatible(&self) -> Result<String, RaucError> {
        Ok(self.proxy.compatible().await?)
    }

    /// The slot the system booted from (its boot name).
    pub async fn boot_slot(&self) -> Result<String, RaucError> {
        Ok(self.proxy.boot_slot().await?)
    }

    pub async fn primary(&self) -> Result<String, RaucError> {
        Ok(self.proxy.get_primary().await?)
    }

    pub async fn slots(&self) -> Result<Vec<Slot>, RaucError> {
        let raw = self.proxy.get_slot_status().await?;
        Ok(raw
            .into_iter()
            .map(|(name, m)| Slot {
                name,
                class: text(&m, "class").unwrap_or_default(),
                bootname: text(&m, "bootname"),
                state: text(&m, "state"),
                boot_status: text(&m, "boot-status"),
                bundle_version: text(&m, "bundle.version"),
                bundle_compatible: text(&m, "bundle.compatible"),
            })
            .collect())
    }

    /// The slot marked `booted`, if RAUC knows it.
    pub async fn booted(&self) -> Result<Option<Slot>, RaucError> {
        Ok(self
            .slots()
            .await?
            .into_iter()
            .find(|s| s.state.as_deref() == Some("booted")))
    }

    /// Marks a slot (`booted`, `other` or a slot name) `good`, `bad` or `active`.
    pub async fn mark(&self, state: &str, slot: &str) -> Result<(String, String), RaucError> {
        Ok(self.proxy.mark(state, slot).await?)
    }

    /// Installs a bundle (a local path or an URL RAUC can stream), calling `progress` with
    /// (percent, message) as RAUC reports them; returns when RAUC has finished.
    pub async fn install(
        &self,
        bundle: &str,
        limit: Duration,
        mut progress: impl FnMut(i32, &str),
    ) -> Result<(), RaucError> {
        use futures_util::StreamExt;
        let mut completed = self.proxy.receive_completed().await?;
        let mut changes = self.proxy.receive_progress_changed().await;
        self.proxy.install_bundle(bundle, HashMap::new()).await?;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Err(RaucError::Timeout(limit)),
                Some(c) = changes.next() => {
                    if let Ok((pct, msg, _)) = c.get().await {
                        progress(pct, &msg);
                    }
                }
                Some(signal) = completed.next() => {
                    let code = signal.args().map(|a| a.result).unwrap_or(1);
                    if code == 0 {
                        // The last Progress change may arrive after Completed: report the end.
                        if let Ok((pct, msg, _)) = self.proxy.progress().await {
                            progress(pct, &msg);
                        }
                        return Ok(());
                    }
                    let why = self.proxy.last_error().await.unwrap_or_default();
                    return Err(RaucError::Install(if why.is_empty() { format!("result {code}") } else { why }));
                }
            }
        }
    }
}
