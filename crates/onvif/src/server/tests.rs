use super::answer::{
    self, AudioInfo, EncoderChoices, Encoding, Endpoints, Fault, Position, PresetInfo, ProfileInfo,
    PtzInfo,
};
use super::media2::ConfigurationKind;
use super::*;
use crate::soap::{self, UsernameToken};

const NOW: i64 = 1_764_806_400; // 2025-12-04T00:00:00Z

fn signed(body: &str, password: &str, created: &str) -> String {
    let t = UsernameToken {
        username: "admin",
        password,
        nonce: [7; 16],
        created,
    };
    soap::envelope(body, Some(&t))
}

#[test]
fn a_token_from_our_own_client_verifies_once_and_only_with_the_password() {
    let req = signed(
        "<GetProfiles xmlns=\"http://www.onvif.org/ver10/media/wsdl\"/>",
        "s3cret",
        "2025-12-04T00:01:00Z",
    );
    let r = parse_request(Service::Media, &req).unwrap();
    assert_eq!(r.operation, Operation::GetProfiles);
    assert!(!r.soap11);
    let t = r.token.unwrap();
    assert_eq!(t.username, "admin");
    assert_eq!(t.verify("s3cret", NOW), Ok(()));
    assert_eq!(t.verify("wrong", NOW), Err(TokenRefusal::Wrong));
    // Made more than five minutes from the device's clock: refused either way.
    assert_eq!(t.verify("s3cret", NOW + 3600), Err(TokenRefusal::Stale));
    assert_eq!(t.verify("s3cret", NOW - 3600), Err(TokenRefusal::Stale));
}

#[test]
fn the_programmers_guide_example_verifies() {
    // ONVIF Application Programmer's Guide, 6.1.1.3, with milliseconds as zeep sends them.
    let req = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><Security s:mustUnderstand="1" xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><UsernameToken><Username>user</Username><Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">tuOSpGlFlIXsozq4HFNeeGeFLEI=</Password><Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">LKqI6G/AikKCQrN0zqZFlg==</Nonce><Created xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">2010-09-16T07:50:45Z</Created></UsernameToken></Security></s:Header><s:Body><GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>"#;
    let r = parse_request(Service::Device, req).unwrap();
    assert_eq!(r.operation, Operation::GetDeviceInformation);
    let t = r.token.unwrap();
    let created = t.created_secs().unwrap();
    assert_eq!(t.verify("userpassword", created + 10), Ok(()));
    assert_eq!(t.verify("userpassword2", created), Err(TokenRefusal::Wrong));
}

#[test]
fn plain_text_passwords_and_incomplete_tokens_are_refused() {
    let req = signed(
        "<GetScopes xmlns=\"http://www.onvif.org/ver10/device/wsdl\"/>",
        "p",
        "2025-12-04T00:00:00Z",
    );
    let text = req.replace("#PasswordDigest", "#PasswordText");
    let t = parse_request(Service::Device, &text)
        .unwrap()
        .token
        .unwrap();
    assert_eq!(t.verify("p", NOW), Err(TokenRefusal::PlainText));
    let no_created = req.replace("<wsu:Created>2025-12-04T00:00:00Z</wsu:Created>", "");
    let t = parse_request(Service::Device, &no_created)
        .unwrap()
        .token
        .unwrap();
    assert_eq!(t.verify("p", NOW), Err(TokenRefusal::Incomplete));
    let bad_time = req.replace("2025-12-04T00:00:00Z", "yesterday");
    let t = parse_request(Service::Device, &bad_time)
        .unwrap()
        .token
        .unwrap();
    assert_eq!(t.verify("p", NOW), Err(TokenRefusal::BadTime));
    let bad_nonce = req.replace("BwcHBwcHBwcHBwcHBwcHBw==", "***");
    assert!(matches!(
        parse_request(Service::Device, &bad_nonce),
        Err(OnvifError::Invalid { field: "Nonce", .. })
    ));
}

#[test]
fn ptz_requests_carry_their_values() {
    let ptz = "http://www.onvif.org/ver20/ptz/wsdl";
    let tt = "http://www.onvif.org/ver10/schema";
    let read = |body: &str| {
        parse_request(Service::Ptz, &soap::envelope(body, None))
            .unwrap()
            .operation
    };
    assert_eq!(
        read(&format!(
            "<ContinuousMove xmlns=\"{ptz}\"><ProfileToken>cam1</ProfileToken><Velocity><PanTilt xmlns=\"{tt}\" x=\"0.5\" y=\"-0.25\"/><Zoom xmlns=\"{tt}\" x=\"0\"/></Velocity><Timeout>PT1.5S</Timeout></ContinuousMove>"
        )),
        Operation::ContinuousMove {
            profile: "cam1".into(),
            velocity: Vector {
                pan: Some(0.5),
                tilt: Some(-0.25),
                zoom: Some(0.0)
            },
            timeout_ms: Some(1500),
        }
    );
    assert_eq!(
        read(&format!(
            "<AbsoluteMove xmlns=\"{ptz}\"><ProfileToken>cam1</ProfileToken><Position><Zoom xmlns=\"{tt}\" x=\"0.3\"/></Position></AbsoluteMove>"
        )),
        Operation::AbsoluteMove {
            profile: "cam1".into(),
            position: Vector {
                pan: None,
                tilt: None,
                zoom: Some(0.3)
            },
        }
    );
    assert_eq!(
        read(&format!(
            "<SetPreset xmlns=\"{ptz}\"><ProfileToken>cam1</ProfileToken><PresetName>door</PresetName></SetPreset>"
        )),
        Operation::SetPreset {
            profile: "cam1".into(),
            name: Some("door".into()),
            preset: None
        }
    );
    // Our own client's requests are read back as sent.
    assert!(matches!(read(&crate::ptz::stop("p")), Operation::Stop { profile } if profile == "p"));
    assert!(matches!(
        read(&crate::ptz::relative_move("p", 0.1, 0.2, None)),
        Operation::RelativeMove {
            translation: Vector {
                pan: Some(_),
                tilt: Some(_),
                zoom: None
            },
            ..
        }
    ));
    let bad = format!(
        "<ContinuousMove xmlns=\"{ptz}\"><ProfileToken>c</ProfileToken><Velocity><PanTilt xmlns=\"{tt}\" x=\"NaN\" y=\"0\"/></Velocity></ContinuousMove>"
    );
    assert!(matches!(
        parse_request(Service::Ptz, &soap::envelope(&bad, None)),
        Err(OnvifError::Invalid {
            field: "PanTilt x",
            ..
        })
    ));
    let no_profile = format!("<GetStatus xmlns=\"{ptz}\"/>");
    assert_eq!(
        parse_request(Service::Ptz, &soap::envelope(&no_profile, None)).unwrap_err(),
        OnvifError::Missing("ProfileToken")
    );
}

