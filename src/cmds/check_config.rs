//! `pinhole check-config FILE`: report every problem, exit non-zero when there is one.

use crate::config::{ConfigSource, load};
use std::path::Path;
use std::process::ExitCode;

pub fn main(file: &Path) -> ExitCode {
    match load(&ConfigSource::from_process(Some(file.to_path_buf()))) {
        Ok(c) => {
            println!(
                "{}: valid ({} camera(s), HTTP on {}, state in {})",
                file.display(),
                c.cameras.len(),
                c.http.listen,
                c.general.state_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint!("{e}");
            ExitCode::from(super::EXIT_CONFIG)
        }
    }
}
