//! Any text as a configuration file: loading must never panic; it either yields a configuration
//! that passes validation or a list of problems, each naming a key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole::config::{ConfigSource, load, validate};
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let mut f = match tempfile_in_tmp() {
        Some(f) => f,
        None => return,
    };
    if f.1.write_all(data).is_err() {
        return;
    }
    let source = ConfigSource { base: None, file: Some(f.0.clone()), env: Vec::new() };
    match load(&source) {
        Ok(c) => assert!(validate(&c).is_empty()),
        Err(e) => assert!(e.problems.iter().all(|p| !p.key.is_empty() && !p.reason.is_empty())),
    }
    let _ = std::fs::remove_file(&f.0);
});

fn tempfile_in_tmp() -> Option<(std::path::PathBuf, std::fs::File)> {
    let path = std::env::temp_dir().join(format!("pinhole-fuzz-{}.toml", std::process::id()));
    let file = std::fs::File::create(&path).ok()?;
    Some((path, file))
}