#[test]
fn the_service_decides_what_an_operation_is_and_unknown_ones_are_named() {
    let caps = soap::envelope("<GetServiceCapabilities xmlns=\"x\"/>", None);
    assert_eq!(
        parse_request(Service::Ptz, &caps).unwrap().operation,
        Operation::GetServiceCapabilities(Service::Ptz)
    );
    let profiles_at_device = soap::envelope(&crate::media::get_profiles(), None);
    assert_eq!(
        parse_request(Service::Device, &profiles_at_device)
            .unwrap()
            .operation,
        Operation::NotSupported("GetProfiles".into())
    );
    let reboot = soap::envelope(
        "<SystemReboot xmlns=\"http://www.onvif.org/ver10/device/wsdl\"/>",
        None,
    );
    let op = parse_request(Service::Device, &reboot).unwrap().operation;
    assert_eq!(op.name(), "SystemReboot");
    assert_eq!(op.access(), Access::Read);
    assert_eq!(Operation::GetSystemDateAndTime.access(), Access::PreAuth);
    assert_eq!(
        Operation::Stop {
            profile: "c".into()
        }
        .access(),
        Access::Actuate
    );
}

#[test]
fn soap_11_is_recognised_and_unknown_must_understand_headers_refused() {
    let v11 = r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><GetScopes xmlns="http://www.onvif.org/ver10/device/wsdl"/></e:Body></e:Envelope>"#;
    assert!(parse_request(Service::Device, v11).unwrap().soap11);
    let must = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><x:Billing xmlns:x="urn:x" s:mustUnderstand="true"/></s:Header><s:Body><GetScopes xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>"#;
    assert!(matches!(
        parse_request(Service::Device, must),
        Err(OnvifError::Invalid {
            field: "mustUnderstand header",
            ..
        })
    ));
    assert!(parse_request(Service::Device, "<html/>").is_err());
    assert!(
        parse_request(
            Service::Device,
            "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><x/>"
        )
        .is_err()
    );
}

#[test]
fn durations() {
    assert_eq!(parse_duration_ms("PT5S"), Some(5000));
    assert_eq!(parse_duration_ms("PT0.25S"), Some(250));
    assert_eq!(parse_duration_ms("PT1M30S"), Some(90_000));
    assert_eq!(parse_duration_ms("PT1H"), Some(3_600_000));
    assert_eq!(parse_duration_ms("P1D"), None);
    assert_eq!(parse_duration_ms("PT5"), None);
    assert_eq!(parse_duration_ms("PT99999999999999999S"), None);
    assert_eq!(parse_duration_ms("PT25H"), None);
}

/// A camera with audio and PTZ (H.264 main stream) and its sub stream (H.265), with names and
/// tokens that must be escaped.
pub(super) fn sample_profiles() -> Vec<ProfileInfo> {
    let ptz = PtzInfo {
        node: "ptz_cam<1>".into(),
        configuration: "ptzcfg_cam<1>".into(),
        absolute: true,
        relative: true,
        continuous: true,
        home: true,
        max_presets: 16,
    };
    vec![
        ProfileInfo {
            token: "cam<1>".into(),
            stream: "cam<1>".into(),
            fixed: true,
            parts: ConfigurationKind::OWN.into_iter().collect(),
            name: "Porch & door".into(),
            source: "src_cam<1>".into(),
            width: 1280,
            height: 720,
            fps: 25,
            bitrate_kbps: 2000,
            encoding: Encoding::H264,
            keyframe_ms: 2000,
            choices: Some(EncoderChoices {
                resolutions: vec![(1920, 1080), (1280, 720), (640, 360)],
                fps: (1, 30),
                bitrate_kbps: (100, 20_000),
                keyframe_ms: (250, 2000),
            }),
            audio: Some(AudioInfo {
                channels: 2,
                sample_rate: 16_000,
                bitrate_kbps: 32,
            }),
            ptz: Some(ptz),
        },
        ProfileInfo {
            token: "cam<1>_sub".into(),
            stream: "cam<1>_sub".into(),
            fixed: true,
            parts: ConfigurationKind::OWN.into_iter().collect(),
            name: "Porch & door (sub)".into(),
            source: "src_cam<1>".into(),
            width: 640,
            height: 360,
            fps: 25,
            bitrate_kbps: 500,
            encoding: Encoding::H265,
            keyframe_ms: 2000,
            choices: None,
            audio: None,
            ptz: None,
        },
    ]
}

#[test]
fn answers_read_back_with_our_own_client_parsers() {
    let profiles = crate::media::parse_profiles(&answer::envelope(
        &answer::profiles(&sample_profiles()),
        false,
    ))
    .unwrap();
    assert_eq!(profiles.len(), 2);
    assert_eq!(profiles[0].token, "cam<1>");
    assert_eq!(profiles[0].name, "Porch & door");
    assert_eq!(
        (profiles[0].width, profiles[0].height, profiles[0].fps),
        (1280, 720, 25)
    );
    assert_eq!(
        profiles[0].encoding,
        Some(crate::media::VideoEncoding::H264)
    );
    assert_eq!(
        profiles[0].ptz_configuration.as_deref(),
        Some("ptzcfg_cam<1>")
    );
    assert_eq!(
        profiles[1].encoding,
        Some(crate::media::VideoEncoding::H265)
    );
    assert_eq!(profiles[1].ptz_configuration, None);
    assert_eq!(profiles[0].audio, Some(crate::media::AudioEncoding::Aac));
    assert_eq!(profiles[1].audio, None);

    let uri = crate::media::parse_media_uri(&answer::envelope(
        &answer::stream_uri("rtsp://h:8554/cam1?a=1&b=2"),
        false,
    ))
    .unwrap();
    assert_eq!(uri, "rtsp://h:8554/cam1?a=1&b=2");

    let e = Endpoints {
        base: "http://10.1.2.3:8002".into(),
    };
    for text in [
        answer::capabilities(&e, true),
        answer::services(&e, true, true, 2),
    ] {
        let s = crate::device::parse_services(&answer::envelope(&text, false)).unwrap();
        assert_eq!(
            s.media.as_deref(),
            Some("http://10.1.2.3:8002/onvif/media_service")
        );
        assert_eq!(
            s.ptz.as_deref(),
            Some("http://10.1.2.3:8002/onvif/ptz_service")
        );
    }
    let s = crate::device::parse_services(&answer::envelope(
        &answer::services(&e, false, false, 2),
        false,
    ))
    .unwrap();
    assert_eq!(s.ptz, None);

    let clock = crate::device::parse_system_date_and_time(&answer::envelope(
        &answer::system_date_and_time(NOW + 3661),
        false,
    ))
    .unwrap();
    assert_eq!(clock, NOW + 3661);

    let pos = Position {
        pan: 0.5,
        tilt: -0.25,
        zoom: 0.1,
    };
    let st = crate::ptz::parse_status(&answer::envelope(
        &answer::status(Some(&pos), true, None, NOW),
        false,
    ))
    .unwrap();
    assert_eq!(
        (st.pan, st.tilt, st.zoom, st.moving),
        (Some(0.5), Some(-0.25), Some(0.1), true)
    );

    let presets = crate::ptz::parse_presets(&answer::envelope(
        &answer::presets(&[PresetInfo {
            token: "7".into(),
            name: "Gate <east>".into(),
            position: Some(pos),
        }]),
        false,
    ))
    .unwrap();
    assert_eq!(
        (presets[0].token.as_str(), presets[0].name.as_str()),
        ("7", "Gate <east>")
    );

    let nodes = crate::ptz::parse_nodes(&answer::envelope(
        &answer::nodes(&[("Porch".into(), sample_profiles()[0].ptz.clone().unwrap())]),
        false,
    ))
    .unwrap();
    assert!(nodes[0].absolute && nodes[0].relative && nodes[0].continuous && nodes[0].home);
    assert_eq!(nodes[0].max_presets, 16);

    let info = crate::device::parse_device_information(&answer::envelope(
        &answer::device_information(&answer::DeviceInfo {
            manufacturer: "Pinhole".into(),
            model: "m".into(),
            firmware: "0.1.0".into(),
            serial: "s".into(),
            hardware_id: "h".into(),
        }),
        false,
    ))
    .unwrap();
    assert_eq!(info.manufacturer, "Pinhole");
}

