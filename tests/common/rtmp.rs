//! A real RTMP server for tests and benchmarks: nginx with Debian's RTMP module, on 127.0.0.1,
//! in a directory of its own. Publishing to application `live` needs a stream name (the key)
//! starting with `secretkey`, checked by nginx's `on_publish` callback against a location of its
//! own.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The running server; stopped (and reaped) when dropped.
pub struct Nginx {
    child: Child,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The publishing key `nginx` accepts.
#[allow(dead_code)]
pub const KEY: &str = "secretkey";

/// Starts nginx serving RTMP on `rtmp`, with its key check on `http`; returns once it listens.
pub fn nginx(dir: &Path, rtmp: u16, http: u16) -> Nginx {
    let conf = dir.join("nginx.conf");
    let d = dir.display();
    std::fs::write(
        &conf,
        format!(
            "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process off;
worker_processes 1;
error_log {d}/error.log info;
pid {d}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{http};
    location /auth {{ if ($arg_name ~ \"^{KEY}\") {{ return 204; }} return 403; }}
  }}
}}
rtmp {{
  server {{
    listen 127.0.0.1:{rtmp};
    application live {{
      live on;
      notify_method get;
      on_publish http://127.0.0.1:{http}/auth;
    }}
  }}
}}
"
        ),
    )
    .expect("nginx.conf");
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx (nginx-light and libnginx-mod-rtmp; scripts/bootstrap installs them)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", rtmp)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not listen on {rtmp}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Nginx { child }
}
