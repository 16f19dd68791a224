//! `pinhole user add|passwd|list`: account management from a shell on the device, for the first
//! admin of an installed appliance (there is no default password) and for recovery.

use crate::auth::{Role, password};
use crate::clock::{Clock, SystemClock};
use crate::store::audit::{self, NewAuditEntry};
use crate::store::{Store, users};
use clap::{Subcommand, ValueEnum};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

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

pub fn main(target: StateArgs, action: UserAction) -> ExitCode {
    match run(target, action) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pinhole: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(target: StateArgs, action: UserAction) -> anyhow::Result<()> {
    let config = match super::load_config(target.config, false) {
        Ok(c) => c,
        Err(e) => anyhow::bail!("{e}"),
    };
    let state_dir = target.state_dir.unwrap_or(config.general.state_dir.clone());
    std::fs::create_dir_all(&state_dir)?;
    let store = Store::open(&state_dir.join("pinhole.db"))?;
    let min_len = config.auth.min_password_length;
    let now = SystemClock.now_secs();
    // The device key seals each user's RTSP Digest secret, as the service does.
    let device_secrets = || -> anyhow::Result<crate::secrets::SecretBox> {
        let key = crate::secrets::load_or_create_key(&state_dir.join("device.key"))?;
        Ok(crate::secrets::SecretBox::new(&key))
    };
    let actor = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .map(|u| format!("local:{u}"))
        .ok();
    let log = |action: &str, target: &str| {
        let entry = NewAuditEntry {
            at_ms: SystemClock.now_ms(),
            actor: actor.clone(),
            client: Some("cli".into()),
            action: action.into(),
            target: Some(target.into()),
            details: None,
            result: "ok".into(),
        };
        store.call_blocking(|c| audit::insert(c, &entry, config.storage.audit_max_rows))
    };
    match action {
        UserAction::Add {
            username,
            role,
            password_stdin,
        } => {
            users::valid_username(&username).map_err(|r| anyhow::anyhow!("username {r}"))?;
            let pw = read_new_password(password_stdin, min_len)?;
            let hash = password::hash(&pw).map_err(anyhow::Error::msg)?;
            let role: Role = role.into();
            let digest =
                crate::api::accounts::sealed_digest_secrets(&device_secrets()?, &username, &pw);
            store.call_blocking(|c| {
                users::create(c, &username, &hash, role, now, false)?;
                users::set_digest_secrets(c, &username, &digest, false)
            })?;
            log("user add", &username)?;
            println!("added {username} ({role})");
        }
        UserAction::Passwd {
            username,
            password_stdin,
        } => {
            if store
                .call_blocking(|c| users::by_name(c, &username))?
                .is_none()
            {
                anyhow::bail!("no user `{username}`");
            }
            let pw = read_new_password(password_stdin, min_len)?;
            let hash = password::hash(&pw).map_err(anyhow::Error::msg)?;
            let digest =
                crate::api::accounts::sealed_digest_secrets(&device_secrets()?, &username, &pw);
            store.call_blocking(|c| {
                users::set_password(c, &username, &hash, now)?;
                users::set_digest_secrets(c, &username, &digest, false)
            })?;
            log("user passwd", &username)?;
            println!("password changed for {username}; their sessions are revoked");
        }
        UserAction::List => {
            for u in store.call_blocking(|c| users::list(c))? {
                println!("{}\t{}", u.username, u.role);
            }
        }
    }
    Ok(())
}

fn read_new_password(from_stdin: bool, min_len: usize) -> anyhow::Result<String> {
    let pw = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else if std::io::stdin().is_terminal() {
        let a = prompt_hidden("New password: ")?;
        let b = prompt_hidden("Again: ")?;
        if a != b {
            anyhow::bail!("the passwords differ");
        }
        a
    } else {
        anyhow::bail!("no terminal to ask for a password: use --password-stdin");
    };
    password::check_policy(&pw, min_len).map_err(|r| anyhow::anyhow!("password {r}"))?;
    Ok(pw)
}

fn prompt_hidden(prompt: &str) -> anyhow::Result<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let saved = tcgetattr(&stdin)?;
    let mut hidden = saved.clone();
    hidden.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &hidden)?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    tcsetattr(&stdin, SetArg::TCSANOW, &saved)?;
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