#[test]
fn every_answer_is_well_formed_xml() {
    let p = sample_profiles();
    let z = p[0].ptz.clone().unwrap();
    let bodies = [
        answer::service_capabilities(Service::Device, 2),
        answer::service_capabilities(Service::Media, 2),
        answer::service_capabilities(Service::Ptz, 2),
        answer::scopes(&[("onvif://www.onvif.org/name/a&b".into(), false)]),
        answer::hostname("pi<"),
        answer::network_interfaces(&[answer::InterfaceInfo {
            name: "eth0".into(),
            mac: "00:11:22:33:44:55".into(),
            ipv4: Some(([10, 0, 0, 2].into(), 24)),
        }]),
        answer::wsdl_url().to_string(),
        answer::discovery_mode().to_string(),
        answer::one_profile(&p[0]),
        answer::video_sources(&[("src".into(), 1, 2, 3)]),
        answer::video_source_configurations(&p),
        answer::video_encoder_configurations(&p),
        answer::snapshot_uri("http://h/x?a&b"),
        answer::one_node("n", &z),
        answer::configurations(std::slice::from_ref(&z)),
        answer::one_configuration(&z),
        answer::configuration_options(&z),
        answer::set_preset("3"),
        answer::empty("tptz", "Stop"),
        answer::service_capabilities(Service::Imaging, 2),
        imaging::settings(&imaging::ImagingValues {
            brightness: 90.0,
            color_saturation: 50.0,
            contrast: 12.5,
        }),
        imaging::options(),
        imaging::move_options().to_string(),
        imaging::status().to_string(),
        imaging::set_done().to_string(),
        Fault::NoImagingForSource("a<b".into()).body(false),
        Fault::NoSource("x".into()).body(true),
        Fault::SettingsInvalid("Sharpness".into()).body(false),
        answer::audio_sources(&[("asrc_<a>".into(), 2)]),
        answer::video_source_options(MediaVersion::V10, &[("src_a".into(), 640, 360)], 20),
        answer::video_source_options(MediaVersion::V20, &[], 20),
        answer::guaranteed_encoders(2, 1),
        media2::video_encoder_instances(&[(Encoding::H264, 1), (Encoding::H265, 0)]),
        answer::default_gateway(&["192.168.1.1".parse().unwrap(), "fe80::1".parse().unwrap()]),
        answer::dns(&["192.168.1.1".parse().unwrap()], &["a<b".into()], true),
        answer::dns(&[], &[], false),
    ];
    for (i, body) in bodies.iter().enumerate() {
        for soap11 in [false, true] {
            let env = answer::envelope(body, soap11);
            assert!(crate::xml::parse(&env).is_ok(), "answer {i}: {env}");
        }
    }
    // One source configuration per camera, not per profile.
    assert_eq!(
        answer::video_source_configurations(&p)
            .matches("<trt:Configurations ")
            .count(),
        1
    );
}

#[test]
fn faults_read_back_as_the_refusals_they_are() {
    let f = Fault::NotAuthorized("wrong user name or password".into());
    assert_eq!(f.http_status(), 400);
    let e = crate::device::parse_device_information(&answer::envelope(&f.body(false), false))
        .unwrap_err();
    assert!(e.is_not_authorized(), "{e:?}");
    let e = crate::device::parse_device_information(&answer::envelope(&f.body(true), true))
        .unwrap_err();
    assert!(matches!(e, OnvifError::Fault { .. }), "{e:?}");
    let nf = Fault::NoProfile("no profile `x<`".into());
    let env = answer::envelope(&nf.body(false), false);
    assert!(
        env.contains("ter:NoProfile") && env.contains("x&lt;"),
        "{env}"
    );
    assert_eq!(Fault::Receiver("camera offline".into()).http_status(), 500);
}

