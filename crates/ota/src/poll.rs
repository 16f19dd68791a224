//! The signed-manifest update source: poll, compare, download, install.

use crate::*;

/// The plain HTTPS source: check the signed manifest every `poll_secs`; download a newer bundle
/// for this device, have RAUC install it into the other slot, then reboot in the window.
pub(crate) async fn poll_manifest(
    agent: &Agent,
    rauc: &rauc::Rauc,
    booted_version: Option<String>,
) {
    let cfg = &agent.cfg;
    let key = match manifest::parse_key(&cfg.manifest_key) {
        Ok(k) => k,
        Err(e) => return agent.set(UpdateState::Error, e.to_string()),
    };
    let client = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .build()
    {
        Ok(c) => c,
        Err(e) => return agent.set(UpdateState::Error, e.to_string()),
    };
    let compatible = rauc.compatible().await.unwrap_or_default();
    let mut refused: Option<String> = None;
    loop {
        match check_manifest(
            agent,
            &client,
            &key,
            rauc,
            &compatible,
            &booted_version,
            &mut refused,
        )
        .await
        {
            Ok(Some(version)) => {
                agent.reboot_in_window(&version).await;
                return;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "update check failed");
                agent.set(UpdateState::Error, e);
            }
        }
        tokio::time::sleep(Duration::from_secs(cfg.poll_secs)).await;
    }
}

/// One check of the manifest. `Ok(Some(version))`: a bundle was installed.
pub(crate) async fn check_manifest(
    agent: &Agent,
    client: &reqwest::Client,
    key: &ed25519_dalek::VerifyingKey,
    rauc: &rauc::Rauc,
    compatible: &str,
    booted_version: &Option<String>,
    refused: &mut Option<String>,
) -> Result<Option<String>, String> {
    let url = &agent.cfg.manifest_url;
    let res = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("cannot fetch the manifest {url}: {e}"))?;
    if !res.status().is_success() {
        return Err(format!("the manifest {url} answered {}", res.status()));
    }
    let doc = res
        .bytes()
        .await
        .map_err(|e| format!("cannot read the manifest: {e}"))?;
    let m = manifest::verify(&doc, key).map_err(|e| e.to_string())?;
    agent.h.update(|s| s.available = Some(m.version.clone()));
    if m.compatible != compatible {
        return Err(format!(
            "the manifest is for `{}`, this device is `{compatible}`",
            m.compatible
        ));
    }
    if booted_version.as_deref() == Some(m.version.as_str()) {
        agent.set(UpdateState::UpToDate, format!("version {}", m.version));
        return Ok(None);
    }
    if agent.failure_of(&m.version).is_some() {
        agent.set(
            UpdateState::Skipped,
            format!(
                "version {} failed its health check on this device",
                m.version
            ),
        );
        return Ok(None);
    }
    if refused.as_deref() == Some(m.version.as_str()) {
        return Ok(None);
    }
    let offer = Offer {
        url: reqwest::Url::parse(url)
            .and_then(|base| base.join(&m.url))
            .map_err(|e| format!("bad bundle url {}: {e}", m.url))?,
        version: m.version,
        size: m.size,
        sha256: m.sha256,
    };
    let path = agent.download(client, &offer).await?;
    match agent.install(rauc, &path, &offer, None).await {
        Ok(()) => Ok(Some(offer.version)),
        Err(e) => {
            *refused = Some(offer.version.clone());
            Err(e)
        }
    }
}
