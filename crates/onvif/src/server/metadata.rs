//! Metadata configurations (Profile T's metadata streaming), the protocol half: one per camera,
//! listed and described by both media services, and what a client may set on one.
//!
//! A profile holding a camera's metadata configuration streams the camera's events (the event
//! service's motion and person messages) as ONVIF metadata beside its video, at the stream URI
//! of that profile. Pinhole's own profiles do not hold one, so their URIs stay the plain video
//! every player expects; a recorder adds it to a profile of its own (`AddMetadataConfiguration`,
//! Media2's `AddConfiguration`). The stream carries every event topic and no PTZ status or
//! analytics: a `SetMetadataConfiguration` asking for anything else is refused, naming it.

use super::MediaVersion;
use super::answer::{NO_MULTICAST, ProfileInfo};
use super::media2::ConfigurationFilter;
use super::{configuration_filter, configuration_token, field, invalid};
use crate::OnvifError;
use crate::xml::{child, escape, text};

/// A metadata configuration request of either media service.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataOp {
    /// `GetMetadataConfigurations` (Media2 narrows it by configuration or profile).
    List { filter: ConfigurationFilter },
    /// `GetMetadataConfiguration` (Media ver10).
    One { configuration: String },
    /// `GetMetadataConfigurationOptions`.
    Options { filter: ConfigurationFilter },
    /// `SetMetadataConfiguration`.
    Set(MetadataChange),
}

impl MetadataOp {
    pub fn name(&self) -> &'static str {
        match self {
            MetadataOp::List { .. } => "GetMetadataConfigurations",
            MetadataOp::One { .. } => "GetMetadataConfiguration",
            MetadataOp::Options { .. } => "GetMetadataConfigurationOptions",
            MetadataOp::Set(_) => "SetMetadataConfiguration",
        }
    }
}

/// What a `SetMetadataConfiguration` asks the stream to carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataChange {
    pub configuration: String,
    /// An `Events` element was sent (events streamed).
    pub events: bool,
    /// Its `Filter` held topic or message expressions.
    pub event_filter: bool,
    /// `PTZStatus` with `Status` or `Position` true.
    pub ptz_status: bool,
    pub analytics: bool,
}

impl MetadataChange {
    /// Whether Pinhole's stream is what the change asks for; if not, every reason it cannot be.
    pub fn check(&self) -> Result<(), String> {
        let reasons: Vec<&str> = [
            (
                !self.events,
                "the metadata stream is the camera's events: to stream none, remove the \
                 metadata configuration from the profile",
            ),
            (
                self.event_filter,
                "the metadata stream carries every event topic: an event filter is not applied \
                 (filter on the client's side)",
            ),
            (
                self.ptz_status,
                "the metadata stream carries no PTZ status: ask the PTZ service's GetStatus",
            ),
            (
                self.analytics,
                "the metadata stream carries no analytics scene description",
            ),
        ]
        .into_iter()
        .filter_map(|(refused, why)| refused.then_some(why))
        .collect();
        match reasons.is_empty() {
            true => Ok(()),
            false => Err(format!("`{}`: {}", self.configuration, reasons.join("; "))),
        }
    }
}

/// Reads a metadata configuration request named `name` (either media service), if it is one.
pub fn parse(op: roxmltree::Node<'_, '_>, name: &str) -> Result<Option<MetadataOp>, OnvifError> {
    Ok(Some(match name {
        "GetMetadataConfigurations" => MetadataOp::List {
            filter: configuration_filter(op)?,
        },
        "GetMetadataConfiguration" => MetadataOp::One {
            configuration: field(op, &["ConfigurationToken"], "ConfigurationToken")?,
        },
        "GetMetadataConfigurationOptions" => MetadataOp::Options {
            filter: configuration_filter(op)?,
        },
        "SetMetadataConfiguration" => MetadataOp::Set(change(op)?),
        _ => return Ok(None),
    }))
}

fn change(op: roxmltree::Node<'_, '_>) -> Result<MetadataChange, OnvifError> {
    let c = child(op, "Configuration").ok_or(OnvifError::Missing("Configuration"))?;
    // A `tt:ReferenceToken`: at most 64 characters.
    let configuration = configuration_token(c, 64)?;
    let flag = |node: Option<roxmltree::Node<'_, '_>>, name: &'static str| match node {
        None => Ok(false),
        Some(n) => match text(n).trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            other => Err(invalid(name, other)),
        },
    };
    let ptz = child(c, "PTZStatus");
    let ptz_status = flag(ptz.and_then(|p| child(p, "Status")), "PTZStatus/Status")?
        | flag(ptz.and_then(|p| child(p, "Position")), "PTZStatus/Position")?;
    let events = child(c, "Events");
    let event_filter = events
        .and_then(|e| child(e, "Filter"))
        .is_some_and(|f| f.children().any(|n| n.is_element()));
    Ok(MetadataChange {
        configuration,
        events: events.is_some(),
        event_filter,
        ptz_status,
        analytics: flag(child(c, "Analytics"), "Analytics")?,
    })
}

/// One `tt:MetadataConfiguration` (the element is the caller's): events, all of them (an
/// `Events` element without a filter; its empty subscription policy keeps it from reading as
/// absent in clients that drop empty elements, as zeep does), no PTZ status, no analytics.
pub fn configuration(p: &ProfileInfo, element: &str) -> String {
    format!(
        "<{element} token=\"{tok}\"><tt:Name>{tok}</tt:Name><tt:UseCount>1</tt:UseCount>\
         <tt:PTZStatus><tt:Status>false</tt:Status><tt:Position>false</tt:Position></tt:PTZStatus>\
         <tt:Events><tt:SubscriptionPolicy/></tt:Events><tt:Analytics>false</tt:Analytics>{NO_MULTICAST}\
         <tt:SessionTimeout>PT60S</tt:SessionTimeout></{element}>",
        tok = escape(&p.metadata_token())
    )
}

