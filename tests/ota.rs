//! Over-the-air updates with the real RAUC 1.8 (Debian's): a test PKI, signed `plain` bundles,
//! two file-backed root slots and a stand-in boot loader (`tests/ota/boot-backend.sh`, RAUC's
//! `custom` backend keeping primary/state in files), RAUC's service on a private D-Bus system
//! bus, and pinhole talking to it:
//!
//! - `pinhole update install` refuses tampered, foreign-signed, wrong-`compatible` and truncated
//!   bundles with RAUC's reason, and the inactive slot is left byte for byte as it was; a good
//!   bundle goes into the other slot and becomes primary;
//! - after the "reboot" into the new slot, the appliance's agent marks it good once healthy;
//! - a new slot that does not become healthy is marked bad: the boot loader's primary goes back
//!   to the old slot and the reboot command runs.
//!
//! `plain` bundles are loop-mounted by RAUC (root and /dev/loop* needed, as on the CI machine);
//! devices use `verity` bundles, which need device-mapper, absent here.

mod common;

use common::{BIN, KillOnDrop, Opts, Server};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256_prefix(path: &Path, len: usize) -> String {
    use sha2::Digest;
    let data = std::fs::read(path).expect("read");
    pinhole::hex(&sha2::Sha256::digest(&data[..len.min(data.len())]))
}

/// RAUC with its slots, boot loader state, bundles and a private system bus.
struct Rig {
    dir: tempfile::TempDir,
    bus: String,
    _dbus: KillOnDrop,
    service: Option<KillOnDrop>,
    /// The SD image's boot loader backend (`rauc-pi-boot`, Pi firmware) instead of the
    /// stand-in, with or without the firmware's tryboot flag.
    pi: bool,
    tryboot: bool,
    /// Counts boots: each has its own boot id.
    boots: u32,
}

/// Where a slot's root file system keeps its kernel, initramfs and device tree (Debian's
/// layout), so that the Pi backend has boot files to copy; `kernel` is the kernel's content.
fn add_boot_files(root: &Path, kernel: &str) {
    let dtbs = root.join("usr/lib/linux-image-6.1.0-test/broadcom");
    std::fs::create_dir_all(&dtbs).expect("dtbs");
    std::fs::create_dir_all(root.join("boot")).expect("boot");
    std::fs::write(root.join("boot/vmlinuz-6.1.0-test"), kernel).expect("kernel");
    std::fs::write(root.join("boot/initrd.img-6.1.0-test"), "initramfs").expect("initrd");
    std::fs::write(dtbs.join("bcm2711-rpi-4-b.dtb"), "dtb").expect("dtb");
}

fn pi_backend() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("image/overlay/usr/lib/pinhole/rauc-pi-boot")
}

const IMAGE_BYTES: usize = 4 << 20;

impl Rig {
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn new() -> Rig {
        Rig::with(false)
    }

