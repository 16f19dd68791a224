//! hawkBit's Direct Device Integration (DDI) API, the wire side only (pure: parsing what the
//! server sends, building what the device sends back), so that it can be unit-tested and fuzzed
//! without a server. The I/O is in [`super::hawkbit`].
//!
//! A device polls `GET {server}/{tenant}/controller/v1/{controllerId}`; the answer says how long
//! to sleep and carries links to what the server wants: `configData` (send the device's
//! attributes), `deploymentBase` (an update action: chunks, artifacts with hashes and download
//! links), `cancelAction` (stop an action). The device reports on an action by POSTing feedback
//! (`execution` proceeding/closed/canceled/rejected, `finished` none/success/failure, progress,
//! details) to the action's link plus `/feedback`. See
//! <https://eclipse.dev/hawkbit/apis/ddi_api/>.
//!
//! Written here rather than taken from the `hawkbit` crate (collabora/hawkbit-rs), which was
//! read before deciding: its download panics (`expect`) on an artifact without a download link,
//! i.e. on input from the server; it does not expose an artifact's URL, so the download could
//! neither report progress nor go through the resumable, size- and SHA-256-checked downloader
//! that the manifest source already uses ([`super::download`]); it requires every hash (md5,
//! sha1, sha256) and caps artifact sizes at `u32`; and its current release needs reqwest 0.13,
//! a second HTTP stack beside the 0.12 this binary carries. The part of the protocol a RAUC
//! device uses is four small JSON documents, below.

use serde::{Deserialize, Deserializer, Serialize};
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DdiError {
    #[error("the server's {what} is not valid DDI JSON: {detail}")]
    Json { what: &'static str, detail: String },
    #[error("polling sleep {0:?} is not HH:MM:SS")]
    Sleep(String),
    #[error("action {action}: {detail}")]
    Deployment { action: String, detail: String },
}

/// What the controller base resource answers.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerBase {
    /// How long the server wants the device to wait before the next poll.
    pub sleep: Duration,
    pub config_data: Option<String>,
    pub deployment_base: Option<String>,
    pub cancel_action: Option<String>,
}

#[derive(Deserialize)]
struct BaseDoc {
    config: BaseConfig,
    #[serde(rename = "_links", default)]
    links: BaseLinks,
}

#[derive(Deserialize)]
struct BaseConfig {
    polling: Polling,
}

#[derive(Deserialize)]
struct Polling {
    sleep: String,
}

#[derive(Deserialize, Default)]
struct BaseLinks {
    #[serde(rename = "configData")]
    config_data: Option<Link>,
    #[serde(rename = "deploymentBase")]
    deployment_base: Option<Link>,
    #[serde(rename = "cancelAction")]
    cancel_action: Option<Link>,
}

#[derive(Deserialize, Clone)]
struct Link {
    href: String,
}

/// Parses hawkBit's polling interval, `HH:MM:SS`.
pub fn parse_sleep(s: &str) -> Result<Duration, DdiError> {
    let bad = || DdiError::Sleep(s.to_string());
    let mut parts = s.split(':');
    let mut next = |max: u64| -> Result<u64, DdiError> {
        let p = parts.next().ok_or_else(bad)?;
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let v: u64 = p.parse().map_err(|_| bad())?;
        if v > max {
            return Err(bad());
        }
        Ok(v)
    };
    let (h, m, sec) = (next(99)?, next(59)?, next(59)?);
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(Duration::from_secs(h * 3600 + m * 60 + sec))
}

impl ControllerBase {
    pub fn parse(doc: &[u8]) -> Result<Self, DdiError> {
        let d: BaseDoc = serde_json::from_slice(doc).map_err(|e| DdiError::Json {
            what: "controller base",
            detail: e.to_string(),
        })?;
        Ok(ControllerBase {
            sleep: parse_sleep(&d.config.polling.sleep)?,
            config_data: d.links.config_data.map(|l| l.href),
            deployment_base: d.links.deployment_base.map(|l| l.href),
            cancel_action: d.links.cancel_action.map(|l| l.href),
        })
    }
}

/// How the server wants a step handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Handling {
    /// Not yet.
    Skip,
    /// The device may choose when.
    Attempt,
    /// Now.
    Forced,
}

/// An update action (`deploymentBase`), reduced to what a RAUC device acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub action: String,
    pub download: Handling,
    pub update: Handling,
    /// `Some(false)`: the action belongs to a maintenance window that is closed now: download,
    /// but do not install yet.
    pub window_open: Option<bool>,
    /// Every artifact of every chunk.
    pub artifacts: Vec<Artifact>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    pub filename: String,
    /// The chunk's (software module's) version.
    pub version: String,
    pub size: u64,
    pub sha256: Option<String>,
    /// The HTTPS link if the server gives one, else the plain HTTP one.
    pub url: Option<String>,
}

