//! One module per subcommand.

pub mod check_config;
pub mod detect;
pub mod run;
pub mod update;
pub mod user;
pub mod visca_sim;

use crate::config::{Config, ConfigError, ConfigSource};
use std::path::PathBuf;

/// The default configuration file on an installed appliance.
pub const DEFAULT_CONFIG: &str = "/etc/pinhole/pinhole.toml";

/// Exit status for configuration and usage errors (sysexits' EX_CONFIG would be 78; systemd's
/// `RestartPreventExitStatus=` names this one so a bad config does not restart-loop).
pub const EXIT_CONFIG: u8 = 2;

/// Loads the configuration the way `run` and `user` do: the named file, else the installed
/// default when it exists, else built-in defaults; plus `PINHOLE_*` overrides.
pub fn load_config(file: Option<PathBuf>, demo: bool) -> Result<Config, ConfigError> {
    let file = file.or_else(|| {
        let default = PathBuf::from(DEFAULT_CONFIG);
        (!demo && default.exists()).then_some(default)
    });
    let mut source = ConfigSource::from_process(file);
    if demo {
        source.base = Some(crate::config::demo_defaults());
    }
    crate::config::load(&source)
}