    /// `pi`: RAUC drives the SD image's backend over a boot partition directory (`bootfs/`).
    fn with(pi: bool) -> Rig {
        for tool in ["rauc", "dbus-daemon", "openssl", "mkfs.ext4", "mksquashfs"] {
            assert!(
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success()),
                "{tool} is missing: run scripts/bootstrap"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("pinhole-ota")
            .tempdir_in("/var/tmp")
            .expect("tempdir");
        let d = dir.path();
        let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ota");
        for f in ["boot-backend.sh", "dbus-system.conf"] {
            std::fs::copy(here.join(f), d.join(f)).expect("copy");
        }
        // PKI (scripts/dev-pki): a CA and its bundle signer, and an unrelated CA with its own.
        let pki = d.join("pki");
        let dev_pki = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/dev-pki");
        sh(Command::new(&dev_pki).arg(&pki));
        sh(Command::new(&dev_pki).arg(&pki).arg("rogue-"));
        // Two root slots holding a factory image each.
        std::fs::create_dir_all(d.join("slots")).expect("slots");
        for (slot, label) in [("rootfs.0", "factory-A"), ("rootfs.1", "factory-B")] {
            let content = d.join(format!("content-{slot}"));
            std::fs::create_dir_all(&content).expect("content");
            std::fs::write(content.join("version"), label).expect("version");
            add_boot_files(&content, "factory kernel");
            sh(Command::new("mkfs.ext4")
                .args(["-q", "-F", "-L", label, "-E", "root_owner=0:0", "-d"])
                .arg(&content)
                .arg(d.join(format!("slots/{slot}.img")))
                .arg("4M"));
        }
        std::fs::write(
            d.join("system.conf"),
            format!("[system]\ncompatible=pinhole-test\nbootloader=custom\ndata-directory=data\nbundle-formats=plain\n\n\
             [handlers]\nbootloader-custom-backend={}\n\n\
             [keyring]\npath=pki/ca.cert.pem\ncheck-purpose=codesign\n\n\
             [slot.rootfs.0]\ndevice=slots/rootfs.0.img\ntype=ext4\nbootname=A\n\n\
             [slot.rootfs.1]\ndevice=slots/rootfs.1.img\ntype=ext4\nbootname=B\n",
            if pi {
                pi_backend().display().to_string()
            } else {
                "boot-backend.sh".into()
            }),
        )
        .expect("system.conf");
        if pi {
            // The factory boot partition, as the image build fills it.
            let boot = d.join("bootfs");
            for (slot, content) in [("A", "content-rootfs.0"), ("B", "content-rootfs.1")] {
                sh(Command::new(pi_backend())
                    .env("PINHOLE_BOOT_DIR", &boot)
                    .arg("populate")
                    .arg(slot)
                    .arg(d.join(content)));
            }
            std::fs::write(boot.join("slot.txt"), "os_prefix=slot-a/\n").expect("slot.txt");
            std::fs::write(boot.join("tryboot.txt"), "os_prefix=slot-a/\n").expect("tryboot.txt");
        }
        std::fs::create_dir_all(d.join("data")).expect("data");
        std::fs::create_dir_all(d.join("mnt")).expect("mnt");
        // The private system bus.
        let sock = d.join("bus.sock");
        let dbus = Command::new("dbus-daemon")
            .arg(format!(
                "--config-file={}",
                d.join("dbus-system.conf").display()
            ))
            .arg(format!("--address=unix:path={}", sock.display()))
            .args(["--nofork", "--nopidfile"])
            .stdout(Stdio::null())
            .spawn()
            .expect("dbus-daemon");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sock.exists() {
            assert!(Instant::now() < deadline, "the bus did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Rig {
            bus: format!("unix:path={}", sock.display()),
            _dbus: KillOnDrop(dbus),
            service: None,
            dir,
            pi,
            tryboot: true,
            boots: 0,
        }
    }

    /// A bundle holding a root image whose `version` file says `version`.
    fn bundle(&self, name: &str, version: &str, compatible: &str, signer: &str) -> PathBuf {
        let d = self.path(&format!("build-{name}"));
        let content = d.join("content");
        std::fs::create_dir_all(&content).expect("build");
        std::fs::write(content.join("version"), version).expect("version");
        add_boot_files(&content, &format!("kernel of {version}"));
        // Incompressible payload, so the bundle has some size (about 2 MB).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ version.len() as u64;
        let payload: Vec<u8> = (0..2 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(content.join("payload"), payload).expect("payload");
        let staging = d.join("bundle");
        std::fs::create_dir_all(&staging).expect("staging");
        sh(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", version, "-E", "root_owner=0:0", "-d"])
            .arg(&content)
            .arg(staging.join("rootfs.ext4"))
            .arg("4M"));
        std::fs::write(
            staging.join("manifest.raucm"),
            format!("[update]\ncompatible={compatible}\nversion={version}\n\n[bundle]\nformat=plain\n\n[image.rootfs]\nfilename=rootfs.ext4\n"),
        )
        .expect("manifest");
        let out = self.path(&format!("{name}.raucb"));
        let pki = self.path("pki");
        sh(Command::new("rauc")
            .arg(format!("--conf={}", self.path("system.conf").display()))
            .arg("bundle")
            .arg(format!(
                "--cert={}",
                pki.join(format!("{signer}.cert.pem")).display()
            ))
            .arg(format!(
                "--key={}",
                pki.join(format!("{signer}.key.pem")).display()
            ))
            .arg(format!(
                "--keyring={}",
                pki.join(if signer == "signer" {
                    "ca.cert.pem"
                } else {
                    "rogue-ca.cert.pem"
                })
                .display()
            ))
            .arg(&staging)
            .arg(&out));
        out
    }

    /// (Re)starts RAUC's service as if booted from `slot` (A or B).
    fn boot(&mut self, slot: &str) {
        self.service = None;
        self.boots += 1;
        let child = Command::new("rauc")
            .arg(format!("--conf={}", self.path("system.conf").display()))
            .arg(format!("--mount={}", self.path("mnt").display()))
            .arg("service")
            .arg(format!("--override-boot-slot={slot}"))
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.bus)
            // For the Pi backend: the boot partition, the slots' devices, the booted slot.
            .env("PINHOLE_BOOT_DIR", self.path("bootfs"))
            .env("PINHOLE_SLOT_DEVICE_A", self.path("slots/rootfs.0.img"))
            .env("PINHOLE_SLOT_DEVICE_B", self.path("slots/rootfs.1.img"))
            .env("PINHOLE_BOOTED", slot)
            .env("PINHOLE_TRYBOOT", if self.tryboot { "yes" } else { "no" })
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path(&format!("rauc-{slot}.log"))).expect("log"))
            .spawn()
            .expect("rauc service");
        self.service = Some(KillOnDrop(child));
        // Ready when it answers on the bus.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let out = self.pinhole_update(&["status"]);
            if out.0 {
                break;
            }
            assert!(Instant::now() < deadline, "RAUC did not start: {}", out.2);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn pinhole_update(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(BIN)
            .arg("update")
            .arg("--dbus-address")
            .arg(&self.bus)
            .args(args)
            .output()
            .expect("pinhole update");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn boot_state(&self, file: &str) -> String {
        std::fs::read_to_string(self.path(&format!("bootstate/{file}")))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    fn slot_sum(&self, slot: &str) -> String {
        sha256_prefix(&self.path(&format!("slots/{slot}.img")), IMAGE_BYTES)
    }

    /// The appliance with the update agent on, one local test camera (or a broken one).
    fn appliance(&self, camera_ok: bool, timeout_secs: u64, reboot_flag: &Path) -> Server {
        self.appliance_with(camera_ok, timeout_secs, reboot_flag, "")
    }

    fn appliance_with(
        &self,
        camera_ok: bool,
        timeout_secs: u64,
        reboot_flag: &Path,
        extra: &str,
    ) -> Server {
        self.appliance_in(camera_ok, timeout_secs, reboot_flag, extra, None)
    }

    /// `dir`: the state of an appliance stopped before (a reboot keeps the data partition). A
    /// broken camera is a second camera (`camera1`): cameras are seeded from the file once.
    fn appliance_in(
        &self,
        camera_ok: bool,
        timeout_secs: u64,
        reboot_flag: &Path,
        extra: &str,
        dir: Option<tempfile::TempDir>,
    ) -> Server {
        let mut camera = String::from(
            "[[cameras]]\nid = \"camera0\"\nsource = \"test\"\nwidth = 320\nheight = 240\nfps = 10\nrecording = \"off\"\n",
        );
        if !camera_ok {
            let broken = "[[cameras]]\nid = \"camera1\"\nsource = \"v4l2\"\nurl = \"/dev/video-not-there\"\nrecording = \"off\"\n";
            if dir.is_some() {
                camera.push_str(broken);
            } else {
                camera = broken.replace("camera1", "camera0");
            }
        }
        // The SD image reboots with `systemctl reboot "0 tryboot"`: the flag file records the
        // firmware's one-shot tryboot flag.
        let reboot = if self.pi {
            format!(
                "[\"sh\", \"-c\", \"echo tryboot > {}\"]",
                reboot_flag.display()
            )
        } else {
            format!("[\"touch\", \"{}\"]", reboot_flag.display())
        };
        Server::start(Opts {
            toml: format!(
                "[ota]\nenabled = true\ndbus_address = \"{}\"\nhealth_settle_secs = 2\nhealth_timeout_secs = {timeout_secs}\nreboot_command = {reboot}\n{extra}\n{camera}",
                self.bus,
            ),
            env: vec![("PINHOLE_BOOT_ID".into(), format!("boot-{}", self.boots))],
            reuse_dir: dir,
            ..Opts::with_roles()
        })
    }

    /// What the Pi firmware reads from the boot partition: `tryboot.txt` when the one-shot
    /// tryboot flag is set (in `flag`; consumed), else `slot.txt`, and the slot directory it
    /// names. Returns (slot, tryboot.txt's slot, slot.txt's slot, the chosen kernel).
    fn firmware(&self, flag: &Path) -> (String, String, String, String) {
        let tryboot = std::fs::read_to_string(flag).is_ok_and(|f| f.contains("tryboot"));
        let _ = std::fs::remove_file(flag);
        let named = |file: &str| {
            let text = std::fs::read_to_string(self.path(&format!("bootfs/{file}")))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            match text.trim() {
                "os_prefix=slot-a/" => "A".to_string(),
                "os_prefix=slot-b/" => "B".to_string(),
                other => panic!("{file} holds {other:?}"),
            }
        };
        let (trial, committed) = (named("tryboot.txt"), named("slot.txt"));
        let slot = if tryboot {
            trial.clone()
        } else {
            committed.clone()
        };
        let dir = self.path(&format!("bootfs/slot-{}", slot.to_lowercase()));
        let cmdline = std::fs::read_to_string(dir.join("cmdline.txt")).expect("cmdline.txt");
        // By PARTUUID (the image's fixed disk identifier), never by label: the bundle's file
        // system brings its own label into the slot it is written to.
        let part = if slot == "A" { "02" } else { "03" };
        assert!(
            cmdline.contains(&format!("root=PARTUUID=504e484c-{part} rauc.slot={slot}")),
            "{cmdline}"
        );
        for f in ["initrd.img", "bcm2711-rpi-4-b.dtb"] {
            assert!(dir.join(f).is_file(), "slot-{slot} lacks {f}");
        }
        let kernel = std::fs::read_to_string(dir.join("vmlinuz")).expect("vmlinuz");
        (slot, trial, committed, kernel)
    }
}

async fn update_status(
    server: &Server,
    token: &str,
    want: &str,
    limit: Duration,
) -> serde_json::Value {
    wait_for(
        &format!("update state {want}"),
        limit,
        server,
        || async move {
            let r = server
                .rpc(Some(token), "get_update_status", json!({}))
                .await;
            if r["result"]["state"] == want {
                Ok(r["result"].clone())
            } else {
                Err(r.to_string())
            }
        },
    )
    .await
}

/// Polls `f` until it yields `Ok`; after `limit`, fails with `what`, the last `Err` (what was
/// seen instead) and the appliance's log.
async fn wait_for<T, F: std::future::Future<Output = Result<T, String>>>(
    what: &str,
    limit: Duration,
    server: &Server,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "{what} did not happen: {seen}\n{}",
                server.stderr_text()
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the appliance ran its reboot command (which leaves `flag`).
/// Checks the web page's Updates card in headless Chromium (`tests/web/update-card.mjs`): its
/// text matches every pattern and, with `progress`, its progress bar is in that range.
async fn updates_card(server: &Server, name: &str, patterns: &[&str], progress: Option<(u8, u8)>) {
    let mut args = vec![
        server.url(""),
        "admin".to_string(),
        common::PASSWORD.to_string(),
        common::screenshot_dir()
            .join(format!("ota-updates-card-{name}.png"))
            .display()
            .to_string(),
    ];
    args.extend(patterns.iter().map(|p| p.to_string()));
    let env: Vec<(&str, String)> = progress
        .map(|(lo, hi)| ("UPDATE_PROGRESS", format!("{lo}-{hi}")))
        .into_iter()
        .collect();
    tokio::task::spawn_blocking(move || {
        common::run_browser_script("update-card.mjs", &args, &env, String::new)
    })
    .await
    .expect("browser script");
}

async fn wait_for_reboot(what: &str, secs: u64, server: &Server, flag: &Path) {
    wait_for(what, Duration::from_secs(secs), server, || {
        ready(flag.exists().then_some(()))
    })
    .await;
}

/// A check for [`wait_for`] that has nothing to show when it fails.
fn ready<T>(v: Option<T>) -> std::future::Ready<Result<T, String>> {
    std::future::ready(v.ok_or_else(String::new))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rauc_installs_only_good_bundles_and_the_agent_confirms_or_rolls_back() {
    let mut rig = Rig::new();
    let good = rig.bundle("good", "2.0.0", "pinhole-test", "signer");
    let foreign = rig.bundle("foreign", "2.0.0", "pinhole-test", "rogue-signer");
    let wrong = rig.bundle("wrong", "2.0.0", "another-product", "signer");
    // Tampered: one byte of the payload flipped. Truncated: cut in half.
    let bytes = std::fs::read(&good).expect("bundle");
    let mut t = bytes.clone();
    t[bytes.len() / 3] ^= 0x55;
    let tampered = rig.path("tampered.raucb");
    std::fs::write(&tampered, &t).expect("tampered");
    let truncated = rig.path("truncated.raucb");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("truncated");
    // Unsigned: the good bundle's content squashed as `rauc bundle` does, but never signed.
    let unsigned = rig.path("unsigned.raucb");
    sh(Command::new("mksquashfs")
        .arg(rig.path("build-good/bundle"))
        .arg(&unsigned)
        .args(["-all-root", "-noappend", "-no-progress", "-quiet"]));

    rig.boot("A");
    let before = (rig.slot_sum("rootfs.0"), rig.slot_sum("rootfs.1"));
    for (bundle, why) in [
        (&unsigned, "Signature size is 0"),
        (&tampered, "signature verification failed"),
        (&foreign, "unable to get local issuer certificate"),
        (&wrong, "Compatible mismatch"),
        (&truncated, "Invalid bundle"),
    ] {
        let (ok, out, err) = rig.pinhole_update(&["install", bundle.to_str().expect("path")]);
        assert!(!ok, "{} was installed: {out}", bundle.display());
        assert!(err.contains(why), "{}: {err}", bundle.display());
        assert_eq!(
            (rig.slot_sum("rootfs.0"), rig.slot_sum("rootfs.1")),
            before,
            "a refused bundle changed a slot"
        );
    }
    assert_eq!(rig.boot_state("primary"), "A");

    // A good bundle goes into B, which becomes primary; A is untouched.
    let (ok, out, err) = rig.pinhole_update(&["install", good.to_str().expect("path")]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("% ") && out.contains("installed; the next boot uses slot rootfs.1"),
        "{out}"
    );
    assert_eq!(rig.slot_sum("rootfs.0"), before.0);
    let image = rig.path("build-good/bundle/rootfs.ext4");
    assert_eq!(rig.slot_sum("rootfs.1"), sha256_prefix(&image, IMAGE_BYTES));
    assert_eq!(rig.boot_state("primary"), "B");

    // Boot B: the appliance becomes healthy and marks it good; nothing reboots.
    rig.boot("B");
    std::fs::write(rig.path("bootstate/state.B"), "bad\n").expect("state");
    let flag = rig.path("rebooted");
    {
        let server = rig.appliance(true, 60, &flag);
        let token = server.token("view").await;
        let st = update_status(&server, &token, "marked_good", Duration::from_secs(60)).await;
        assert_eq!(st["booted"], "B", "{st}");
        assert_eq!(rig.boot_state("state.B"), "good");
        assert_eq!(rig.boot_state("primary"), "B");
        assert!(!flag.exists(), "rebooted after a good update");
        assert!(server.state().join("ota-good.json").is_file());
        // The web page shows the same: the Updates card in a real browser.
        updates_card(
            &server,
            "confirmed",
            &[
                r"marked good — slot rootfs\.1 confirmed",
                r"booted slot B \(rootfs\.1\), next boot B \(rootfs\.1\), pinhole-test",
                r"rootfs\.1 \(B\) booted good 2\.0\.0",
                r"rootfs\.0 \(A\) inactive good —",
            ],
            None,
        )
        .await;
    }

    // A second update (from B into A) that never becomes healthy: marked bad, the boot loader
    // goes back to B, and the reboot command runs.
    let next = rig.bundle("next", "3.0.0", "pinhole-test", "signer");
    let (ok, out, err) = rig.pinhole_update(&["install", next.to_str().expect("path")]);
    assert!(ok, "{out}{err}");
    assert_eq!(rig.boot_state("primary"), "A");
    rig.boot("A");
    let server = rig.appliance(false, 5, &flag);
    let token = server.token("view").await;
    let st = update_status(&server, &token, "rolling_back", Duration::from_secs(60)).await;
    assert!(
        st["detail"].as_str().unwrap_or("").contains("camera0"),
        "the reason names the camera: {st}"
    );
    assert_eq!(rig.boot_state("state.A"), "bad");
    assert_eq!(
        rig.boot_state("primary"),
        "B",
        "no rollback to the old slot"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !flag.exists() {
        assert!(Instant::now() < deadline, "the reboot command did not run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The update source: a signed manifest and the bundle, served on 127.0.0.1 with Range
/// support; the first full download breaks halfway through.
#[derive(Clone)]
struct Source {
    manifest: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    bundle: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    requests: std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>,
    /// The first download hangs after half the bundle instead of breaking (the device loses
    /// power in the middle of it).
    hang: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

async fn serve_manifest(axum::extract::State(s): axum::extract::State<Source>) -> Vec<u8> {
    s.manifest.lock().expect("lock").clone()
}

async fn serve_bundle(
    axum::extract::State(s): axum::extract::State<Source>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let range = headers
        .get(axum::http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let first = {
        let mut r = s.requests.lock().expect("lock");
        r.push(range.clone());
        r.len() == 1
    };
    let bundle = s.bundle.lock().expect("lock").clone();
    let hang = s.hang.load(std::sync::atomic::Ordering::SeqCst);
    range_response(&bundle, range.as_deref(), first, hang)
}

/// The bytes of `bundle` for a request with `range` (`bytes=N-` only); `break_it`: send half,
/// then break the connection (or, with `hang`, send nothing more).
fn range_response(
    bundle: &[u8],
    range: Option<&str>,
    break_it: bool,
    hang: bool,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let total = bundle.len();
    match range.and_then(|r| r.strip_prefix("bytes=")) {
        Some(spec) => {
            let start: usize = spec.trim_end_matches('-').parse().unwrap_or(0);
            (
                axum::http::StatusCode::PARTIAL_CONTENT,
                [(
                    axum::http::header::CONTENT_RANGE,
                    format!("bytes {start}-{}/{total}", total - 1),
                )],
                bundle[start..].to_vec(),
            )
                .into_response()
        }
        None if break_it => {
            // Half the bundle, then the connection breaks.
            let half = bytes::Bytes::copy_from_slice(&bundle[..total / 2]);
            use futures_util::StreamExt;
            let body = futures_util::stream::iter(vec![
                Ok::<_, std::io::Error>(half),
                Err(std::io::Error::other("connection reset by the test")),
            ])
            // Let the first half reach the client before the connection breaks.
            .then(move |item| async move {
                if item.is_err() {
                    let pause = if hang { 3_600_000 } else { 500 };
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                item
            });
            (
                [(axum::http::header::CONTENT_LENGTH, total.to_string())],
                axum::body::Body::from_stream(body),
            )
                .into_response()
        }
        None => bundle.to_vec().into_response(),
    }
}

fn manifest_for(bundle: &[u8], version: &str) -> pinhole::ota::manifest::Manifest {
    use sha2::Digest;
    pinhole::ota::manifest::Manifest {
        compatible: "pinhole-test".into(),
        version: version.into(),
        url: "bundle.raucb".into(),
        sha256: pinhole::hex(&sha2::Sha256::digest(bundle)),
        size: bundle.len() as u64,
    }
}

/// Serves `manifest` and `bundle` on 127.0.0.1; returns the source (to swap them) and the
/// `[ota]` lines that point the agent at it, trusting `key`.
async fn serve_updates(
    manifest: Vec<u8>,
    bundle: &[u8],
    key: &ed25519_dalek::SigningKey,
) -> (Source, String) {
    use base64::Engine;
    let source = Source {
        manifest: std::sync::Arc::new(std::sync::Mutex::new(manifest)),
        bundle: std::sync::Arc::new(std::sync::Mutex::new(bundle.to_vec())),
        requests: Default::default(),
        hang: Default::default(),
    };
    let app = axum::Router::new()
        .route("/updates/manifest.json", axum::routing::get(serve_manifest))
        .route("/updates/bundle.raucb", axum::routing::get(serve_bundle))
        .with_state(source.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let extra = format!(
        "manifest_url = \"http://{addr}/updates/manifest.json\"\nmanifest_key = \"{}\"\npoll_secs = 2\n",
        base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_bytes())
    );
    (source, extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_follows_a_signed_manifest_resumes_a_broken_download_and_installs() {
    use pinhole::ota::manifest::sign;
    let mut rig = Rig::new();
    let good = rig.bundle("good", "2.0.0", "pinhole-test", "signer");
    let bundle = std::fs::read(&good).expect("bundle");
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let manifest = manifest_for(&bundle, "2.0.0");
    // First served with another key's signature: refused, nothing downloaded.
    let impostor = ed25519_dalek::SigningKey::from_bytes(&[10; 32]);
    let (source, extra) = serve_updates(sign(&manifest, &impostor), &bundle, &key).await;

    rig.boot("A");
    let flag = rig.path("rebooted");
    let server = rig.appliance_with(true, 60, &flag, &extra);
    let token = server.token("view").await;
    let st = update_status(&server, &token, "error", Duration::from_secs(60)).await;
    assert!(
        st["detail"].as_str().unwrap_or("").contains("signature"),
        "{st}"
    );
    assert!(source.requests.lock().expect("lock").is_empty());
    assert_eq!(rig.boot_state("primary"), "A");

    // The real manifest: downloaded (broken once, resumed with Range), installed into B, reboot.
    *source.manifest.lock().expect("lock") = sign(&manifest, &key);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !flag.exists() {
        assert!(
            Instant::now() < deadline,
            "no reboot after the update: {}\n{}",
            server
                .rpc(Some(&token), "get_update_status", json!({}))
                .await,
            server.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let requests = source.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0], None);
    assert_eq!(
        requests[1].as_deref(),
        Some(format!("bytes={}-", bundle.len() / 2).as_str()),
        "the download resumed where it broke"
    );
    let image = rig.path("build-good/bundle/rootfs.ext4");
    assert_eq!(rig.slot_sum("rootfs.1"), sha256_prefix(&image, IMAGE_BYTES));
    assert_eq!(rig.boot_state("primary"), "B");
    let st = server
        .rpc(Some(&token), "get_update_status", json!({}))
        .await;
    assert_eq!(st["result"]["available"], "2.0.0", "{st}");
    // The downloaded bundle is not kept.
    assert!(
        std::fs::read_dir(server.state().join("ota"))
            .map(|d| d.count() == 0)
            .unwrap_or(true)
    );

    // The service restarts before the reboot happened (still on A, B primary): it reboots
    // again, without fetching anything.
    let dir = server.kill_keep_dir();
    std::fs::remove_file(&flag).expect("flag");
    let server = rig.appliance_in(true, 60, &flag, &extra, Some(dir));
    let token = server.token("view").await;
    let st = update_status(&server, &token, "rebooting", Duration::from_secs(60)).await;
    assert_eq!(st["detail"], "into version 2.0.0", "{st}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !flag.exists() {
        assert!(Instant::now() < deadline, "the reboot command did not run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(source.requests.lock().expect("lock").len(), 2);
}

/// The power fails in the middle of a download: the part already on the data partition is
/// kept, and after the restart the download resumes from it; the running slot is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_cut_by_a_power_loss_resumes_after_the_restart() {
    use pinhole::ota::manifest::sign;
    let mut rig = Rig::new();
    let bundle = std::fs::read(rig.bundle("v2", "2.0.0", "pinhole-test", "signer")).expect("v2");
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let (source, extra) =
        serve_updates(sign(&manifest_for(&bundle, "2.0.0"), &key), &bundle, &key).await;
    source.hang.store(true, std::sync::atomic::Ordering::SeqCst);
    rig.boot("A");
    let slot_a = rig.slot_sum("rootfs.0");
    let flag = rig.path("rebooted");
    let server = rig.appliance_with(true, 60, &flag, &extra);
    let part = server.state().join("ota/pinhole-2.0.0.part");
    let half = (bundle.len() / 2) as u64;
    wait_for(
        "half the bundle on disk",
        Duration::from_secs(60),
        &server,
        || {
            let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
            ready((have >= half).then_some(()))
        },
    )
    .await;
    // Meanwhile the web page shows the download and how far it got (the source holds it at half).
    updates_card(
        &server,
        "downloading",
        &[
            r"downloading — version 2\.0\.0 from http://127\.0\.0\.1:\d+/",
            r"offers version 2\.0\.0",
        ],
        Some((49, 50)),
    )
    .await;
    // Power loss: the process dies at once (SIGKILL), in the middle of the transfer.
    let dir = server.kill_keep_dir();
    assert_eq!(rig.boot_state("primary"), "A");
    assert_eq!(rig.slot_sum("rootfs.0"), slot_a);
    rig.boot("A");
    let server = rig.appliance_in(true, 60, &flag, &extra, Some(dir));
    wait_for_reboot("the reboot into 2.0.0", 60, &server, &flag).await;
    let requests = source.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(
        requests[1].as_deref(),
        Some(format!("bytes={half}-").as_str())
    );
    assert_eq!(rig.boot_state("primary"), "B");
    assert_eq!(
        rig.slot_sum("rootfs.0"),
        slot_a,
        "the running slot was written"
    );
}

/// The power fails while RAUC writes the new root image into the other slot. RAUC writes into a
/// FIFO standing in for slot B's partition, and the test reads the first MiB and then stops
/// reading, so RAUC is held in the middle of the write, deterministically; then pinhole and RAUC
/// are killed (SIGKILL) and the partition is left half written. The boot partition still
/// boots A with A's kernel, A is untouched, and after the restart the agent installs the bundle
/// again (already downloaded and verified: not fetched twice) and reboots into B on trial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_loss_while_rauc_writes_the_slot_leaves_a_bootable_system_and_the_install_is_redone()
 {
    use pinhole::ota::manifest::sign;
    use std::io::Read;
    const WRITTEN: usize = 1 << 20;
    let mut rig = Rig::with(true);
    let bundle = std::fs::read(rig.bundle("v2", "2.0.0", "pinhole-test", "signer")).expect("v2");
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let (source, extra) =
        serve_updates(sign(&manifest_for(&bundle, "2.0.0"), &key), &bundle, &key).await;
    let flag = rig.path("reboot-flag");
    let bootfs = rig.path("bootfs");
    let read = |f: &str| {
        std::fs::read_to_string(bootfs.join(f))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let slot_a = rig.slot_sum("rootfs.0");
    let slot_b = rig.path("slots/rootfs.1.img");
    let factory_b = std::fs::read(&slot_b).expect("slot B");
    std::fs::remove_file(&slot_b).expect("rm slot B");
    sh(Command::new("mkfifo").arg(&slot_b));
    let (got_tx, got_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let fifo = slot_b.clone();
    let partition = std::thread::spawn(move || {
        // Opens when RAUC opens the slot for writing.
        let mut f = std::fs::File::open(&fifo).expect("open the slot FIFO");
        let mut written = vec![0u8; WRITTEN];
        f.read_exact(&mut written).expect("the first MiB");
        let _ = got_tx.send(written);
        // Holding the FIFO open without reading keeps RAUC blocked in write().
        let _ = release_rx.recv_timeout(Duration::from_secs(120));
    });

    rig.boot("A");
    let server = rig.appliance_in(true, 60, &flag, &extra, None);
    let token = server.token("view").await;
    let written = tokio::task::spawn_blocking(move || got_rx.recv_timeout(Duration::from_secs(90)))
        .await
        .expect("join")
        .unwrap_or_else(|_| panic!("RAUC never wrote slot B: {}", server.stderr_text()));
    let st = update_status(&server, &token, "installing", Duration::from_secs(10)).await;
    assert_eq!(st["detail"], "version 2.0.0", "{st}");

    // Power loss: everything dies at once, mid-write.
    let fetched = source.requests.lock().expect("lock").len();
    let dir = server.kill_keep_dir();
    rig.service = None;
    let _ = release_tx.send(());
    partition.join().expect("partition thread");
    std::fs::remove_file(&slot_b).expect("rm FIFO");
    let mut half_written = written;
    half_written.extend_from_slice(&factory_b[WRITTEN..]);
    std::fs::write(&slot_b, &half_written).expect("half-written slot B");

    // The firmware boots A, with A's kernel; A is untouched.
    let (slot, trial, committed, kernel) = rig.firmware(&flag);
    assert_eq!(
        (
            slot.as_str(),
            trial.as_str(),
            committed.as_str(),
            kernel.as_str()
        ),
        ("A", "A", "A", "factory kernel")
    );
    assert_eq!(
        rig.slot_sum("rootfs.0"),
        slot_a,
        "the running slot was written"
    );

    // After the restart the install is redone from the bundle already on the data partition.
    rig.boot("A");
    let server = rig.appliance_in(true, 60, &flag, &extra, Some(dir));
    wait_for_reboot("the reboot into 2.0.0", 90, &server, &flag).await;
    let image = rig.path("build-v2/bundle/rootfs.ext4");
    assert_eq!(rig.slot_sum("rootfs.1"), sha256_prefix(&image, IMAGE_BYTES));
    assert_eq!(rig.slot_sum("rootfs.0"), slot_a);
    assert_eq!(
        (read("tryboot.txt").as_str(), read("slot.txt").as_str()),
        ("os_prefix=slot-b/", "os_prefix=slot-a/"),
        "B on trial, A still committed"
    );
    assert_eq!(read("slot-b/vmlinuz"), "kernel of 2.0.0");
    let requests = source.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), fetched, "fetched again: {requests:?}");
}

/// The SD image's A/B boot on the Pi firmware, with RAUC driving the image's own backend
/// (`rauc-pi-boot`) over a boot partition directory, and this test playing the firmware: an
/// update is tried once (tryboot) with the kernel from its own slot, committed only when marked
/// good while running, and given up when it never comes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pi_firmware_boots_an_update_once_on_trial_and_commits_it_only_when_healthy() {
    pi_update_flow(true).await;
}

/// The same without the tryboot flag (Debian's kernel cannot set it): the update is committed
/// at once with the old slot as the fallback, which the boot guard restores when the new slot is
/// not confirmed within three boots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tryboot_an_unconfirmed_update_falls_back_after_three_boots() {
    pi_update_flow(false).await;
}

async fn pi_update_flow(tryboot: bool) {
    use pinhole::ota::manifest::sign;
    let mut rig = Rig::with(true);
    rig.tryboot = tryboot;
    let v2 = std::fs::read(rig.bundle("v2", "2.0.0", "pinhole-test", "signer")).expect("v2");
    let v3 = std::fs::read(rig.bundle("v3", "3.0.0", "pinhole-test", "signer")).expect("v3");
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let (source, extra) = serve_updates(sign(&manifest_for(&v2, "2.0.0"), &key), &v2, &key).await;
    let flag = rig.path("reboot-flag");
    let bootfs = rig.path("bootfs");
    let read = |f: &str| {
        std::fs::read_to_string(bootfs.join(f))
            .unwrap_or_default()
            .trim()
            .to_string()
    };

    // Factory boot: slot A. The agent confirms it, then fetches 2.0.0 and installs it into B:
    // B's own kernel is copied to slot-b/. With tryboot, B is only the trial slot; without, it
    // is committed with A as the fallback.
    let (slot, _, _, kernel) = rig.firmware(&flag);
    assert_eq!((slot.as_str(), kernel.as_str()), ("A", "factory kernel"));
    rig.boot(&slot);
    let server = rig.appliance_in(true, 60, &flag, &extra, None);
    wait_for_reboot("the reboot into 2.0.0", 90, &server, &flag).await;
    assert_eq!(read("slot-b/vmlinuz"), "kernel of 2.0.0");
    assert_eq!(read("slot-a/vmlinuz"), "factory kernel");
    assert_eq!(read("tryboot.txt"), "os_prefix=slot-b/");
    if tryboot {
        assert_eq!(
            read("slot.txt"),
            "os_prefix=slot-a/",
            "committed before it ran"
        );
    } else {
        assert_eq!(read("slot.txt"), "os_prefix=slot-b/");
        assert_eq!(read("fallback.txt"), "os_prefix=slot-a/");
    }

    // The firmware boots B; healthy, it is marked good (with tryboot: only now committed).
    let dir = server.kill_keep_dir();
    let (slot, _, _, kernel) = rig.firmware(&flag);
    assert_eq!((slot.as_str(), kernel.as_str()), ("B", "kernel of 2.0.0"));
    rig.boot(&slot);
    // 3.0.0 is published meanwhile; it goes into A once B is confirmed.
    *source.bundle.lock().expect("lock") = v3.clone();
    *source.manifest.lock().expect("lock") = sign(&manifest_for(&v3, "3.0.0"), &key);
    let server = rig.appliance_in(true, 60, &flag, &extra, Some(dir));
    wait_for_reboot("the reboot into 3.0.0", 90, &server, &flag).await;
    assert_eq!(read("slot-a/vmlinuz"), "kernel of 3.0.0");
    assert_eq!(read("tryboot.txt"), "os_prefix=slot-a/");
    if tryboot {
        assert_eq!(read("slot.txt"), "os_prefix=slot-b/", "B was not committed");
    } else {
        assert_eq!(read("slot.txt"), "os_prefix=slot-a/");
        assert_eq!(
            read("fallback.txt"),
            "os_prefix=slot-b/",
            "B's fallback was kept"
        );
    }

    // 3.0.0 never comes up. With tryboot the one trial dies (kernel panic, watchdog reset) and
    // the firmware's next, ordinary boot is the committed B. Without, A boots but hangs before
    // pinhole confirms it, three times; at the fourth boot the guard restores B and reboots.
    let dir = server.kill_keep_dir();
    if !tryboot {
        let _ = std::fs::remove_file(&flag);
        for boot in 1..=4 {
            let (slot, ..) = rig.firmware(&flag);
            assert_eq!(slot, "A");
            let st = Command::new(pi_backend())
                .env("PINHOLE_BOOT_DIR", &bootfs)
                .env("PINHOLE_BOOTED", &slot)
                .env("PINHOLE_TRYBOOT", "no")
                .arg("boot-guard")
                .status()
                .expect("boot-guard");
            assert_eq!(
                st.code(),
                Some(if boot < 4 { 0 } else { 10 }),
                "boot {boot}"
            );
        }
    }
    let _ = std::fs::remove_file(&flag);
    let (slot, trial, committed, _) = rig.firmware(&flag);
    assert_eq!((slot.as_str(), committed.as_str()), ("B", "B"));
    assert_eq!(trial, if tryboot { "A" } else { "B" });
    rig.boot(&slot);
    let server = rig.appliance_in(true, 60, &flag, &extra, Some(dir));
    let token = server.token("view").await;
    // Given up: A marked bad, the trial withdrawn, the version recorded as failed, no reboot.
    let st = update_status(&server, &token, "skipped", Duration::from_secs(60)).await;
    assert!(
        st["detail"].as_str().unwrap_or("").contains("3.0.0"),
        "{st}"
    );
    assert_eq!(st["primary"], "rootfs.1", "{st}");
    assert_eq!(read("tryboot.txt"), "os_prefix=slot-b/");
    assert_eq!(read("slot.txt"), "os_prefix=slot-b/");
    assert_eq!(read("fallback.txt"), "");
    assert_eq!(read("slot-a/state"), "bad");
    let failed = std::fs::read_to_string(server.state().join("ota-failed.json")).expect("failed");
    let why = if tryboot {
        "never came up"
    } else {
        "did not boot or was not confirmed"
    };
    assert!(failed.contains("3.0.0") && failed.contains(why), "{failed}");
    assert!(!flag.exists(), "rebooted into the update that failed");
    assert_eq!(
        source.requests.lock().expect("lock").len(),
        3,
        "3.0.0 fetched again"
    );
}

/// A hawkBit stand-in speaking the DDI API on 127.0.0.1, as the real server does for one
/// controller: token check, the base resource with its links, deployments, artifacts (with Range;
/// the first download breaks halfway), cancel requests, and it records every feedback and the
/// attributes the device sends.
#[derive(Clone, Default)]
struct Hawkbit {
    st: std::sync::Arc<std::sync::Mutex<HawkbitState>>,
}

#[derive(Default)]
struct HawkbitState {
    addr: String,
    token: String,
    /// The open action: (id, artifact file name, version, maintenance window open).
    action: Option<(String, String, String, bool)>,
    /// A cancel request for this action id.
    cancel: Option<String>,
    want_attributes: bool,
    attributes: Vec<serde_json::Value>,
    /// (action, feedback document), in arrival order.
    feedback: Vec<(String, serde_json::Value)>,
    bundles: std::collections::HashMap<String, Vec<u8>>,
    downloads: Vec<(String, Option<String>)>,
}

impl Hawkbit {
    fn lock(&self) -> std::sync::MutexGuard<'_, HawkbitState> {
        self.st.lock().expect("lock")
    }

    fn feedback_of(&self, action: &str) -> Vec<serde_json::Value> {
        self.lock()
            .feedback
            .iter()
            .filter(|(a, _)| a == action)
            .map(|(_, f)| f.clone())
            .collect()
    }

    fn closed(&self, action: &str) -> Option<serde_json::Value> {
        self.feedback_of(action)
            .into_iter()
            .find(|f| f["status"]["execution"] == "closed")
    }
}

type Hb = axum::extract::State<Hawkbit>;
type Seg2 = axum::extract::Path<(String, String)>;
type Seg3 = axum::extract::Path<(String, String, String)>;

/// Every DDI resource needs the target's token.
async fn hb_authorize(
    axum::extract::State(h): Hb,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let want = format!("TargetToken {}", h.lock().token);
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given != Some(want.as_str()) {
        return axum::http::StatusCode::UNAUTHORIZED.into_response();
    }
    next.run(req).await
}

async fn hb_base(
    axum::extract::State(h): Hb,
    axum::extract::Path((tenant, id)): Seg2,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if tenant != "DEFAULT" || id != "pinhole-test" {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    let st = h.lock();
    let root = format!("http://{}/DEFAULT/controller/v1/pinhole-test", st.addr);
    let mut links = serde_json::Map::new();
    if st.want_attributes {
        links.insert(
            "configData".into(),
            json!({"href": format!("{root}/configData")}),
        );
    }
    if let Some(stop) = &st.cancel {
        links.insert(
            "cancelAction".into(),
            json!({"href": format!("{root}/cancelAction/{stop}1")}),
        );
    } else if let Some((action, ..)) = &st.action {
        links.insert(
            "deploymentBase".into(),
            json!({"href": format!("{root}/deploymentBase/{action}?c=-1467332084")}),
        );
    }
    axum::Json(json!({"config": {"polling": {"sleep": "00:00:01"}}, "_links": links}))
        .into_response()
}

async fn hb_deployment(
    axum::extract::State(h): Hb,
    axum::extract::Path((_, _, action)): Seg3,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use sha2::Digest;
    let st = h.lock();
    let Some((id, file, version, window)) = st.action.clone().filter(|a| a.0 == action) else {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    };
    let bundle = &st.bundles[&file];
    let href = format!(
        "http://{}/DEFAULT/controller/v1/pinhole-test/softwaremodules/3/artifacts/{file}",
        st.addr
    );
    axum::Json(json!({
        "id": id,
        "deployment": {
            "download": "forced", "update": "forced",
            "maintenanceWindow": if window { "available" } else { "unavailable" },
            "chunks": [{"part": "os", "version": version, "name": "pinhole", "artifacts": [{
                "filename": file, "size": bundle.len(),
                "hashes": {"sha1": "unused", "md5": "unused",
                           "sha256": pinhole::hex(&sha2::Sha256::digest(bundle))},
                "_links": {"download-http": {"href": href}, "md5sum-http": {"href": format!("{href}.MD5SUM")}}
            }]}]
        },
        "actionHistory": {"status": "RUNNING", "messages": []}
    }))
    .into_response()
}

async fn hb_feedback(
    axum::extract::State(h): Hb,
    axum::extract::Path((_, _, kind, action)): axum::extract::Path<(
        String,
        String,
        String,
        String,
    )>,
    axum::Json(doc): axum::Json<serde_json::Value>,
) -> axum::http::StatusCode {
    let mut st = h.lock();
    let execution = doc["status"]["execution"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if kind == "cancelAction" {
        // The cancel action's own id is the stopped action's id plus "1".
        let stopped = action.trim_end_matches('1').to_string();
        st.feedback.push((format!("cancel {stopped}"), doc));
        if execution == "canceled" {
            st.cancel = None;
            st.action = None;
        }
        return axum::http::StatusCode::OK;
    }
    st.feedback.push((action.clone(), doc));
    if execution == "closed" && st.action.as_ref().is_some_and(|a| a.0 == action) {
        st.action = None;
    }
    axum::http::StatusCode::OK
}

async fn hb_cancel(
    axum::extract::State(h): Hb,
    axum::extract::Path((_, _, id)): Seg3,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let stop = h.lock().cancel.clone().unwrap_or_default();
    axum::Json(json!({"id": id, "cancelAction": {"stopId": stop}})).into_response()
}

async fn hb_config_data(
    axum::extract::State(h): Hb,
    axum::Json(doc): axum::Json<serde_json::Value>,
) -> axum::http::StatusCode {
    let mut st = h.lock();
    st.attributes.push(doc);
    st.want_attributes = false;
    axum::http::StatusCode::OK
}

async fn hb_artifact(
    axum::extract::State(h): Hb,
    axum::extract::Path((_, _, file)): Seg3,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let range = headers
        .get(axum::http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (bundle, first) = {
        let mut st = h.lock();
        st.downloads.push((file.clone(), range.clone()));
        let first = st.downloads.len() == 1;
        match st.bundles.get(&file) {
            Some(b) => (b.clone(), first),
            None => return axum::http::StatusCode::NOT_FOUND.into_response(),
        }
    };
    range_response(&bundle, range.as_deref(), first, false)
}

/// The fleet path: a hawkBit server assigns updates; the device installs them and the server
/// hears the real outcome after the reboot: success once the new slot is confirmed healthy,
/// failure with the reason when it was rolled back. Also: a wrong token, a maintenance window,
/// a cancel request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hawkbit_server_rolls_out_updates_and_hears_how_each_went() {
    let mut rig = Rig::new();
    let v2 = rig.bundle("v2", "2.0.0", "pinhole-test", "signer");
    let v3 = rig.bundle("v3", "3.0.0", "pinhole-test", "signer");
    let hb = Hawkbit::default();
    {
        let mut st = hb.lock();
        st.token = "rotated-token".into();
        st.want_attributes = true;
        st.action = Some((
            "7".into(),
            "pinhole-2.0.0.raucb".into(),
            "2.0.0".into(),
            true,
        ));
        st.bundles.insert(
            "pinhole-2.0.0.raucb".into(),
            std::fs::read(&v2).expect("v2"),
        );
        st.bundles.insert(
            "pinhole-3.0.0.raucb".into(),
            std::fs::read(&v3).expect("v3"),
        );
    }
    let app = axum::Router::new()
        .route("/{tenant}/controller/v1/{id}", axum::routing::get(hb_base))
        .route(
            "/{tenant}/controller/v1/{id}/configData",
            axum::routing::put(hb_config_data),
        )
        .route(
            "/{tenant}/controller/v1/{id}/deploymentBase/{action}",
            axum::routing::get(hb_deployment),
        )
        .route(
            "/{tenant}/controller/v1/{id}/cancelAction/{action}",
            axum::routing::get(hb_cancel),
        )
        .route(
            "/{tenant}/controller/v1/{id}/{kind}/{action}/feedback",
            axum::routing::post(hb_feedback),
        )
        .route(
            "/{tenant}/controller/v1/{id}/softwaremodules/3/artifacts/{file}",
            axum::routing::get(hb_artifact),
        )
        .layer(axum::middleware::from_fn_with_state(
            hb.clone(),
            hb_authorize,
        ))
        .with_state(hb.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    hb.lock().addr = listener.local_addr().expect("addr").to_string();
    let hawkbit_url = format!("http://{}", hb.lock().addr);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let extra = format!(
        "poll_secs = 1\n[ota.hawkbit]\nurl = \"{hawkbit_url}\"\ncontroller_id = \"pinhole-test\"\ntarget_token = \"device-token\"\n"
    );
    let flag = rig.path("rebooted");

    // The server expects another token: a clear error, nothing downloaded.
    rig.boot("A");
    let server = rig.appliance_in(true, 60, &flag, &extra, None);
    let token = server.token("view").await;
    let st = update_status(&server, &token, "error", Duration::from_secs(60)).await;
    assert!(
        st["detail"]
            .as_str()
            .unwrap_or("")
            .contains("refused controller pinhole-test"),
        "{st}"
    );
    assert_eq!(st["source"], format!("hawkbit {hawkbit_url}"));
    assert!(hb.lock().downloads.is_empty() && hb.lock().feedback.is_empty());

    // The right token: attributes sent, action 7 downloaded (broken once, resumed), installed
    // into B, progress reported, reboot; the action stays open until the new slot proves healthy.
    hb.lock().token = "device-token".into();
    wait_for_reboot("the reboot into 2.0.0", 90, &server, &flag).await;
    let attributes = hb.lock().attributes.clone();
    assert_eq!(attributes.len(), 1, "{attributes:?}");
    assert_eq!(attributes[0]["mode"], "merge");
    assert_eq!(attributes[0]["data"]["compatible"], "pinhole-test");
    assert_eq!(attributes[0]["data"]["slot"], "rootfs.0");
    let downloads = hb.lock().downloads.clone();
    let size = std::fs::read(&v2).expect("v2").len();
    assert_eq!(
        downloads,
        [
            ("pinhole-2.0.0.raucb".to_string(), None),
            (
                "pinhole-2.0.0.raucb".to_string(),
                Some(format!("bytes={}-", size / 2))
            )
        ],
        "the download resumed where it broke"
    );
    let fb = hb.feedback_of("7");
    assert!(
        fb.iter().all(|f| f["status"]["execution"] == "proceeding"),
        "{fb:?}"
    );
    let details: Vec<String> = fb
        .iter()
        .map(|f| f["status"]["details"][0].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        details
            .first()
            .is_some_and(|d| d.starts_with("downloading pinhole-2.0.0.raucb")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d == "installing version 2.0.0"),
        "{details:?}"
    );
    assert!(
        details
            .last()
            .is_some_and(|d| d.starts_with("version 2.0.0 installed")),
        "{details:?}"
    );
    assert_eq!(
        fb.last().map(|f| f["status"]["result"]["progress"].clone()),
        Some(json!({"cnt": 100, "of": 100}))
    );
    let image = rig.path("build-v2/bundle/rootfs.ext4");
    assert_eq!(rig.slot_sum("rootfs.1"), sha256_prefix(&image, IMAGE_BYTES));
    assert_eq!(rig.boot_state("primary"), "B");

    // Reboot into B: healthy, marked good, and only now is action 7 closed with success.
    let dir = server.kill_keep_dir();
    std::fs::remove_file(&flag).expect("flag");
    rig.boot("B");
    let server = rig.appliance_in(true, 60, &flag, &extra, Some(dir));
    let closed = wait_for("action 7 closed", Duration::from_secs(60), &server, || {
        ready(hb.closed("7"))
    })
    .await;
    assert_eq!(
        closed["status"]["result"]["finished"], "success",
        "{closed}"
    );
    assert!(
        closed["status"]["details"][0]
            .as_str()
            .unwrap_or("")
            .contains("runs in slot rootfs.1"),
        "{closed}"
    );
    assert_eq!(rig.boot_state("state.B"), "good");
    assert!(!flag.exists());

    // Action 8 (3.0.0) in a closed maintenance window: downloaded, not installed.
    hb.lock().action = Some((
        "8".into(),
        "pinhole-3.0.0.raucb".into(),
        "3.0.0".into(),
        false,
    ));
    let token = server.token("view").await;
    let st = update_status(&server, &token, "waiting", Duration::from_secs(60)).await;
    assert!(
        st["detail"]
            .as_str()
            .unwrap_or("")
            .contains("maintenance window"),
        "{st}"
    );
    assert_eq!(
        rig.boot_state("primary"),
        "B",
        "installed outside the window"
    );
    // The window opens: installed into A, reboot.
    hb.lock().action = Some((
        "8".into(),
        "pinhole-3.0.0.raucb".into(),
        "3.0.0".into(),
        true,
    ));
    wait_for_reboot("the reboot into 3.0.0", 60, &server, &flag).await;
    assert_eq!(
        hb.lock().downloads.len(),
        3,
        "the waiting bundle was downloaded once"
    );
    assert_eq!(rig.boot_state("primary"), "A");

    // Reboot into A, where a camera never streams: marked bad, back to B, reboot.
    let dir = server.kill_keep_dir();
    std::fs::remove_file(&flag).expect("flag");
    rig.boot("A");
    let server = rig.appliance_in(false, 5, &flag, &extra, Some(dir));
    wait_for_reboot("the rollback reboot", 60, &server, &flag).await;
    assert_eq!(rig.boot_state("primary"), "B");
    assert!(
        hb.closed("8").is_none(),
        "closed before the outcome was known"
    );

    // Back on B: action 8 is closed as failed, with the reason.
    let dir = server.kill_keep_dir();
    rig.boot("B");
    let server = rig.appliance_in(true, 60, &flag, &extra, Some(dir));
    let closed = wait_for("action 8 closed", Duration::from_secs(60), &server, || {
        ready(hb.closed("8"))
    })
    .await;
    assert_eq!(
        closed["status"]["result"]["finished"], "failure",
        "{closed}"
    );
    let why = closed["status"]["details"][0].as_str().unwrap_or("");
    assert!(
        why.contains("3.0.0") && why.contains("rolled back") && why.contains("camera1"),
        "{closed}"
    );

    // Action 9 waits for its window, then the operator cancels it: confirmed, file deleted.
    hb.lock().action = Some((
        "9".into(),
        "pinhole-3.0.0.raucb".into(),
        "3.0.0".into(),
        false,
    ));
    let token = server.token("view").await;
    update_status(&server, &token, "waiting", Duration::from_secs(60)).await;
    assert_eq!(
        std::fs::read_dir(server.state().join("ota"))
            .map(|d| d.count())
            .unwrap_or(0),
        1
    );
    hb.lock().cancel = Some("9".into());
    let fb = wait_for(
        "the cancel confirmed",
        Duration::from_secs(60),
        &server,
        || ready(Some(hb.feedback_of("cancel 9")).filter(|f| !f.is_empty())),
    )
    .await;
    assert_eq!(fb.len(), 1, "{fb:?}");
    assert_eq!(fb[0]["status"]["execution"], "canceled");
    assert_eq!(
        std::fs::read_dir(server.state().join("ota"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
    assert!(hb.lock().action.is_none());
    assert_eq!(rig.boot_state("primary"), "B");
}
