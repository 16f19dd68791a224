//! Loading the configuration: one TOML file, overridable by `PINHOLE_<SECTION>__<KEY>` environment variables.
//!
//! Every key lives in a section, so an override is always `PINHOLE_` + section + `__` + key
//! (`PINHOLE_HTTP__LISTEN=0.0.0.0:80`); variables without `__` (`PINHOLE_ADMIN_PASSWORD`,
//! `PINHOLE_LOG`) are not configuration and are never mistaken for it. Override values are read as
//! TOML literals when they parse as one (`8002`, `true`, `"text"`) and as plain strings otherwise.
//!
//! Unknown keys are errors (`deny_unknown_fields`): a typo must not silently fall back to a
//! default on a headless box. Loading collects *every* problem rather than stopping at the first:
//! after a type or unknown-key error the offending key is removed and deserialisation retried, then
//! semantic checks run over the whole result. Each problem names where the value came from (the file
//! or the environment variable), its key path, and why it is wrong.
//!
//! Settings changed at run time through the API live in the store (`settings` table) and take
//! precedence over this file; the file is never rewritten by the appliance.

pub use pinhole_base::config::*;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// The configuration used by `pinhole run --demo` before the file and overrides apply:
/// everything under `./data`, plain HTTP only.
pub fn demo_defaults() -> toml::Table {
    let mut t = toml::Table::new();
    let mut general = toml::Table::new();
    general.insert("state_dir".into(), toml::Value::String("./data".into()));
    general.insert(
        "device_name".into(),
        toml::Value::String("pinhole-demo".into()),
    );
    t.insert("general".into(), toml::Value::Table(general));
    // Small retention limits: the demo records its two cameras continuously.
    let mut storage = toml::Table::new();
    storage.insert("retention_max_age_days".into(), toml::Value::Float(1.0));
    storage.insert("retention_max_size_gb".into(), toml::Value::Float(0.5));
    storage.insert("min_free_mb".into(), toml::Value::Integer(512));
    t.insert("storage".into(), toml::Value::Table(storage));
    // Face detection on camera1 when the assets are there (scripts/fetch-detect-assets).
    if let Some(model) = demo_asset("models/face_detection_short_range.tflite") {
        let mut d = toml::Table::new();
        d.insert("enabled".into(), toml::Value::Boolean(true));
        d.insert(
            "model".into(),
            toml::Value::String(model.display().to_string()),
        );
        d.insert(
            "cameras".into(),
            toml::Value::Array(vec![toml::Value::String("camera1".into())]),
        );
        t.insert("detection".into(), toml::Value::Table(d));
    }
    t
}

/// A file from `scripts/fetch-detect-assets`, if present ($PINHOLE_ASSETS or
/// ~/.cache/pinhole-assets).
pub fn demo_asset(rel: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("PINHOLE_ASSETS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/pinhole-assets"))
        })?;
    let p = dir.join(rel);
    p.is_file().then_some(p)
}

/// One problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file path, or `environment variable PINHOLE_...`.
    pub origin: String,
    /// Dotted key path (`http.listen`, `cameras[1].fps`).
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.origin, self.key, self.reason)
    }
}

/// Every problem found while loading a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problem(s)):",
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Where a configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// Values applied first (e.g. demo defaults).
    pub base: Option<toml::Table>,
    /// The file; `None` means built-in defaults only.
    pub file: Option<PathBuf>,
    /// Environment variables to consider (normally `std::env::vars()`).
    pub env: Vec<(String, String)>,
}

impl ConfigSource {
    pub fn from_process(file: Option<PathBuf>) -> Self {
        Self {
            base: None,
            file,
            env: std::env::vars().collect(),
        }
    }
}

const ENV_PREFIX: &str = "PINHOLE_";