/// `GetMetadataConfigurations`: those of `list` (already chosen, without repeats).
pub fn list(v: MediaVersion, list: &[ProfileInfo]) -> String {
    let p = v.prefix();
    let all: String = list
        .iter()
        .map(|c| configuration(c, &format!("{p}:Configurations")))
        .collect();
    format!("<{p}:GetMetadataConfigurationsResponse>{all}</{p}:GetMetadataConfigurationsResponse>")
}

/// `GetMetadataConfiguration` (Media ver10).
pub fn one(c: &ProfileInfo) -> String {
    format!(
        "<trt:GetMetadataConfigurationResponse>{}</trt:GetMetadataConfigurationResponse>",
        configuration(c, "trt:Configuration")
    )
}

/// `GetMetadataConfigurationOptions`: the same for every camera (no PTZ status to filter).
pub fn options(v: MediaVersion) -> String {
    let p = v.prefix();
    format!(
        "<{p}:GetMetadataConfigurationOptionsResponse><{p}:Options>\
         <tt:PTZStatusFilterOptions><tt:PanTiltStatusSupported>false</tt:PanTiltStatusSupported>\
         <tt:ZoomStatusSupported>false</tt:ZoomStatusSupported>\
         <tt:PanTiltPositionSupported>false</tt:PanTiltPositionSupported>\
         <tt:ZoomPositionSupported>false</tt:ZoomPositionSupported></tt:PTZStatusFilterOptions>\
         </{p}:Options></{p}:GetMetadataConfigurationOptionsResponse>"
    )
}

/// `SetMetadataConfiguration` done.
pub fn set(v: MediaVersion) -> String {
    let p = v.prefix();
    format!("<{p}:SetMetadataConfigurationResponse/>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_request(configuration: &str) -> Result<MetadataChange, OnvifError> {
        let body = format!(
            "<SetMetadataConfiguration xmlns=\"http://www.onvif.org/ver10/media/wsdl\" \
             xmlns:tt=\"http://www.onvif.org/ver10/schema\">{configuration}\
             <ForcePersistence>true</ForcePersistence></SetMetadataConfiguration>"
        );
        let doc = roxmltree::Document::parse(&body).expect("xml");
        match parse(doc.root_element(), "SetMetadataConfiguration")? {
            Some(MetadataOp::Set(c)) => Ok(c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_change_is_taken_when_it_asks_for_what_is_streamed_and_refused_naming_what_is_not() {
        // What zeep sends back after reading the configuration: Pinhole's own, unchanged.
        let same = set_request(
            "<Configuration token=\"msrc_camera0\"><tt:Name>m</tt:Name><tt:UseCount>1</tt:UseCount>\
             <tt:PTZStatus><tt:Status>false</tt:Status><tt:Position>false</tt:Position></tt:PTZStatus>\
             <tt:Events/><tt:Analytics>false</tt:Analytics></Configuration>",
        )
        .expect("parsed");
        assert_eq!(same.configuration, "msrc_camera0");
        assert_eq!(same.check(), Ok(()));
        for (body, why) in [
            ("<tt:Analytics>true</tt:Analytics>", "remove the metadata"),
            ("<tt:Events/><tt:Analytics>true</tt:Analytics>", "analytics"),
            (
                "<tt:PTZStatus><tt:Status>true</tt:Status></tt:PTZStatus><tt:Events/>",
                "GetStatus",
            ),
            (
                "<tt:Events><tt:Filter><TopicExpression>tns1:VideoSource</TopicExpression>\
                 </tt:Filter></tt:Events>",
                "every event topic",
            ),
        ] {
            let c = set_request(&format!(
                "<Configuration token=\"msrc_camera0\">{body}</Configuration>"
            ))
            .expect("parsed");
            let refused = c.check().expect_err(body);
            assert!(
                refused.contains(why) && refused.contains("msrc_camera0"),
                "{refused}"
            );
        }
        // Unreadable values and missing tokens are the sender's error, not a panic.
        assert!(
            set_request(
                "<Configuration token=\"m\"><tt:Analytics>maybe</tt:Analytics></Configuration>"
            )
            .is_err()
        );
        assert!(set_request("<Configuration><tt:Events/></Configuration>").is_err());
        assert!(set_request("").is_err());
    }

    #[test]
    fn options_and_configurations_are_in_the_services_namespace() {
        assert!(options(MediaVersion::V20).starts_with(
            "<tr2:GetMetadataConfigurationOptionsResponse><tr2:Options><tt:PTZStatusFilterOptions>"
        ));
        assert_eq!(
            set(MediaVersion::V10),
            "<trt:SetMetadataConfigurationResponse/>"
        );
        let p = ProfileInfo {
            source: "src_porch".into(),
            ..ProfileInfo::empty("porch", "Porch")
        };
        let listed = list(MediaVersion::V10, std::slice::from_ref(&p));
        assert!(
            listed.starts_with(
                "<trt:GetMetadataConfigurationsResponse><trt:Configurations token=\"msrc_porch\">"
            ),
            "{listed}"
        );
        // Events without a filter: all of them.
        assert!(
            listed.contains("<tt:Events><tt:SubscriptionPolicy/></tt:Events>"),
            "{listed}"
        );
    }
}