#[test]
fn event_requests_read_as_home_assistant_sends_them() {
    // As zeep sends them for onvif-zeep-async, WS-Addressing headers and all.
    let wrap = |body: &str| {
        format!(
            "<soap-env:Envelope xmlns:soap-env=\"http://www.w3.org/2003/05/soap-envelope\">\
             <soap-env:Header><wsa:Action xmlns:wsa=\"http://www.w3.org/2005/08/addressing\">x</wsa:Action>\
             <wsa:MessageID xmlns:wsa=\"http://www.w3.org/2005/08/addressing\">urn:uuid:1</wsa:MessageID>\
             <wsa:To xmlns:wsa=\"http://www.w3.org/2005/08/addressing\">http://h/onvif/subscription/ab</wsa:To>\
             </soap-env:Header><soap-env:Body>{body}</soap-env:Body></soap-env:Envelope>"
        )
    };
    let create = wrap(
        "<ns0:CreatePullPointSubscription xmlns:ns0=\"http://www.onvif.org/ver10/events/wsdl\">\
         <ns0:InitialTerminationTime>PT10M</ns0:InitialTerminationTime></ns0:CreatePullPointSubscription>",
    );
    match parse_request(Service::Events, &create).unwrap().operation {
        Operation::CreatePullPointSubscription {
            filter,
            termination,
        } => {
            assert_eq!(termination, Some(events::Termination::AfterMs(600_000)));
            assert_eq!(filter, events::TopicFilter::all());
        }
        other => panic!("{other:?}"),
    }
    let filtered = wrap(
        "<tev:CreatePullPointSubscription xmlns:tev=\"http://www.onvif.org/ver10/events/wsdl\" \
         xmlns:wsnt=\"http://docs.oasis-open.org/wsn/b-2\" xmlns:tns1=\"http://www.onvif.org/ver10/topics\">\
         <tev:Filter><wsnt:TopicExpression Dialect=\"http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet\">\
         tns1:RuleEngine/CellMotionDetector/Motion</wsnt:TopicExpression></tev:Filter></tev:CreatePullPointSubscription>",
    );
    let Operation::CreatePullPointSubscription { filter, .. } =
        parse_request(Service::Events, &filtered).unwrap().operation
    else {
        panic!("not a subscription");
    };
    assert!(filter.accepts(events::Topic::CellMotion) && !filter.accepts(events::Topic::People));

    let pull = wrap(
        "<ns0:PullMessages xmlns:ns0=\"http://www.onvif.org/ver10/events/wsdl\">\
         <ns0:Timeout>PT1M</ns0:Timeout><ns0:MessageLimit>100</ns0:MessageLimit></ns0:PullMessages>",
    );
    assert_eq!(
        parse_request(Service::Subscription, &pull)
            .unwrap()
            .operation,
        Operation::PullMessages {
            timeout_ms: 60_000,
            limit: 100
        }
    );
    // Posted to the event service instead of the subscription: not offered there.
    assert_eq!(
        parse_request(Service::Events, &pull).unwrap().operation,
        Operation::NotSupported("PullMessages".into())
    );
    let renew = wrap(
        "<ns0:Renew xmlns:ns0=\"http://docs.oasis-open.org/wsn/b-2\">\
         <ns0:TerminationTime>2025-12-04T00:10:00Z</ns0:TerminationTime></ns0:Renew>",
    );
    assert_eq!(
        parse_request(Service::Subscription, &renew)
            .unwrap()
            .operation,
        Operation::Renew {
            termination: events::Termination::AtSecs(NOW + 600)
        }
    );
    for (op, want) in [
        ("Unsubscribe", Operation::Unsubscribe),
        (
            "SetSynchronizationPoint",
            Operation::SetSynchronizationPoint,
        ),
    ] {
        let req = wrap(&format!(
            "<ns0:{op} xmlns:ns0=\"http://www.onvif.org/ver10/events/wsdl\"/>"
        ));
        assert_eq!(
            parse_request(Service::Subscription, &req)
                .unwrap()
                .operation,
            want
        );
    }
    // Bad parameters are named.
    for (service, body, field) in [
        (
            Service::Subscription,
            "<PullMessages><Timeout>soon</Timeout><MessageLimit>1</MessageLimit></PullMessages>",
            "Timeout",
        ),
        (
            Service::Subscription,
            "<PullMessages><Timeout>PT1S</Timeout><MessageLimit>-1</MessageLimit></PullMessages>",
            "MessageLimit",
        ),
        (
            Service::Subscription,
            "<Renew><TerminationTime>tomorrow</TerminationTime></Renew>",
            "TerminationTime",
        ),
        (
            Service::Events,
            "<CreatePullPointSubscription><Filter><TopicExpression>tns1:*</TopicExpression></Filter></CreatePullPointSubscription>",
            "TopicExpression",
        ),
    ] {
        let e = parse_request(service, &wrap(body)).unwrap_err();
        assert!(
            matches!(&e, OnvifError::Invalid { field: f, .. } if *f == field),
            "{body}: {e:?}"
        );
    }
    let e = parse_request(Service::Subscription, &wrap("<Renew/>")).unwrap_err();
    assert!(matches!(e, OnvifError::Missing("TerminationTime")), "{e:?}");
}

#[test]
fn the_event_service_is_listed_with_its_pull_point_support() {
    let e = Endpoints {
        base: "http://192.0.2.7:8080".into(),
    };
    let caps = answer::envelope(&answer::capabilities(&e, false), false);
    let doc = roxmltree::Document::parse(&caps).unwrap();
    let events = doc
        .descendants()
        .find(|n| n.tag_name().name() == "Events")
        .expect("Events");
    assert_eq!(
        crate::xml::text_at(events, &["XAddr"]),
        Some("http://192.0.2.7:8080/onvif/event_service")
    );
    assert_eq!(
        crate::xml::text_at(events, &["WSPullPointSupport"]),
        Some("true")
    );
    let services = answer::envelope(&answer::services(&e, false, true, 1), false);
    let s = crate::device::parse_services(&services).unwrap();
    assert_eq!(
        s.events.as_deref(),
        Some("http://192.0.2.7:8080/onvif/event_service")
    );
    assert_eq!(
        s.media2.as_deref(),
        Some("http://192.0.2.7:8080/onvif/media2_service")
    );
    let f = Fault::UnknownSubscription("gone".into());
    assert!(answer::envelope(&f.body(false), false).contains("wsrf-rw:ResourceUnknownFault"));
}

#[test]
fn configuration_getters_and_options_are_read_for_media_and_media2() {
    let body = |service_ns: &str, inner: &str| {
        format!(
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>\
             <GetVideoEncoderConfigurationOptions xmlns=\"{service_ns}\">{inner}</GetVideoEncoderConfigurationOptions>\
             </s:Body></s:Envelope>"
        )
    };
    let by_profile = body(
        "http://www.onvif.org/ver10/media/wsdl",
        "<ProfileToken>camera1</ProfileToken>",
    );
    assert_eq!(
        parse_request(Service::Media, &by_profile)
            .unwrap()
            .operation,
        Operation::GetVideoEncoderConfigurationOptions {
            filter: media2::ConfigurationFilter {
                configuration: None,
                profile: Some("camera1".into()),
            }
        }
    );
    let by_token = body(
        "http://www.onvif.org/ver20/media/wsdl",
        "<ConfigurationToken>enc_camera0</ConfigurationToken>",
    );
    assert_eq!(
        parse_request(Service::Media2, &by_token).unwrap().operation,
        Operation::Media2(Media2Op::GetVideoEncoderConfigurationOptions {
            filter: media2::ConfigurationFilter {
                configuration: Some("enc_camera0".into()),
                profile: None,
            }
        })
    );
    let single = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>\
        <GetVideoEncoderConfiguration xmlns=\"http://www.onvif.org/ver10/media/wsdl\"/></s:Body></s:Envelope>";
    assert!(matches!(
        parse_request(Service::Media, single),
        Err(OnvifError::Missing("ConfigurationToken"))
    ));
}

/// Request `op` to `service` (Media or Media2, in its namespace) with `inner` as its content.
fn media_request(service: Service, op: &str, inner: &str) -> Result<Operation, OnvifError> {
    let ns = match service {
        Service::Media2 => "http://www.onvif.org/ver20/media/wsdl",
        _ => "http://www.onvif.org/ver10/media/wsdl",
    };
    let body = format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>\
         <{op} xmlns=\"{ns}\" xmlns:tt=\"http://www.onvif.org/ver10/schema\">{inner}</{op}>\
         </s:Body></s:Envelope>"
    );
    parse_request(service, &body).map(|r| r.operation)
}

