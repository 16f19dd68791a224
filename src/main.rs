//! The `pinhole` binary: parse the command line, hand over to [`pinhole::cmds`].

use clap::Parser;
use pinhole::cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    pinhole::system::tune_allocator();
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => pinhole::cmds::run::main(args),
        Command::CheckConfig { file } => pinhole::cmds::check_config::main(&file),
        Command::User { target, action } => pinhole::cmds::user::main(target, action),
        Command::ViscaSim(args) => pinhole::cmds::visca_sim::main(args),
        Command::Detect(args) => pinhole::cmds::detect::main(args),
        Command::Update(args) => pinhole::cmds::update::main(args),
    }
}
