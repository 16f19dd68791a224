//! Demo mode's seeding: the administrator, the second test camera and the simulated PTZ
//! camera, so `just demo` shows every part of the appliance with nothing attached.

use super::*;

/// In demo mode, an `admin` exists with PINHOLE_ADMIN_PASSWORD or a random password printed once.
pub(super) async fn demo_admin(
    store: &Store,
    secrets: &SecretBox,
    clock: &dyn Clock,
    min_len: usize,
) -> anyhow::Result<()> {
    let from_env = std::env::var("PINHOLE_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    if let Some(p) = &from_env {
        password::check_policy(p, min_len)
            .map_err(|r| anyhow::anyhow!("PINHOLE_ADMIN_PASSWORD {r}"))?;
    }
    let exists = store.call(|c| users::by_name(c, "admin")).await?.is_some();
    let now = clock.now_secs();
    match (exists, from_env) {
        (true, None) => {
            tracing::info!("demo: using the existing admin account");
        }
        (true, Some(p)) => {
            let digest = crate::api::accounts::sealed_digest_secrets(secrets, "admin", &p);
            let hash = tokio::task::spawn_blocking(move || password::hash(&p))
                .await?
                .map_err(anyhow::Error::msg)?;
            store
                .call(move |c| {
                    users::set_password(c, "admin", &hash, now)?;
                    users::set_digest_secrets(c, "admin", &digest, false)
                })
                .await?;
            tracing::info!("demo: admin password set from PINHOLE_ADMIN_PASSWORD");
        }
        (false, env) => {
            let printed = env.is_none();
            let p = env.unwrap_or_else(|| crate::auth::token::random_token()[..16].to_string());
            let pw = p.clone();
            let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
                .await?
                .map_err(anyhow::Error::msg)?;
            let digest = crate::api::accounts::sealed_digest_secrets(secrets, "admin", &p);
            store
                .call(move |c| {
                    users::create(c, "admin", &hash, Role::Admin, now, false)?;
                    users::set_digest_secrets(c, "admin", &digest, false)
                })
                .await?;
            store
                .call(move |c| {
                    audit::insert(
                        c,
                        &audit::NewAuditEntry {
                            at_ms: now * 1000,
                            actor: None,
                            client: Some("demo".into()),
                            action: "user add".into(),
                            target: Some("admin".into()),
                            details: None,
                            result: "ok".into(),
                        },
                        audit::DEFAULT_MAX_ROWS,
                    )
                })
                .await?;
            if printed {
                println!(
                    "Demo admin account: username `admin`, password `{p}` (shown once; set PINHOLE_ADMIN_PASSWORD to choose it)"
                );
            }
        }
    }
    Ok(())
}

/// In demo mode, `camera1` is a second test-pattern camera (no PTZ).
pub(super) async fn demo_second_camera(
    store: &Store,
    secrets: &SecretBox,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    use crate::store::cameras::CameraInput;
    // A still photo with a face in it (for the demo's face detection) when the assets are
    // there, the moving test pattern otherwise.
    let photo = crate::config::demo_asset("images/astronaut.png");
    let input = CameraInput {
        id: Some("camera1".into()),
        name: Some("Demo camera".into()),
        source: Some(SourceKind::Test),
        url: photo.map(|p| p.display().to_string()),
        width: Some(640),
        height: Some(640),
        ..Default::default()
    };
    let secrets = secrets.clone();
    let now = clock.now_secs();
    store
        .call(move |c| match cameras::get(c, "camera1")? {
            None => cameras::create(c, &secrets, &input, CameraOrigin::Api, now).map(|_| ()),
            Some(_) => Ok(()),
        })
        .await?;
    Ok(())
}

/// In demo mode, `camera0` is a test-pattern camera whose PTZ link goes to a simulated Sony
/// VISCA camera on loopback (the same simulator as `pinhole visca-sim`).
pub(super) async fn demo_ptz_camera(
    store: &Store,
    secrets: &SecretBox,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    use crate::store::cameras::CameraInput;
    use pinhole_base::camera::PtzLinkChange;
    use pinhole_base::ptz::{PtzLink, PtzModel, PtzTransport};
    let sim = crate::ptz::simserver::SimServer::new(
        crate::ptz::profile::Profile::sony(),
        1,
        crate::ptz::simserver::Faults::default(),
    );
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let addr = sock.local_addr()?;
    tokio::spawn(sim.serve_sony_udp(sock));
    let input = CameraInput {
        id: Some("camera0".into()),
        name: Some("Demo PTZ camera".into()),
        source: Some(SourceKind::Test),
        ptz: Some(PtzLinkChange::Set(PtzLink {
            transport: PtzTransport::SonyUdp,
            addr: Some(addr.to_string()),
            path: None,
            baud: None,
            address: None,
            profile: Some(PtzModel::Sony),
        })),
        ..Default::default()
    };
    let secrets = secrets.clone();
    let now = clock.now_secs();
    store
        .call(move |c| match cameras::get(c, "camera0")? {
            None => cameras::create(c, &secrets, &input, CameraOrigin::Api, now).map(|_| ()),
            Some(_) => {
                let update = CameraInput {
                    id: None,
                    ptz: input.ptz.clone(),
                    ..Default::default()
                };
                cameras::update(c, &secrets, "camera0", &update, now).map(|_| ())
            }
        })
        .await?;
    eprintln!("demo: camera0 is a simulated Sony VISCA PTZ camera at sony-udp {addr}");
    Ok(())
}