#[test]
fn source_and_encoder_counts_are_read_and_answered_for_media_and_media2() {
    let token = "<ConfigurationToken>src_camera0</ConfigurationToken>";
    assert_eq!(
        media_request(
            Service::Media,
            "GetGuaranteedNumberOfVideoEncoderInstances",
            token
        )
        .unwrap(),
        Operation::GetGuaranteedNumberOfVideoEncoderInstances {
            configuration: "src_camera0".into()
        }
    );
    assert!(matches!(
        media_request(
            Service::Media,
            "GetGuaranteedNumberOfVideoEncoderInstances",
            ""
        ),
        Err(OnvifError::Missing("ConfigurationToken"))
    ));
    assert_eq!(
        media_request(Service::Media2, "GetVideoEncoderInstances", token).unwrap(),
        Operation::Media2(Media2Op::GetVideoEncoderInstances {
            configuration: "src_camera0".into()
        })
    );
    let options = media_request(Service::Media, "GetVideoSourceConfigurationOptions", "").unwrap();
    assert_eq!(options.access(), Access::Read);
    assert_eq!(options.name(), "GetVideoSourceConfigurationOptions");
    assert_eq!(
        media_request(Service::Media, "GetAudioSources", "").unwrap(),
        Operation::GetAudioSources
    );
    // The range spans the sources' sizes; the H.265 count is Media2's alone.
    let both = answer::video_source_options(
        MediaVersion::V10,
        &[("src_a".into(), 640, 360), ("src_b".into(), 1920, 1080)],
        20,
    );
    assert!(
        both.contains("<tt:WidthRange><tt:Min>640</tt:Min><tt:Max>1920</tt:Max></tt:WidthRange>")
            && both.contains("MaximumNumberOfProfiles=\"20\""),
        "{both}"
    );
    let counts = media2::video_encoder_instances(&[(Encoding::H264, 0), (Encoding::H265, 2)]);
    assert!(
        !counts.contains("H264")
            && counts.contains("<tr2:Encoding>H265</tr2:Encoding><tr2:Number>2</tr2:Number>")
            && counts.contains("<tr2:Total>2</tr2:Total>"),
        "{counts}"
    );
}

#[test]
fn network_settings_are_answered_in_the_schemas_elements() {
    let g = answer::default_gateway(&["10.0.0.1".parse().unwrap(), "fe80::1".parse().unwrap()]);
    assert!(
        g.contains("<tds:NetworkGateway><tt:IPv4Address>10.0.0.1</tt:IPv4Address><tt:IPv6Address>fe80::1</tt:IPv6Address></tds:NetworkGateway>"),
        "{g}"
    );
    let leased = answer::dns(&["10.0.0.1".parse().unwrap()], &["lan".into()], true);
    assert!(
        leased.contains("<tt:FromDHCP>true</tt:FromDHCP><tt:SearchDomain>lan</tt:SearchDomain><tt:DNSFromDHCP><tt:Type>IPv4</tt:Type><tt:IPv4Address>10.0.0.1</tt:IPv4Address></tt:DNSFromDHCP>"),
        "{leased}"
    );
    let set = answer::dns(&["fe80::1".parse().unwrap()], &[], false);
    assert!(
        set.contains(
            "<tt:DNSManual><tt:Type>IPv6</tt:Type><tt:IPv6Address>fe80::1</tt:IPv6Address>"
        ),
        "{set}"
    );
    let body = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>\
        <GetDNS xmlns=\"http://www.onvif.org/ver10/device/wsdl\"/></s:Body></s:Envelope>";
    let op = parse_request(Service::Device, body).unwrap().operation;
    assert_eq!((op.name(), op.access()), ("GetDNS", Access::Read));
}

#[test]
fn metadata_requests_are_read_for_media_and_media2() {
    use metadata::MetadataOp;
    let token = "<ConfigurationToken>msrc_camera0</ConfigurationToken>";
    let filter = media2::ConfigurationFilter {
        configuration: Some("msrc_camera0".into()),
        profile: None,
    };
    assert_eq!(
        media_request(Service::Media, "GetMetadataConfiguration", token).unwrap(),
        Operation::Metadata(MetadataOp::One {
            configuration: "msrc_camera0".into()
        })
    );
    assert_eq!(
        media_request(Service::Media2, "GetMetadataConfigurationOptions", token).unwrap(),
        Operation::Media2(Media2Op::Metadata(MetadataOp::Options {
            filter: filter.clone()
        }))
    );
    // Media2 lists metadata as it lists every kind.
    assert_eq!(
        media_request(Service::Media2, "GetMetadataConfigurations", token).unwrap(),
        Operation::Media2(Media2Op::GetConfigurations {
            kind: ConfigurationKind::Metadata,
            filter
        })
    );
    let add = media_request(
        Service::Media,
        "AddMetadataConfiguration",
        &format!("<ProfileToken>nvr</ProfileToken>{token}"),
    )
    .unwrap();
    assert_eq!(add.name(), "AddMetadataConfiguration");
    assert_eq!(add.access(), Access::Configure);
    let compatible = media_request(
        Service::Media,
        "GetCompatibleMetadataConfigurations",
        "<ProfileToken>nvr</ProfileToken>",
    )
    .unwrap();
    assert_eq!(compatible.access(), Access::Read);
    let set = media_request(
        Service::Media2,
        "SetMetadataConfiguration",
        "<Configuration token=\"msrc_camera0\"><tt:Events/></Configuration>",
    )
    .unwrap();
    assert_eq!(set.access(), Access::Configure);
    assert_eq!(set.name(), "SetMetadataConfiguration");
    // A made profile holding it shows it last, as the schema orders it.
    let mut made = sample_profiles()[0].clone();
    made.parts = [ConfigurationKind::VideoSource, ConfigurationKind::Metadata].into();
    let xml = answer::one_profile(&made);
    assert!(
        xml.contains("</tt:VideoSourceConfiguration><tt:MetadataConfiguration token=\"m"),
        "{xml}"
    );
    crate::xml::parse(&answer::envelope(&xml, false)).expect("well-formed");
}

