//! Any bytes as a request to Pinhole's own ONVIF face (SOAP to its device, media, Media2,
//! PTZ and event services and its pull-point subscriptions, and datagrams on its WS-Discovery
//! port): anyone on the network can send them.
//! Must never panic; what is accepted keeps its promises (tokens are bounded, answers to a
//! probe are well-formed and relate to it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole_onvif::discovery::{self, Advert};
use pinhole_onvif::server::{Service, parse_request};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for service in [
        Service::Device,
        Service::Media,
        Service::Media2,
        Service::Ptz,
        Service::Events,
        Service::Subscription,
    ] {
        if let Ok(req) = parse_request(service, text) {
            let _ = req.operation.access();
            assert!(req.operation.name().chars().count() <= 64);
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
        let (relates, matches) = discovery::parse_probe_matches(&answer).expect("our answer parses");
        assert_eq!(relates.as_deref(), Some(probe.message_id.as_str()));
        assert_eq!(matches.len(), 1);
    }
});
