//! Command-line interface (clap). One variant per subcommand; each is carried out by a module
//! in [`crate::cmds`], so `main.rs` only parses and dispatches.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
    Run(crate::cmds::run::RunArgs),
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
        target: crate::cmds::user::StateArgs,
        #[command(subcommand)]
        action: crate::cmds::user::UserAction,
    },
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
            Command::Run(crate::cmds::run::RunArgs { demo: true, .. })
        ));
    }
}
