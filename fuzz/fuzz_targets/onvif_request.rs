//! Any bytes as a request to Pinhole's own ONVIF face (SOAP to its device, media, Media2,
//! PTZ and event services and its pull-point subscriptions, and datagrams on its WS-Discovery
//! port): anyone on the network can send them.
//! Must never panic; what is accepted keeps its promises (tokens are bounded, answers to a
//! probe are well-formed and relate to it, a profile edit that is accepted stores a profile
//! that holds one stream's configurations and reads back, an OSD as read lies on the picture
//! and is listed back as well-formed XML).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole_onvif::discovery::{self, Advert};
use pinhole_onvif::server::answer::ProfileInfo;
use pinhole_onvif::server::imaging::{self, ImagingOp};
use pinhole_onvif::server::media2::ConfigurationKind;
use pinhole_onvif::server::metadata::MetadataOp;
use pinhole_onvif::server::osd::{self, MediaVersion, OsdOp};
use pinhole_onvif::server::profiles::{self, Change};
use pinhole_onvif::server::{Media2Op, Operation, ProfileEdit, Service, parse_request};

/// Two cameras' own profiles, the second with a sub stream.
fn own() -> Vec<ProfileInfo> {
    ["camera0", "camera1", "camera1.sub"]
        .into_iter()
        .map(|t| ProfileInfo {
            stream: t.into(),
            fixed: true,
            parts: ConfigurationKind::OWN.into_iter().collect(),
            source: format!("src_{}", t.trim_end_matches(".sub")),
            ..ProfileInfo::empty(t, t)
        })
        .collect()
}

fn edit_of(op: &Operation) -> Option<&ProfileEdit> {
    match op {
        Operation::EditProfile { edit, .. }
        | Operation::Media2(Media2Op::EditProfile { edit, .. }) => Some(edit),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for service in [
        Service::Device,
        Service::Media,
        Service::Media2,
        Service::Ptz,
        Service::Imaging,
        Service::Events,
        Service::Subscription,
    ] {
        if let Ok(req) = parse_request(service, text) {
            let _ = req.operation.access();
            assert!(req.operation.name().chars().count() <= 64);
            if let Operation::Imaging(ImagingOp::SetImagingSettings { change, .. }) = &req.operation
            {
                // Values as read are numbers; what Pinhole has not is named, a bounded few.
                for v in [change.brightness, change.contrast, change.color_saturation]
                    .into_iter()
                    .flatten()
                {
                    assert!(v.is_finite());
                }
                assert!(change.unsupported.len() <= 12);
                let _ = imaging::unsupported_reason(&change.unsupported);
            }
            if let Operation::Osd(OsdOp::CreateOsd(i) | OsdOp::SetOsd(i))
            | Operation::Media2(Media2Op::Osd(OsdOp::CreateOsd(i) | OsdOp::SetOsd(i))) =
                &req.operation
            {
                let t = &i.text;
                assert!((0.0..=1.0).contains(&t.x) && (0.0..=1.0).contains(&t.y));
                assert!(pinhole::osd::FONT_SIZES.contains(&t.font_size));
                let listed = osd::list(MediaVersion::V20, &[(i.source.clone(), t.clone())]);
                let wrapped = format!("<r xmlns:tr2=\"urn:a\" xmlns:tt=\"urn:b\">{listed}</r>");
                pinhole_onvif::xml::parse(&wrapped).expect("an OSD lists as well-formed XML");
            }
            if let Operation::Metadata(MetadataOp::Set(c))
            | Operation::Media2(Media2Op::Metadata(MetadataOp::Set(c))) = &req.operation
            {
                // Taken or refused, naming the configuration.
                if let Err(why) = c.check() {
                    assert!(why.contains(&c.configuration));
                }
            }
            if let Some(edit) = edit_of(&req.operation) {
                let own = own();
                if let Ok(Change::Put(m)) = profiles::apply(&own, &[], edit) {
                    assert!(m.validate().is_ok());
                    let shown = profiles::resolve(&own, &m);
                    assert_eq!(
                        shown.parts.len(),
                        m.parts.len(),
                        "a part that fits no stream"
                    );
                }
            }
            if let Some(t) = req.token {
                assert!(t.username.len() <= 256 && t.password.len() <= 256);
                let _ = t.verify("password", 1_764_806_400);
            }
        }
    }
    if let Ok(Some(probe)) = discovery::parse_probe(text) {
        let ad = Advert {
            endpoint: "urn:uuid:00000000-0000-4000-8000-000000000000".into(),
            scopes: vec!["onvif://www.onvif.org/Profile/Streaming".into()],
            xaddrs: "http://192.0.2.1/onvif/device_service".into(),
            metadata_version: 1,
        };
        let _ = probe.matches(&ad);
        let answer = discovery::probe_matches(&probe, "urn:uuid:1", &ad);
        let (relates, matches) =
            discovery::parse_probe_matches(&answer).expect("our answer parses");
        assert_eq!(relates.as_deref(), Some(probe.message_id.as_str()));
        assert_eq!(matches.len(), 1);
    }
});