#[test]
fn encoder_options_offer_the_choices_of_an_encoder_pinhole_runs() {
    let mut p = sample_profiles().remove(0);
    let text = answer::envelope(&answer::video_encoder_options(&p), false);
    let doc = roxmltree::Document::parse(&text).expect("well-formed");
    let options = doc
        .descendants()
        .find(|n| n.tag_name().name() == "Options")
        .expect("options");
    let order: Vec<&str> = options
        .children()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name())
        .collect();
    assert_eq!(order, ["QualityRange", "H264", "Extension"]);
    assert_eq!(
        text.matches("<tt:Width>1920</tt:Width>").count(),
        2,
        "{text}"
    );
    assert!(text.contains("<tt:FrameRateRange><tt:Min>1</tt:Min><tt:Max>30</tt:Max>"));
    assert!(text.contains("<tt:BitrateRange><tt:Min>100</tt:Min><tt:Max>20000</tt:Max>"));
    // 250..2000 ms at 25 fps: 7..50 frames.
    assert!(text.contains("<tt:GovLengthRange><tt:Min>7</tt:Min><tt:Max>50</tt:Max>"));
    let m2 = media2::video_encoder_options(std::slice::from_ref(&p));
    assert!(m2.contains("GovLengthRange=\"7 50\""), "{m2}");
    assert!(m2.contains("FrameRatesSupported=\"30 29 "), "{m2}");
    assert_eq!(m2.matches("<tt:ResolutionsAvailable>").count(), 3);

    // A relayed stream: what it runs at is the only choice.
    p.choices = None;
    p.encoding = Encoding::H265;
    assert!(!answer::video_encoder_options(&p).contains("H264"));
    let m2 = media2::video_encoder_options(std::slice::from_ref(&p));
    assert!(
        m2.contains("<tt:Encoding>H265</tt:Encoding>")
            && m2.contains("FrameRatesSupported=\"25\"")
            && m2.contains("GovLengthRange=\"50 50\"")
            && m2.contains("<tt:BitrateRange><tt:Min>2000</tt:Min><tt:Max>2000</tt:Max>"),
        "{m2}"
    );
}

/// A `SetVideoEncoderConfiguration` as zeep sends it to `service_ns` with `configuration`.
fn set_encoder(service_ns: &str, configuration: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:tt=\"http://www.onvif.org/ver10/schema\"><s:Body>\
         <SetVideoEncoderConfiguration xmlns=\"{service_ns}\">{configuration}<ForcePersistence>true</ForcePersistence>\
         </SetVideoEncoderConfiguration></s:Body></s:Envelope>"
    )
}

#[test]
fn encoder_changes_are_read_from_media_and_media2() {
    let ver10 = set_encoder(
        "http://www.onvif.org/ver10/media/wsdl",
        "<Configuration token=\"enc_camera0\"><tt:Name>camera0</tt:Name><tt:UseCount>1</tt:UseCount>\
         <tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>640</tt:Width><tt:Height>360</tt:Height></tt:Resolution>\
         <tt:Quality>5</tt:Quality><tt:RateControl><tt:FrameRateLimit>15</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval>\
         <tt:BitrateLimit>800</tt:BitrateLimit></tt:RateControl><tt:H264><tt:GovLength>15</tt:GovLength><tt:H264Profile>High</tt:H264Profile></tt:H264>\
         <tt:SessionTimeout>PT60S</tt:SessionTimeout></Configuration>",
    );
    let want = EncoderChange {
        configuration: "enc_camera0".into(),
        encoding: Some("H264".into()),
        width: Some(640),
        height: Some(360),
        fps: Some(15),
        bitrate_kbps: Some(800),
        gov_length: Some(15),
    };
    let r = parse_request(Service::Media, &ver10).unwrap();
    assert_eq!(
        r.operation,
        Operation::SetVideoEncoderConfiguration(want.clone())
    );
    assert_eq!(r.operation.access(), Access::Configure);

    let ver20 = set_encoder(
        "http://www.onvif.org/ver20/media/wsdl",
        "<Configuration token=\"enc_camera0\" GovLength=\"15\" Profile=\"High\"><tt:Name>camera0</tt:Name>\
         <tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>640</tt:Width><tt:Height>360</tt:Height></tt:Resolution>\
         <tt:RateControl ConstantBitRate=\"false\"><tt:FrameRateLimit>14.985</tt:FrameRateLimit><tt:BitrateLimit>800</tt:BitrateLimit></tt:RateControl>\
         <tt:Quality>5</tt:Quality></Configuration>",
    );
    let r = parse_request(Service::Media2, &ver20).unwrap();
    assert_eq!(
        r.operation,
        Operation::Media2(Media2Op::SetVideoEncoderConfiguration(want))
    );
    assert_eq!(r.operation.access(), Access::Configure);

    // Only what was sent changes.
    let r = parse_request(
        Service::Media,
        &set_encoder(
            "http://www.onvif.org/ver10/media/wsdl",
            "<Configuration token=\"enc_camera0\"><tt:RateControl><tt:BitrateLimit>900</tt:BitrateLimit></tt:RateControl></Configuration>",
        ),
    )
    .unwrap();
    assert_eq!(
        r.operation,
        Operation::SetVideoEncoderConfiguration(EncoderChange {
            configuration: "enc_camera0".into(),
            bitrate_kbps: Some(900),
            ..EncoderChange::default()
        })
    );

    // Hostile or broken values are named.
    for (configuration, field) in [
        (
            "<Configuration><tt:Encoding>H264</tt:Encoding></Configuration>",
            "Configuration token",
        ),
        (
            "<Configuration token=\"enc_camera0\"><tt:Resolution><tt:Width>-640</tt:Width></tt:Resolution></Configuration>",
            "Width",
        ),
        (
            "<Configuration token=\"enc_camera0\"><tt:RateControl><tt:FrameRateLimit>NaN</tt:FrameRateLimit></tt:RateControl></Configuration>",
            "FrameRateLimit",
        ),
        (
            "<Configuration token=\"enc_camera0\" GovLength=\"many\"></Configuration>",
            "GovLength",
        ),
    ] {
        let e = parse_request(
            Service::Media2,
            &set_encoder("http://www.onvif.org/ver20/media/wsdl", configuration),
        )
        .unwrap_err();
        assert!(e.to_string().contains(field), "{e} for {configuration}");
    }
}