/// Loads, merges and validates a configuration.
pub fn load(source: &ConfigSource) -> Result<Config, ConfigError> {
    let mut origins = Origins::default();
    let mut root = source.base.clone().unwrap_or_default();
    let mut problems = Vec::new();
    let file_origin = match &source.file {
        Some(p) => p.display().to_string(),
        None => "built-in defaults".to_string(),
    };

    if let Some(path) = &source.file {
        match std::fs::read_to_string(path) {
            Ok(text) => match text.parse::<toml::Table>() {
                Ok(table) => merge(&mut root, table),
                Err(e) => problems.push(ConfigProblem {
                    origin: file_origin.clone(),
                    key: "(syntax)".into(),
                    reason: e.to_string().trim().replace('\n', " "),
                }),
            },
            Err(e) => problems.push(ConfigProblem {
                origin: file_origin.clone(),
                key: "(file)".into(),
                reason: format!("cannot read: {e}"),
            }),
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
    }

    for (name, raw) in &source.env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if !rest.contains("__") {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        let key = path.join(".");
        if path.iter().any(|s| s.is_empty()) {
            problems.push(ConfigProblem {
                origin: format!("environment variable {name}"),
                key,
                reason: "empty key segment".into(),
            });
            continue;
        }
        let value = parse_env_value(raw);
        if let Err(reason) = set_path(&mut root, &path, value) {
            problems.push(ConfigProblem {
                origin: format!("environment variable {name}"),
                key,
                reason,
            });
            continue;
        }
        origins.env.insert(key, name.clone());
    }

    let origin_of = |key: &str| origins.origin_of(key, &file_origin);

    let mut value = toml::Value::Table(root);
    let mut config = None;
    // Bounded: each round removes one offending key.
    for _ in 0..64 {
        match serde_path_to_error::deserialize::<_, Config>(value.clone()) {
            Ok(c) => {
                config = Some(c);
                break;
            }
            Err(e) => {
                let mut path = segments(e.path());
                let inner = e.inner().to_string();
                let reason = inner.lines().next().unwrap_or_default().to_string();
                if let Some(field) = unknown_field_name(&reason)
                    && path.last().map(|s| s.as_str()) != Some(field.as_str())
                {
                    path.push(field);
                }
                let key = join_path(&path);
                let removed = remove_path(&mut value, &path);
                problems.push(ConfigProblem {
                    origin: origin_of(&key),
                    key,
                    reason,
                });
                if !removed {
                    break;
                }
            }
        }
    }

    let Some(config) = config else {
        return Err(ConfigError { problems });
    };
    let mut checks = validate(&config);
    checks.extend(pinhole_ota::config_problems(&config.ota));
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&config.log.level) {
        checks.push("log.level", format!("not a valid filter: {e}"));
    }
    for e in checks {
        problems.push(ConfigProblem {
            origin: origin_of(&e.field),
            key: e.field,
            reason: e.reason,
        });
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError { problems })
    }
}

#[derive(Default)]
struct Origins {
    env: BTreeMap<String, String>,
}

impl Origins {
    fn origin_of(&self, key: &str, file: &str) -> String {
        match self.env.get(key) {
            Some(var) => format!("environment variable {var}"),
            None => file.to_string(),
        }
    }
}

fn parse_env_value(raw: &str) -> toml::Value {
    // `v = <raw>` parses when raw is a TOML literal; anything else is a plain string.
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => match t.remove("v") {
            Some(v) if !matches!(v, toml::Value::Table(_) | toml::Value::Datetime(_)) => v,
            _ => toml::Value::String(raw.to_string()),
        },
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

fn set_path(root: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut table = root;
    for seg in parents {
        let entry = table
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(format!(
                    "`{seg}` is not a section; cannot override inside it"
                ));
            }
        };
    }
    table.insert(last.clone(), value);
    Ok(())
}

fn segments(path: &serde_path_to_error::Path) -> Vec<String> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|s| match s {
            Segment::Map { key } => Some(key.clone()),
            Segment::Seq { index } => Some(format!("[{index}]")),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect()
}

fn join_path(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if !seg.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(seg);
    }
    if out.is_empty() { "(root)".into() } else { out }
}