#[derive(Deserialize)]
struct DeploymentDoc {
    #[serde(deserialize_with = "id_string")]
    id: String,
    deployment: DeploymentBody,
}

#[derive(Deserialize)]
struct DeploymentBody {
    download: Handling,
    update: Handling,
    #[serde(rename = "maintenanceWindow")]
    maintenance_window: Option<String>,
    #[serde(default)]
    chunks: Vec<ChunkDoc>,
}

#[derive(Deserialize)]
struct ChunkDoc {
    #[serde(default)]
    version: String,
    #[serde(default)]
    artifacts: Vec<ArtifactDoc>,
}

#[derive(Deserialize)]
struct ArtifactDoc {
    filename: String,
    size: u64,
    #[serde(default)]
    hashes: Hashes,
    #[serde(rename = "_links", default)]
    links: ArtifactLinks,
}

#[derive(Deserialize, Default)]
struct Hashes {
    sha256: Option<String>,
}

#[derive(Deserialize, Default)]
struct ArtifactLinks {
    download: Option<Link>,
    #[serde(rename = "download-http")]
    download_http: Option<Link>,
}

/// Action ids are strings in DDI; some servers send numbers.
fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "id must be a string or a number, not {other}"
        ))),
    }
}

impl Deployment {
    pub fn parse(doc: &[u8]) -> Result<Self, DdiError> {
        let d: DeploymentDoc = serde_json::from_slice(doc).map_err(|e| DdiError::Json {
            what: "deployment",
            detail: e.to_string(),
        })?;
        let window_open = match d.deployment.maintenance_window.as_deref() {
            None => None,
            Some("available") => Some(true),
            Some("unavailable") => Some(false),
            Some(other) => {
                return Err(DdiError::Deployment {
                    action: d.id,
                    detail: format!("unknown maintenanceWindow {other:?}"),
                });
            }
        };
        let artifacts = d
            .deployment
            .chunks
            .into_iter()
            .flat_map(|c| {
                let version = c.version;
                c.artifacts.into_iter().map(move |a| Artifact {
                    filename: a.filename,
                    version: version.clone(),
                    size: a.size,
                    sha256: a.hashes.sha256,
                    url: a.links.download.or(a.links.download_http).map(|l| l.href),
                })
            })
            .collect();
        Ok(Deployment {
            action: d.id,
            download: d.deployment.download,
            update: d.deployment.update,
            window_open,
            artifacts,
        })
    }

    /// The RAUC bundle to install: the one artifact named `*.raucb`, or the only artifact there
    /// is. It must have a SHA-256 and a download link: the download is checked against both.
    pub fn bundle(&self) -> Result<&Artifact, DdiError> {
        let err = |detail: String| DdiError::Deployment {
            action: self.action.clone(),
            detail,
        };
        let bundles: Vec<&Artifact> = self
            .artifacts
            .iter()
            .filter(|a| a.filename.ends_with(".raucb"))
            .collect();
        let a = match (bundles.as_slice(), self.artifacts.as_slice()) {
            ([one], _) => *one,
            ([], [only]) => only,
            ([], []) => return Err(err("the deployment holds no artifact".into())),
            ([], all) => {
                return Err(err(format!(
                    "none of its {} artifacts is a RAUC bundle (*.raucb)",
                    all.len()
                )));
            }
            (several, _) => {
                return Err(err(format!(
                    "it holds {} RAUC bundles; one is expected",
                    several.len()
                )));
            }
        };
        match &a.sha256 {
            Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {}
            _ => {
                return Err(err(format!(
                    "artifact {} has no valid SHA-256 hash",
                    a.filename
                )));
            }
        }
        match a.url.as_deref().map(reqwest::Url::parse) {
            Some(Ok(u)) if matches!(u.scheme(), "https" | "http") => Ok(a),
            Some(_) => Err(err(format!(
                "artifact {} has an invalid download link",
                a.filename
            ))),
            None => Err(err(format!("artifact {} has no download link", a.filename))),
        }
    }
}