#[test]
fn profile_edits_read_as_both_media_services_send_them() {
    let body = |service: Service, inner: &str| {
        parse_request(service, &soap::envelope(inner, None)).map(|r| r.operation)
    };
    let media = |inner: &str| body(Service::Media, inner);
    let m10 = "xmlns=\"http://www.onvif.org/ver10/media/wsdl\"";
    assert_eq!(
        media(&format!(
            "<CreateProfile {m10}><Name>Recorder</Name><Token>nvr</Token></CreateProfile>"
        )),
        Ok(Operation::EditProfile {
            name: "CreateProfile",
            edit: ProfileEdit::Create {
                name: "Recorder".into(),
                token: Some("nvr".into()),
                parts: vec![],
            },
        })
    );
    assert_eq!(
        media(&format!(
            "<AddPTZConfiguration {m10}><ProfileToken>nvr</ProfileToken>\
             <ConfigurationToken>ptzcfg_camera0</ConfigurationToken></AddPTZConfiguration>"
        )),
        Ok(Operation::EditProfile {
            name: "AddPTZConfiguration",
            edit: ProfileEdit::Add {
                profile: "nvr".into(),
                name: None,
                parts: vec![PartRef {
                    kind: ConfigurationKind::Ptz,
                    token: Some("ptzcfg_camera0".into()),
                }],
            },
        })
    );
    assert_eq!(
        media(&format!(
            "<RemoveVideoEncoderConfiguration {m10}><ProfileToken>nvr</ProfileToken>\
             </RemoveVideoEncoderConfiguration>"
        ))
        .map(|o| o.name().to_string()),
        Ok("RemoveVideoEncoderConfiguration".into())
    );
    assert_eq!(
        media(&format!(
            "<GetCompatibleVideoEncoderConfigurations {m10}><ProfileToken>nvr</ProfileToken>\
             </GetCompatibleVideoEncoderConfigurations>"
        )),
        Ok(Operation::GetCompatibleConfigurations {
            name: "GetCompatibleVideoEncoderConfigurations",
            profile: "nvr".into(),
            kind: ConfigurationKind::VideoEncoder,
        })
    );
    // Adding needs the configuration's token; profile edits are for admins, listing for all.
    assert!(media(&format!(
        "<AddVideoSourceConfiguration {m10}><ProfileToken>nvr</ProfileToken></AddVideoSourceConfiguration>"
    ))
    .is_err());
    let add = media(&format!(
        "<DeleteProfile {m10}><ProfileToken>nvr</ProfileToken></DeleteProfile>"
    ))
    .unwrap();
    assert_eq!(add.access(), Access::Configure);

    let m20 = "xmlns=\"http://www.onvif.org/ver20/media/wsdl\"";
    let create = body(
        Service::Media2,
        &format!(
            "<CreateProfile {m20}><Name>Second</Name>\
             <Configuration><Type>VideoSource</Type><Token>src_camera0</Token></Configuration>\
             <Configuration><Type>VideoEncoder</Type></Configuration></CreateProfile>"
        ),
    );
    assert_eq!(
        create,
        Ok(Operation::Media2(Media2Op::EditProfile {
            name: "CreateProfile",
            edit: ProfileEdit::Create {
                name: "Second".into(),
                token: None,
                parts: vec![
                    PartRef {
                        kind: ConfigurationKind::VideoSource,
                        token: Some("src_camera0".into()),
                    },
                    PartRef {
                        kind: ConfigurationKind::VideoEncoder,
                        token: None,
                    },
                ],
            },
        }))
    );
    // `All` without a token stands for every kind; with one it names nothing, and a flood of
    // configurations is refused.
    let all = body(
        Service::Media2,
        &format!(
            "<RemoveConfiguration {m20}><ProfileToken>p</ProfileToken>\
             <Configuration><Type>All</Type></Configuration></RemoveConfiguration>"
        ),
    );
    match all {
        Ok(Operation::Media2(Media2Op::EditProfile {
            edit: ProfileEdit::Remove { parts, .. },
            ..
        })) => assert_eq!(parts.len(), ConfigurationKind::ALL.len()),
        other => panic!("{other:?}"),
    }
    assert!(
        body(
            Service::Media2,
            &format!(
                "<AddConfiguration {m20}><ProfileToken>p</ProfileToken>\
                 <Configuration><Type>All</Type><Token>x</Token></Configuration></AddConfiguration>"
            ),
        )
        .is_err()
    );
    let many = "<Configuration><Type>VideoSource</Type><Token>s</Token></Configuration>".repeat(17);
    assert!(
        body(
            Service::Media2,
            &format!(
                "<AddConfiguration {m20}><ProfileToken>p</ProfileToken>{many}</AddConfiguration>"
            ),
        )
        .is_err()
    );
}

#[test]
fn a_made_profile_shows_what_it_holds_and_says_it_is_not_fixed() {
    let own = sample_profiles();
    let mut made = own[0].clone();
    made.token = "nvr".into();
    made.fixed = false;
    made.parts = [
        ConfigurationKind::VideoSource,
        ConfigurationKind::VideoEncoder,
    ]
    .into();
    let xml = answer::profile_edited("CreateProfile", Some(&made));
    assert!(xml.contains("token=\"nvr\" fixed=\"false\""), "{xml}");
    assert!(xml.contains("enc_cam&lt;1&gt;"), "{xml}");
    assert!(
        !xml.contains("PTZConfiguration") && !xml.contains("Audio"),
        "{xml}"
    );
    assert_eq!(
        answer::profile_edited("DeleteProfile", None),
        "<trt:DeleteProfileResponse/>"
    );
    assert!(
        media2::profile_edited("CreateProfile", Some(&made)).contains("<tr2:Token>nvr</tr2:Token>")
    );
    let ptz = answer::compatible_configurations(
        "GetCompatibleConfigurations",
        ConfigurationKind::Ptz,
        &own,
    );
    assert_eq!(ptz.matches("<tptz:PTZConfiguration ").count(), 1, "{ptz}");
    // Faults carry ONVIF's subcodes.
    let f = Fault::FixedProfile("own".into()).body(false);
    assert!(f.contains("ter:DeletionOfFixedProfile"), "{f}");
}

#[test]
fn imaging_requests_read_as_recorders_send_them() {
    let req = |body: &str| {
        format!(
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>\
             <timg:{body}</s:Body></s:Envelope>"
        )
    };
    let ns = "xmlns:timg=\"http://www.onvif.org/ver20/imaging/wsdl\" xmlns:tt=\"http://www.onvif.org/ver10/schema\"";
    let r = parse_request(
        Service::Imaging,
        &req(&format!(
            "SetImagingSettings {ns}><timg:VideoSourceToken>src_camera1</timg:VideoSourceToken>\
             <timg:ImagingSettings><tt:Brightness>90</tt:Brightness><tt:Contrast>12.5</tt:Contrast>\
             <tt:Sharpness>3</tt:Sharpness></timg:ImagingSettings>\
             <timg:ForcePersistence>true</timg:ForcePersistence></timg:SetImagingSettings>"
        )),
    )
    .unwrap();
    let Operation::Imaging(imaging::ImagingOp::SetImagingSettings { source, change }) =
        &r.operation
    else {
        panic!("{:?}", r.operation);
    };
    assert_eq!(source, "src_camera1");
    assert_eq!(
        (change.brightness, change.contrast, change.color_saturation),
        (Some(90.0), Some(12.5), None)
    );
    assert_eq!(change.unsupported, vec!["Sharpness".to_string()]);
    assert_eq!(r.operation.access(), Access::Actuate);
    assert_eq!(r.operation.name(), "SetImagingSettings");
    // The imaging service's GetStatus is not PTZ's.
    let r = parse_request(
        Service::Imaging,
        &req(&format!(
            "GetStatus {ns}><timg:VideoSourceToken>src_camera1</timg:VideoSourceToken></timg:GetStatus>"
        )),
    )
    .unwrap();
    assert_eq!(r.operation.access(), Access::Read);
    assert!(matches!(
        r.operation,
        Operation::Imaging(imaging::ImagingOp::GetStatus { .. })
    ));
    // Not a number, not finite, no source: refused.
    for bad in [
        "<tt:Brightness>bright</tt:Brightness>",
        "<tt:Contrast>NaN</tt:Contrast>",
        "<tt:ColorSaturation>inf</tt:ColorSaturation>",
    ] {
        let body = format!(
            "SetImagingSettings {ns}><timg:VideoSourceToken>s</timg:VideoSourceToken>\
             <timg:ImagingSettings>{bad}</timg:ImagingSettings></timg:SetImagingSettings>"
        );
        assert!(
            parse_request(Service::Imaging, &req(&body)).is_err(),
            "{bad}"
        );
    }
    let body = format!("GetOptions {ns}/>");
    assert!(parse_request(Service::Imaging, &req(&body)).is_err());
    // The device says where the service is.
    let e = Endpoints {
        base: "http://h".into(),
    };
    assert!(
        answer::capabilities(&e, false)
            .contains("<tt:Imaging><tt:XAddr>http://h/onvif/imaging_service</tt:XAddr>")
    );
    assert!(
        answer::services(&e, false, true, 2).contains("http://www.onvif.org/ver20/imaging/wsdl")
    );
}

