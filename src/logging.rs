//! Logging through `tracing`: journald when systemd runs us with output on the journal (it sets
//! `JOURNAL_STREAM`), human-readable text on stderr otherwise, JSON lines on request.
//! The filter comes from `PINHOLE_LOG` or `RUST_LOG` when set, else from `log.level`.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber; later calls are ignored (tests start several servers).
pub fn init(format: LogFormat, level: &str) {
    let filter = std::env::var("PINHOLE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let format = match format {
        LogFormat::Auto if std::env::var_os("JOURNAL_STREAM").is_some() => LogFormat::Journald,
        LogFormat::Auto => LogFormat::Text,
        other => other,
    };
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Journald => match tracing_journald::layer() {
            Ok(layer) => registry
                .with(layer.with_syslog_identifier("pinhole".into()))
                .try_init(),
            Err(e) => {
                eprintln!("pinhole: journald unavailable ({e}); logging to stderr");
                registry
                    .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
                    .try_init()
            }
        },
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Text | LogFormat::Auto => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init(),
    };
    let _ = result;
}