fn unknown_field_name(reason: &str) -> Option<String> {
    let rest = reason.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

fn remove_path(value: &mut toml::Value, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = value;
    for seg in parents {
        cur = match (cur, seg.strip_prefix('[').and_then(|s| s.strip_suffix(']'))) {
            (toml::Value::Array(a), Some(i)) => {
                match i.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                    Some(v) => v,
                    None => return false,
                }
            }
            (toml::Value::Table(t), None) => match t.get_mut(seg) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (
        cur,
        last.strip_prefix('[').and_then(|s| s.strip_suffix(']')),
    ) {
        (toml::Value::Table(t), None) => t.remove(last).is_some(),
        (toml::Value::Array(a), Some(i)) => match i.parse::<usize>() {
            Ok(i) if i < a.len() => {
                a.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        load(&ConfigSource {
            base: None,
            file: Some(f.path().to_path_buf()),
            env: env
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        })
    }

    #[test]
    fn shipped_default_file_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/pinhole.toml");
        let c = load(&ConfigSource {
            base: None,
            file: Some(path.into()),
            env: vec![],
        })
        .expect("config/pinhole.toml must load");
        assert_eq!(c.general.state_dir, PathBuf::from("/var/lib/pinhole"));
        assert_eq!(c.tls.mode, TlsMode::SelfSigned);
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = load_text("", &[]).expect("defaults");
        assert_eq!(c.http.listen.port(), 8002);
        assert_eq!(c.tls.mode, TlsMode::Off);
    }

    #[test]
    fn reports_every_problem_with_origin_and_key() {
        let err = load_text(
            "[http]\nlisten = \"nonsense\"\nlisen = 1\n[auth]\ntoken_ttl_secs = 1\n[bogus]\nx=1\n",
            &[],
        )
        .expect_err("must fail");
        let keys: Vec<_> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"http.listen"), "{err}");
        assert!(keys.contains(&"http.lisen"), "{err}");
        assert!(keys.contains(&"bogus"), "{err}");
        assert!(keys.contains(&"auth.token_ttl_secs"), "{err}");
        assert!(
            err.problems
                .iter()
                .all(|p| p.origin.ends_with(".tmp") || p.origin.contains("tmp"))
        );
    }

    #[test]
    fn env_overrides_and_is_named_in_errors() {
        let c = load_text(
            "[http]\nlisten = \"127.0.0.1:1\"\n",
            &[
                ("PINHOLE_HTTP__LISTEN", "127.0.0.1:9999"),
                ("PINHOLE_AUTH__TOKEN_TTL_SECS", "60"),
                ("PINHOLE_ADMIN_PASSWORD", "not config"),
                ("OTHER__THING", "ignored"),
            ],
        )
        .expect("valid");
        assert_eq!(c.http.listen.port(), 9999);
        assert_eq!(c.auth.token_ttl_secs, 60);

        let err = load_text("", &[("PINHOLE_AUTH__TOKEN_TTL_SECS", "soon")]).expect_err("bad");
        assert_eq!(err.problems.len(), 1, "{err}");
        assert_eq!(
            err.problems[0].origin,
            "environment variable PINHOLE_AUTH__TOKEN_TTL_SECS"
        );
        assert_eq!(err.problems[0].key, "auth.token_ttl_secs");
    }

    #[test]
    fn camera_checks() {
        let err = load_text(
            "[[cameras]]\nid = \"Cam 1\"\nsource = \"rtsp\"\nurl = \"http://x\"\nfps = 0\n\
             [[cameras]]\nid = \"b\"\nsource = \"warp\"\n",
            &[],
        )
        .expect_err("bad cameras");
        let keys: Vec<_> = err.problems.iter().map(|p| p.key.clone()).collect();
        assert!(keys.contains(&"cameras[1].source".to_string()), "{err}");
        assert!(keys.contains(&"cameras[0].id".to_string()), "{err}");
        assert!(keys.contains(&"cameras[0].url".to_string()), "{err}");
        assert!(keys.contains(&"cameras[0].fps".to_string()), "{err}");
    }

    #[test]
    fn syntax_error_is_reported() {
        let err = load_text("[http\n", &[]).expect_err("syntax");
        assert_eq!(err.problems[0].key, "(syntax)");
    }

    #[test]
    fn camera_ids() {
        assert!(valid_camera_id("camera0"));
        assert!(valid_camera_id("porch-2"));
        assert!(!valid_camera_id("0cam"));
        assert!(!valid_camera_id("a/b"));
        assert!(!valid_camera_id(""));
    }
}