#[test]
fn osd_requests_read_as_both_media_services_send_them_and_answers_read_back() {
    use osd::{MediaVersion, OsdOp};
    use pinhole_base::osd::{DateFormat, OsdKind, OsdPosition, TimeFormat};
    let req = |service: &str, body: &str| {
        format!(
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
             xmlns:m=\"http://www.onvif.org/{service}/wsdl\" xmlns:tt=\"http://www.onvif.org/ver10/schema\">\
             <s:Body>{body}</s:Body></s:Envelope>"
        )
    };
    let create = |service: &str, osd: &str| {
        req(
            service,
            &format!("<m:CreateOSD><m:OSD token=\"\">{osd}</m:OSD></m:CreateOSD>"),
        )
    };
    let clock = "<tt:VideoSourceConfigurationToken>src_camera1</tt:VideoSourceConfigurationToken>\
         <tt:Type>Text</tt:Type><tt:Position><tt:Type>Custom</tt:Type><tt:Pos x=\"0\" y=\"-0.5\"/></tt:Position>\
         <tt:TextString><tt:Type>DateAndTime</tt:Type><tt:DateFormat>dd.MM.yyyy</tt:DateFormat>\
         <tt:TimeFormat>hh:mm:ss tt</tt:TimeFormat><tt:FontSize>40</tt:FontSize>\
         <tt:FontColor><tt:Color X=\"1\" Y=\"1\" Z=\"1\"/></tt:FontColor></tt:TextString>";
    for (service, ver) in [
        (Service::Media2, "ver20/media"),
        (Service::Media, "ver10/media"),
    ] {
        let r = parse_request(service, &create(ver, clock)).unwrap();
        let op = match &r.operation {
            Operation::Osd(o) | Operation::Media2(Media2Op::Osd(o)) => o,
            other => panic!("{other:?}"),
        };
        let OsdOp::CreateOsd(i) = op else {
            panic!("{op:?}")
        };
        assert_eq!(i.source, "src_camera1");
        let t = &i.text;
        assert_eq!(
            (
                t.kind,
                t.position,
                t.date_format,
                t.time_format,
                t.font_size
            ),
            (
                OsdKind::DateAndTime,
                OsdPosition::Custom,
                DateFormat::DayMonthYearDotted,
                TimeFormat::TwelveHour,
                40
            )
        );
        // ONVIF's (0, -0.5), y up, is the middle across and three quarters down.
        assert_eq!((t.x, t.y), (0.5, 0.75));
        assert_eq!(r.operation.access(), Access::Configure);
        assert_eq!(r.operation.name(), "CreateOSD");
    }
    let r = parse_request(
        Service::Media2,
        &req(
            "ver20/media",
            "<m:GetOSDs><m:ConfigurationToken>src_camera1</m:ConfigurationToken></m:GetOSDs>",
        ),
    )
    .unwrap();
    assert_eq!(r.operation.access(), Access::Read);
    assert_eq!(
        r.operation,
        Operation::Media2(Media2Op::Osd(OsdOp::GetOsds {
            configuration: Some("src_camera1".into()),
            osd: None
        }))
    );
    // What Pinhole does not draw is refused by name.
    let text = |inner: &str| {
        format!(
            "<tt:VideoSourceConfigurationToken>s</tt:VideoSourceConfigurationToken><tt:Type>Text</tt:Type>\
             <tt:TextString>{inner}</tt:TextString>"
        )
    };
    for (bad, named) in [
        (
            "<tt:VideoSourceConfigurationToken>s</tt:VideoSourceConfigurationToken><tt:Type>Image</tt:Type>"
                .to_string(),
            "Type",
        ),
        (text("<tt:Type>Weather</tt:Type>"), "TextString/Type"),
        (
            text("<tt:Type>Date</tt:Type><tt:DateFormat>yyyy/MM/dd</tt:DateFormat>"),
            "DateFormat",
        ),
        (
            text("<tt:Type>Plain</tt:Type><tt:FontSize>900</tt:FontSize>"),
            "FontSize",
        ),
    ] {
        let e = parse_request(Service::Media2, &create("ver20/media", &bad)).unwrap_err();
        assert!(e.to_string().contains(named), "{named}: {e}");
    }
    // Answers: the listed OSD reads back as it was made, options list exactly what is drawn.
    let mut t = pinhole_base::osd::OsdText::new(OsdKind::Plain);
    t.token = "camera1.osd1".into();
    t.text = "Porch & <gate>".into();
    t.position = OsdPosition::Custom;
    t.x = 0.25;
    t.y = 0.5;
    let listed = osd::list(MediaVersion::V20, &[("src_camera1".into(), t.clone())]);
    let wrapped = format!(
        "<r xmlns:tr2=\"http://www.onvif.org/ver20/media/wsdl\" xmlns:tt=\"http://www.onvif.org/ver10/schema\">{listed}</r>"
    );
    let doc = roxmltree::Document::parse(&wrapped).expect("well-formed");
    let osds = doc
        .descendants()
        .find(|n| n.has_tag_name("OSDs"))
        .expect("an OSD");
    assert_eq!(osds.attribute("token"), Some("camera1.osd1"));
    let back = parse_request(
        Service::Media2,
        &req(
            "ver20/media",
            &format!(
                "<m:SetOSD><m:OSD token=\"camera1.osd1\">{}</m:OSD></m:SetOSD>",
                &listed[listed.find('>').unwrap() + 1..]
                    .split("</tr2:OSDs>")
                    .next()
                    .unwrap()
                    .split_once('>')
                    .unwrap()
                    .1
            ),
        ),
    )
    .unwrap();
    let Operation::Media2(Media2Op::Osd(OsdOp::SetOsd(i))) = back.operation else {
        panic!("{:?}", back.operation)
    };
    assert_eq!(i.text, t);
    let options = osd::options(MediaVersion::V10);
    assert!(
        options.starts_with("<trt:GetOSDOptionsResponse>"),
        "{options}"
    );
    for f in DateFormat::ALL {
        assert!(options.contains(f.pattern()), "{options}");
    }
    assert!(options.contains("Total=\"4\" Image=\"0\""), "{options}");
}