/// `cancelAction`: which action the server wants stopped.
pub fn parse_cancel(doc: &[u8]) -> Result<(String, String), DdiError> {
    #[derive(Deserialize)]
    struct Doc {
        #[serde(deserialize_with = "id_string")]
        id: String,
        #[serde(rename = "cancelAction")]
        cancel_action: Stop,
    }
    #[derive(Deserialize)]
    struct Stop {
        #[serde(rename = "stopId", deserialize_with = "id_string")]
        stop_id: String,
    }
    let d: Doc = serde_json::from_slice(doc).map_err(|e| DdiError::Json {
        what: "cancel action",
        detail: e.to_string(),
    })?;
    Ok((d.id, d.cancel_action.stop_id))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Execution {
    Proceeding,
    Closed,
    Canceled,
    Rejected,
    Scheduled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Finished {
    None,
    Success,
    Failure,
}

/// The feedback document for action `id`; `progress` is (steps done, steps).
pub fn feedback(
    id: &str,
    execution: Execution,
    finished: Finished,
    progress: Option<(u32, u32)>,
    details: &[String],
) -> serde_json::Value {
    let mut result = serde_json::json!({ "finished": finished });
    if let Some((cnt, of)) = progress {
        result["progress"] = serde_json::json!({"cnt": cnt, "of": of});
    }
    serde_json::json!({
        "id": id,
        "status": {"execution": execution, "result": result, "details": details},
    })
}

/// Where feedback on the action behind `href` (a `deploymentBase` or `cancelAction` link) goes:
/// the link's path plus `/feedback`, without its query.
pub fn feedback_url(href: &str) -> Result<reqwest::Url, DdiError> {
    let bad = |detail: String| DdiError::Json {
        what: "action link",
        detail,
    };
    let mut u = reqwest::Url::parse(href).map_err(|e| bad(format!("{href}: {e}")))?;
    u.set_query(None);
    u.path_segments_mut()
        .map_err(|_| bad(format!("{href} cannot have a path")))?
        .pop_if_empty()
        .push("feedback");
    Ok(u)
}

/// The `configData` document: the attributes the server shows for this device.
pub fn config_data(attributes: &[(&str, String)]) -> serde_json::Value {
    let data: serde_json::Map<String, serde_json::Value> = attributes
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::json!({"mode": "merge", "data": data})
}

/// The controller base URL for `server`, `tenant` and `controller_id`.
pub fn base_url(server: &str, tenant: &str, controller_id: &str) -> Result<reqwest::Url, String> {
    let mut u = reqwest::Url::parse(server).map_err(|e| format!("{server}: {e}"))?;
    if !matches!(u.scheme(), "https" | "http") {
        return Err(format!("{server}: must be https:// (or http://)"));
    }
    u.path_segments_mut()
        .map_err(|_| format!("{server} cannot have a path"))?
        .pop_if_empty()
        .extend([tenant, "controller", "v1", controller_id]);
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_is_hh_mm_ss() {
        assert_eq!(parse_sleep("00:00:05"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_sleep("12:00:00"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_sleep("01:05:05"), Ok(Duration::from_secs(3905)));
        for bad in [
            "05:05", "invalid", "00:60:00", "1:2:3:4", "::", "00:0a:00", "-1:00:00",
        ] {
            assert!(parse_sleep(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn controller_base_with_and_without_links() {
        let b = ControllerBase::parse(br#"{"config":{"polling":{"sleep":"00:05:00"}},"_links":{"deploymentBase":{"href":"https://h/DEFAULT/controller/v1/dev/deploymentBase/8?c=-21"},"configData":{"href":"https://h/DEFAULT/controller/v1/dev/configData"}}}"#).expect("base");
        assert_eq!(b.sleep, Duration::from_secs(300));
        assert_eq!(
            b.deployment_base.as_deref(),
            Some("https://h/DEFAULT/controller/v1/dev/deploymentBase/8?c=-21")
        );
        assert!(b.config_data.is_some() && b.cancel_action.is_none());
        let idle =
            ControllerBase::parse(br#"{"config":{"polling":{"sleep":"12:00:00"}}}"#).expect("idle");
        assert!(idle.deployment_base.is_none());
        let e = ControllerBase::parse(b"<html>").expect_err("html");
        assert!(e.to_string().contains("controller base"), "{e}");
    }

    const DEPLOYMENT: &str = r#"{"id":"8","deployment":{"download":"forced","update":"attempt","maintenanceWindow":"unavailable",
        "chunks":[{"part":"os","version":"2.0.0","name":"pinhole","artifacts":[
          {"filename":"notes.txt","hashes":{"sha1":"a","md5":"b","sha256":"c"},"size":3,"_links":{}},
          {"filename":"pinhole-2.0.0.raucb","size":5000000000,
           "hashes":{"sha1":"x","md5":"y","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
           "_links":{"download":{"href":"https://h/DEFAULT/controller/v1/dev/softwaremodules/1/artifacts/pinhole-2.0.0.raucb"},
                     "download-http":{"href":"http://h/DEFAULT/controller/v1/dev/softwaremodules/1/artifacts/pinhole-2.0.0.raucb"}}}]}]},
        "actionHistory":{"status":"RUNNING","messages":[]}}"#;

    #[test]
    fn deployment_picks_the_bundle_over_https() {
        let d = Deployment::parse(DEPLOYMENT.as_bytes()).expect("deployment");
        assert_eq!(d.action, "8");
        assert_eq!(
            (d.download, d.update),
            (Handling::Forced, Handling::Attempt)
        );
        assert_eq!(d.window_open, Some(false));
        let b = d.bundle().expect("bundle");
        assert_eq!(b.filename, "pinhole-2.0.0.raucb");
        assert_eq!(b.version, "2.0.0");
        assert_eq!(b.size, 5_000_000_000, "sizes beyond 4 GB");
        assert!(b.url.as_deref().is_some_and(|u| u.starts_with("https://")));
    }

    #[test]
    fn deployment_faults_name_the_action_and_artifact() {
        let numeric = DEPLOYMENT.replacen(r#""id":"8""#, r#""id":8"#, 1);
        assert_eq!(
            Deployment::parse(numeric.as_bytes())
                .expect("numeric id")
                .action,
            "8"
        );
        let no_link = DEPLOYMENT.replace(r#""_links":{"download""#, r#""_nolinks":{"download""#);
        let e = Deployment::parse(no_link.as_bytes())
            .expect("parses")
            .bundle()
            .expect_err("no link");
        assert_eq!(
            e.to_string(),
            "action 8: artifact pinhole-2.0.0.raucb has no download link"
        );
        let no_hash = DEPLOYMENT.replace("9f86d081", "zz");
        let e = Deployment::parse(no_hash.as_bytes())
            .expect("parses")
            .bundle()
            .expect_err("bad hash");
        assert!(e.to_string().contains("no valid SHA-256"), "{e}");
        let two = DEPLOYMENT.replace("notes.txt", "other.raucb");
        let e = Deployment::parse(two.as_bytes())
            .expect("parses")
            .bundle()
            .expect_err("two");
        assert!(e.to_string().contains("2 RAUC bundles"), "{e}");
        let none = DEPLOYMENT.replace("pinhole-2.0.0.raucb", "rootfs.img");
        let e = Deployment::parse(none.as_bytes())
            .expect("parses")
            .bundle()
            .expect_err("none");
        assert!(e.to_string().contains("none of its 2 artifacts"), "{e}");
        let window = DEPLOYMENT.replace("unavailable", "sometimes");
        assert!(Deployment::parse(window.as_bytes()).is_err());
        assert!(Deployment::parse(br#"{"id":[],"deployment":{}}"#).is_err());
    }

    #[test]
    fn cancel_and_feedback_documents() {
        assert_eq!(
            parse_cancel(br#"{"id":"11","cancelAction":{"stopId":"10"}}"#),
            Ok(("11".into(), "10".into()))
        );
        assert!(parse_cancel(b"{}").is_err());
        let f = feedback(
            "8",
            Execution::Proceeding,
            Finished::None,
            Some((3, 10)),
            &["downloading".into()],
        );
        assert_eq!(
            f,
            serde_json::json!({"id":"8","status":{"execution":"proceeding",
                "result":{"finished":"none","progress":{"cnt":3,"of":10}},"details":["downloading"]}})
        );
        let f = feedback("8", Execution::Closed, Finished::Failure, None, &[]);
        assert_eq!(
            f["status"]["result"],
            serde_json::json!({"finished":"failure"})
        );
        assert_eq!(
            feedback_url("https://h/T/controller/v1/d/deploymentBase/8?c=-2")
                .expect("url")
                .as_str(),
            "https://h/T/controller/v1/d/deploymentBase/8/feedback"
        );
        assert_eq!(
            config_data(&[("compatible", "pinhole-rpi".into())]),
            serde_json::json!({"mode":"merge","data":{"compatible":"pinhole-rpi"}})
        );
    }

    #[test]
    fn base_url_escapes_its_parts() {
        assert_eq!(
            base_url("https://hawkbit.example.com:8443/", "DEFAULT", "pinhole-01")
                .expect("url")
                .as_str(),
            "https://hawkbit.example.com:8443/DEFAULT/controller/v1/pinhole-01"
        );
        assert_eq!(
            base_url("http://h/prefix", "T", "a/b")
                .expect("url")
                .as_str(),
            "http://h/prefix/T/controller/v1/a%2Fb"
        );
        assert!(base_url("ftp://h", "T", "d").is_err());
        assert!(base_url("not a url", "T", "d").is_err());
    }
}
