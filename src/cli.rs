//! Command-line interface (clap). One variant per subcommand; each is carried out by a module
//! in [`crate::cmds`], so `main.rs` only parses and dispatches.

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The default configuration file on an installed appliance.
pub const DEFAULT_CONFIG: &str = "/etc/pinhole/pinhole.toml";

#[derive(Debug, Parser)]
#[command(
    name = "pinhole",
    version,
    about = "Camera appliance for the Raspberry Pi"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the appliance (the systemd service runs this).
    Run(RunArgs),
    /// Check a configuration file (and PINHOLE_* overrides) and report every problem.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
    /// Run a simulated VISCA camera (Sony UDP, raw TCP/UDP, serial) for tests and demos.
    ViscaSim(crate::cmds::visca_sim::SimArgs),
    /// Run a detection model on still pictures; one JSON line per detection.
    Detect(crate::cmds::detect::DetectArgs),
    /// Install a RAUC bundle into the other slot, or show the slots.
    Update(crate::cmds::update::UpdateArgs),
    /// Manage user accounts in the database.
    User {
        #[command(flatten)]
        target: StateArgs,
        #[command(subcommand)]
        action: UserAction,
    },
}

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

#[derive(Debug, clap::Args)]
pub struct StateArgs {
    /// Configuration file, used to find the state directory.
    #[arg(long, env = "PINHOLE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// State directory holding pinhole.db (overrides the configuration).
    #[arg(long, global = true)]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Add a user. The password is asked for, or read from standard input with --password-stdin.
    Add {
        username: String,
        #[arg(long, value_enum, default_value = "admin")]
        role: RoleArg,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (revokes their tokens).
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Viewer,
    Operator,
    Admin,
}

impl From<RoleArg> for crate::auth::Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Viewer => crate::auth::Role::Viewer,
            RoleArg::Operator => crate::auth::Role::Operator,
            RoleArg::Admin => crate::auth::Role::Admin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
        let c = Cli::parse_from(["pinhole", "run", "--demo", "--listen", "127.0.0.1:0"]);
        assert!(matches!(
            c.command,
            Command::Run(RunArgs { demo: true, .. })
        ));
    }
}
