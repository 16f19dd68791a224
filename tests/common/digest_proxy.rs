//! A real HTTP Digest server for the tests: lighttpd (Debian's) as a reverse proxy that asks
//! every request for Digest credentials (SHA-256 and MD5 challenges, `qop=auth`) before passing
//! it to a backend, as cameras guard their ONVIF services and snapshot URIs. What reaches the
//! backend carries the backend's own Basic credentials instead of the Digest answer.

use crate::common::NetNs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The running proxy; stopped (and reaped) when dropped.
pub struct DigestProxy {
    child: Child,
}

impl Drop for DigestProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts lighttpd on `listen` (inside `ns` when given) guarding `backend` with the account
/// `user`/`password`; the backend gets `backend_basic` as HTTP Basic. Returns once it listens.
pub fn start(
    ns: Option<&NetNs>,
    dir: &Path,
    listen: SocketAddr,
    backend: SocketAddr,
    (user, password): (&str, &str),
    (backend_user, backend_password): (&str, &str),
) -> DigestProxy {
    use base64::Engine;
    let d = dir.display();
    std::fs::write(dir.join("users"), format!("{user}:{password}\n")).expect("users");
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{backend_user}:{backend_password}"));
    let conf = dir.join("lighttpd.conf");
    std::fs::write(
        &conf,
        format!(
            r#"server.document-root = "{d}"
server.errorlog = "{d}/error.log"
server.bind = "{ip}"
server.port = {port}
server.modules = ("mod_auth", "mod_authn_file", "mod_setenv", "mod_proxy")
auth.backend = "plain"
auth.backend.plain.userfile = "{d}/users"
auth.require = ("/" => ("method" => "digest", "realm" => "camera", "require" => "valid-user", "algorithm" => "SHA-256|MD5"))
setenv.set-request-header = ("Authorization" => "Basic {basic}")
proxy.server = ("/" => (("host" => "{bip}", "port" => {bport})))
"#,
            ip = listen.ip(),
            port = listen.port(),
            bip = backend.ip(),
            bport = backend.port(),
        ),
    )
    .expect("lighttpd.conf");
    let mut command = match ns {
        Some(ns) => ns.command("lighttpd"),
        None => Command::new("lighttpd"),
    };
    let child = command
        .arg("-D")
        .arg("-f")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("lighttpd (scripts/bootstrap installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(listen).is_err() {
        assert!(
            Instant::now() < deadline,
            "lighttpd did not listen on {listen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    DigestProxy { child }
}
