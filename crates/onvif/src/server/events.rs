//! The event service of Pinhole's face, the protocol half: the topics Pinhole raises, the
//! subscription requests' parameters (termination times, topic filters), and the answers of the
//! event service and of a pull-point subscription (WS-BaseNotification with ONVIF's pull point,
//! the way Home Assistant, Frigate and most recorders take a camera's motion).
//!
//! Every topic is a property: a subscription first gets each camera's state as `Initialized`,
//! then `Changed` when it changes. The subscriptions themselves live in the server crate.

use crate::xml::escape;

/// Topic expressions in the ConcreteSet dialect (`tns1:RuleEngine/CellMotionDetector/Motion`).
pub const DIALECT_CONCRETE_SET: &str = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet";

/// The most subscriptions open at once, pull points and `Notify` ones together (what the device
/// answers `MaxPullPoints` and `MaxNotificationProducers`): recorders and home-automation
/// systems take one each.
pub const MAX_SUBSCRIPTIONS: usize = 16;

/// A topic Pinhole raises, per camera (its video source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Topic {
    /// Profile S/T's motion alarm of a video source.
    MotionAlarm,
    /// The rule engine's motion detector, the topic most cameras raise.
    CellMotion,
    /// A person in the picture (the detector's `person` label).
    People,
}

impl Topic {
    pub const ALL: [Topic; 3] = [Topic::MotionAlarm, Topic::CellMotion, Topic::People];

    /// The topic's path below `tns1:`.
    pub fn path(self) -> &'static str {
        match self {
            Topic::MotionAlarm => "VideoSource/MotionAlarm",
            Topic::CellMotion => "RuleEngine/CellMotionDetector/Motion",
            Topic::People => "RuleEngine/PeopleDetector/People",
        }
    }

    /// The name of the message's one data item (a boolean).
    pub fn data_item(self) -> &'static str {
        match self {
            Topic::MotionAlarm => "State",
            Topic::CellMotion => "IsMotion",
            Topic::People => "IsPeople",
        }
    }

    /// The rule of a rule-engine topic.
    fn rule(self) -> Option<&'static str> {
        match self {
            Topic::MotionAlarm => None,
            Topic::CellMotion => Some("MotionDetectorRule"),
            Topic::People => Some("PeopleDetectorRule"),
        }
    }

    /// The source items naming where the event happened: the video source (whose token is
    /// also its configuration's) and, for rules, the analytics configuration and rule.
    fn source_items(self, source: &str) -> Vec<(&'static str, String)> {
        match self.rule() {
            None => vec![("Source", source.to_string())],
            Some(rule) => vec![
                ("VideoSourceConfigurationToken", source.to_string()),
                (
                    "VideoAnalyticsConfigurationToken",
                    format!("analytics_{source}"),
                ),
                ("Rule", rule.to_string()),
            ],
        }
    }
}

/// How a message relates to the property's earlier state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyOperation {
    /// The state when the subscription began (or at a synchronization point).
    Initialized,
    Changed,
}

impl PropertyOperation {
    fn as_str(self) -> &'static str {
        match self {
            PropertyOperation::Initialized => "Initialized",
            PropertyOperation::Changed => "Changed",
        }
    }
}

/// One notification: a topic's state on a video source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub topic: Topic,
    /// The video source token (`src_<camera>`).
    pub source: String,
    pub active: bool,
    pub operation: PropertyOperation,
    /// When the state began, Unix milliseconds.
    pub at_ms: i64,
}

/// When a subscription ends, as asked: an `xs:duration` from now or an absolute time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    AfterMs(u64),
    AtSecs(i64),
}

impl Termination {
    /// Reads `InitialTerminationTime` or `TerminationTime`.
    pub fn parse(s: &str) -> Option<Termination> {
        let s = s.trim();
        if s.starts_with("PT") {
            return super::parse_duration_ms(s).map(Termination::AfterMs);
        }
        s.parse::<jiff::Timestamp>()
            .ok()
            .map(|t| Termination::AtSecs(t.as_second()))
    }

    /// The end in Unix seconds, at the device's time `now`, within `max_secs` of it; `None`
    /// when it is not in the future.
    pub fn resolve(self, now: i64, max_secs: i64) -> Option<i64> {
        let at = match self {
            Termination::AfterMs(ms) => now.saturating_add(ms.div_ceil(1000) as i64),
            Termination::AtSecs(s) => s,
        };
        (at > now).then(|| at.min(now + max_secs))
    }
}

/// The topics a subscription asked for (its `Filter`'s `TopicExpression`s, ConcreteSet: `|`
/// between alternatives, `//.` after a topic for it and everything below it). No filter: all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicFilter {
    /// Topic paths without their prefix, with whether the path's subtree is included.
    alternatives: Vec<(String, bool)>,
}

/// The longest topic expression read.
const MAX_EXPRESSION: usize = 1024;

impl TopicFilter {
    /// All topics.
    pub fn all() -> Self {
        Self::default()
    }

    /// Adds one `TopicExpression`. Prefixes (`tns1:`) are dropped: they can only mean ONVIF's
    /// topic namespace, the only one Pinhole raises.
    pub fn add(&mut self, expression: &str) -> Result<(), String> {
        if expression.len() > MAX_EXPRESSION {
            return Err("the topic expression is too long".into());
        }
        for alt in expression.split('|') {
            let alt = alt.trim();
            let (path, subtree) = match alt.strip_suffix("//.") {
                Some(p) => (p, true),
                None => (alt, false),
            };
            let path: Vec<&str> = path
                .split('/')
                .map(|seg| seg.rsplit_once(':').map_or(seg, |(_, local)| local))
                .collect();
            if path.iter().any(|s| {
                s.is_empty()
                    || !s
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            }) {
                return Err(format!(
                    "`{}` is not a topic expression of the ConcreteSet dialect",
                    alt.chars().take(80).collect::<String>()
                ));
            }
            self.alternatives.push((path.join("/"), subtree));
        }
        Ok(())
    }

    pub fn accepts(&self, topic: Topic) -> bool {
        let t = topic.path();
        self.alternatives.is_empty()
            || self.alternatives.iter().any(|(p, subtree)| {
                t == p
                    || (*subtree
                        && t.strip_prefix(p.as_str())
                            .is_some_and(|rest| rest.starts_with('/')))
            })
    }
}

fn utc_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

// Answers.

/// The event service's `GetServiceCapabilities`, without its response element.
pub fn capabilities() -> String {
    let max = MAX_SUBSCRIPTIONS;
    format!(
        "<tev:Capabilities WSSubscriptionPolicySupport=\"false\" WSPullPointSupport=\"true\" \
         WSPausableSubscriptionManagerInterfaceSupport=\"false\" MaxNotificationProducers=\"{max}\" \
         MaxPullPoints=\"{max}\" PersistentNotificationStorage=\"false\"/>"
    )
}

pub fn service_capabilities() -> String {
    format!(
        "<tev:GetServiceCapabilitiesResponse>{}</tev:GetServiceCapabilitiesResponse>",
        capabilities()
    )
}

fn topic_description(t: Topic) -> String {
    let source = t
        .source_items("")
        .iter()
        .map(|(name, _)| {
            let ty = if *name == "Rule" {
                "xs:string"
            } else {
                "tt:ReferenceToken"
            };
            format!("<tt:SimpleItemDescription Name=\"{name}\" Type=\"{ty}\"/>")
        })
        .collect::<String>();
    format!(
        "<tt:MessageDescription IsProperty=\"true\"><tt:Source>{source}</tt:Source>\
         <tt:Data><tt:SimpleItemDescription Name=\"{}\" Type=\"xs:boolean\"/></tt:Data>\
         </tt:MessageDescription>",
        t.data_item()
    )
}

/// `GetEventProperties`: the fixed set of topics, each with its message's items.
pub fn event_properties() -> String {
    let leaf = |name: &str, t: Topic| {
        format!(
            "<tns1:{name} wstop:topic=\"true\">{}</tns1:{name}>",
            topic_description(t)
        )
    };
    format!(
        "<tev:GetEventPropertiesResponse>\
         <tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml</tev:TopicNamespaceLocation>\
         <wsnt:FixedTopicSet>true</wsnt:FixedTopicSet>\
         <wstop:TopicSet>\
         <tns1:VideoSource>{}</tns1:VideoSource>\
         <tns1:RuleEngine><tns1:CellMotionDetector>{}</tns1:CellMotionDetector>\
         <tns1:PeopleDetector>{}</tns1:PeopleDetector></tns1:RuleEngine>\
         </wstop:TopicSet>\
         <wsnt:TopicExpressionDialect>{DIALECT_CONCRETE_SET}</wsnt:TopicExpressionDialect>\
         <wsnt:TopicExpressionDialect>http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete</wsnt:TopicExpressionDialect>\
         <tev:MessageContentFilterDialect>http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter</tev:MessageContentFilterDialect>\
         <tev:MessageContentSchemaLocation>http://www.onvif.org/onvif/ver10/schema/onvif.xsd</tev:MessageContentSchemaLocation>\
         </tev:GetEventPropertiesResponse>",
        leaf("MotionAlarm", Topic::MotionAlarm),
        leaf("Motion", Topic::CellMotion),
        leaf("People", Topic::People),
    )
}

/// How a subscription's messages reach its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// `CreatePullPointSubscription`: the client pulls them from the subscription's address.
    PullPoint,
    /// `Subscribe`: the device posts them to the client as `Notify`; the address is the
    /// subscription manager's (for `Renew` and `Unsubscribe`).
    Notify,
}

/// The answer that made a subscription: its address, and the times.
pub fn subscription_made(
    delivery: Delivery,
    address: &str,
    now_secs: i64,
    termination_secs: i64,
) -> String {
    let (response, reference) = match delivery {
        Delivery::PullPoint => (
            "tev:CreatePullPointSubscriptionResponse",
            "tev:SubscriptionReference",
        ),
        Delivery::Notify => ("wsnt:SubscribeResponse", "wsnt:SubscriptionReference"),
    };
    format!(
        "<{response}><{reference}><wsa:Address>{}</wsa:Address></{reference}>\
         <wsnt:CurrentTime>{}</wsnt:CurrentTime><wsnt:TerminationTime>{}</wsnt:TerminationTime>\
         </{response}>",
        escape(address),
        super::answer::utc(now_secs),
        super::answer::utc(termination_secs)
    )
}

/// The whole SOAP 1.2 message that delivers `messages` to a consumer (`Notify`, one way), with
/// the WS-Addressing headers WS-BaseNotification asks for.
pub fn notify(consumer: &str, subscription: &str, messages: &[Notification]) -> String {
    let body: String = messages.iter().map(notification_message).collect();
    let envelope = super::answer::envelope(&format!("<wsnt:Notify>{body}</wsnt:Notify>"), false);
    let header = format!(
        "<s:Header><wsa:Action>http://docs.oasis-open.org/wsn/bw-2/NotificationConsumer/Notify</wsa:Action>\
         <wsa:To>{}</wsa:To><wsa:From><wsa:Address>{}</wsa:Address></wsa:From></s:Header><s:Body>",
        escape(consumer),
        escape(subscription)
    );
    envelope.replacen("<s:Body>", &header, 1)
}

fn notification_message(n: &Notification) -> String {
    let source = n
        .topic
        .source_items(&n.source)
        .iter()
        .map(|(name, value)| {
            format!(
                "<tt:SimpleItem Name=\"{name}\" Value=\"{}\"/>",
                escape(value)
            )
        })
        .collect::<String>();
    format!(
        "<wsnt:NotificationMessage><wsnt:Topic Dialect=\"{DIALECT_CONCRETE_SET}\">tns1:{}</wsnt:Topic>\
         <wsnt:Message><tt:Message UtcTime=\"{}\" PropertyOperation=\"{}\">\
         <tt:Source>{source}</tt:Source>\
         <tt:Data><tt:SimpleItem Name=\"{}\" Value=\"{}\"/></tt:Data>\
         </tt:Message></wsnt:Message></wsnt:NotificationMessage>",
        n.topic.path(),
        utc_ms(n.at_ms),
        n.operation.as_str(),
        n.topic.data_item(),
        if n.active { "true" } else { "false" }
    )
}

/// A document of a camera's RTSP metadata stream (`tt:MetadataStream`, ONVIF's streaming
/// specification) carrying `messages` as events, each a `wsnt:NotificationMessage` as a pull
/// point gives it (none names a subscription: the stream is not one).
pub fn metadata_stream(messages: &[Notification]) -> String {
    use super::answer::{NS_SCHEMA, NS_TOPICS, NS_WSNT};
    let body: String = messages.iter().map(notification_message).collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <tt:MetadataStream xmlns:tt=\"{NS_SCHEMA}\" xmlns:wsnt=\"{NS_WSNT}\" xmlns:tns1=\"{NS_TOPICS}\">\
         <tt:Event>{body}</tt:Event></tt:MetadataStream>"
    )
}

/// `PullMessages`: the messages taken, with the subscription's times.
pub fn pulled(now_secs: i64, termination_secs: i64, messages: &[Notification]) -> String {
    let body: String = messages.iter().map(notification_message).collect();
    format!(
        "<tev:PullMessagesResponse><tev:CurrentTime>{}</tev:CurrentTime>\
         <tev:TerminationTime>{}</tev:TerminationTime>{body}</tev:PullMessagesResponse>",
        super::answer::utc(now_secs),
        super::answer::utc(termination_secs)
    )
}

/// `Renew`: the new termination time.
pub fn renewed(now_secs: i64, termination_secs: i64) -> String {
    format!(
        "<wsnt:RenewResponse><wsnt:TerminationTime>{}</wsnt:TerminationTime>\
         <wsnt:CurrentTime>{}</wsnt:CurrentTime></wsnt:RenewResponse>",
        super::answer::utc(termination_secs),
        super::answer::utc(now_secs)
    )
}

pub fn unsubscribed() -> &'static str {
    "<wsnt:UnsubscribeResponse/>"
}

pub fn synchronization_point_set() -> &'static str {
    "<tev:SetSynchronizationPointResponse/>"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn termination_times_are_durations_or_instants_and_bounded() {
        let now = 1_764_806_400;
        assert_eq!(
            Termination::parse("PT10M"),
            Some(Termination::AfterMs(600_000))
        );
        assert_eq!(
            Termination::parse("PT0.5S").unwrap().resolve(now, 3600),
            Some(now + 1)
        );
        assert_eq!(
            Termination::parse("2025-12-04T00:01:00Z")
                .unwrap()
                .resolve(now, 3600),
            Some(now + 60)
        );
        // In the past, or now: refused. Too far: cut to the device's longest.
        assert_eq!(Termination::parse("PT0S").unwrap().resolve(now, 3600), None);
        assert_eq!(
            Termination::parse("2025-12-03T00:00:00Z")
                .unwrap()
                .resolve(now, 3600),
            None
        );
        assert_eq!(
            Termination::parse("P1D").and_then(|t| t.resolve(now, 3600)),
            None,
            "a day-form duration is not read"
        );
        assert_eq!(
            Termination::parse("PT23H").unwrap().resolve(now, 3600),
            Some(now + 3600)
        );
        assert_eq!(Termination::parse("soon"), None);
    }

    #[test]
    fn topic_filters_take_alternatives_prefixes_and_subtrees() {
        let mut f = TopicFilter::all();
        assert!(Topic::ALL.iter().all(|t| f.accepts(*t)));
        f.add("tns1:RuleEngine/CellMotionDetector/Motion").unwrap();
        assert!(f.accepts(Topic::CellMotion));
        assert!(!f.accepts(Topic::People) && !f.accepts(Topic::MotionAlarm));

        let mut f = TopicFilter::all();
        f.add("tns1:VideoSource//.|tns1:RuleEngine/PeopleDetector/People")
            .unwrap();
        assert!(f.accepts(Topic::MotionAlarm) && f.accepts(Topic::People));
        assert!(!f.accepts(Topic::CellMotion));

        // A subtree matches below the path, not a sibling that starts alike.
        let mut f = TopicFilter::all();
        f.add("tns1:RuleEngine/Cell//.").unwrap();
        assert!(!f.accepts(Topic::CellMotion));

        let mut f = TopicFilter::all();
        assert!(f.add("tns1:RuleEngine/*").is_err());
        assert!(f.add("boolean(//tt:SimpleItem)").is_err());
        assert!(f.add(&"a/".repeat(600)).is_err());
    }

    #[test]
    fn a_pulled_message_carries_topic_source_and_state() {
        let n = Notification {
            topic: Topic::CellMotion,
            source: "src_<cam>".into(),
            active: true,
            operation: PropertyOperation::Changed,
            at_ms: 1_764_806_400_250,
        };
        let body = pulled(1_764_806_401, 1_764_807_000, &[n]);
        let text = super::super::answer::envelope(&body, false);
        let doc = roxmltree::Document::parse(&text).expect("well-formed");
        let msg = doc
            .descendants()
            .find(|e| e.tag_name().name() == "Message" && e.attribute("UtcTime").is_some())
            .expect("message");
        assert_eq!(msg.attribute("UtcTime"), Some("2025-12-04T00:00:00.250Z"));
        assert_eq!(msg.attribute("PropertyOperation"), Some("Changed"));
        let items: Vec<(&str, &str)> = msg
            .descendants()
            .filter(|e| e.tag_name().name() == "SimpleItem")
            .map(|e| (e.attribute("Name").unwrap(), e.attribute("Value").unwrap()))
            .collect();
        assert_eq!(
            items,
            [
                ("VideoSourceConfigurationToken", "src_<cam>"),
                ("VideoAnalyticsConfigurationToken", "analytics_src_<cam>"),
                ("Rule", "MotionDetectorRule"),
                ("IsMotion", "true"),
            ]
        );
        let topic = doc
            .descendants()
            .find(|e| e.tag_name().name() == "Topic")
            .expect("topic");
        assert_eq!(
            topic.text(),
            Some("tns1:RuleEngine/CellMotionDetector/Motion")
        );
        assert_eq!(
            topic.lookup_namespace_uri(Some("tns1")),
            Some("http://www.onvif.org/ver10/topics")
        );
    }

    #[test]
    fn a_notify_is_a_whole_message_to_the_consumer() {
        let n = Notification {
            topic: Topic::People,
            source: "src_camera0".into(),
            active: true,
            operation: PropertyOperation::Changed,
            at_ms: 1_764_806_400_000,
        };
        let text = notify(
            "http://10.0.0.2:8123/api/webhook/x?a=1&b=2",
            "http://10.0.0.9/onvif/subscription/ab",
            &[n],
        );
        let doc = roxmltree::Document::parse(&text).expect("well-formed");
        let names: Vec<&str> = doc
            .root_element()
            .children()
            .filter(|c| c.is_element())
            .map(|c| c.tag_name().name())
            .collect();
        assert_eq!(names, ["Header", "Body"]);
        let to = doc
            .descendants()
            .find(|e| e.tag_name().name() == "To")
            .and_then(|e| e.text());
        assert_eq!(to, Some("http://10.0.0.2:8123/api/webhook/x?a=1&b=2"));
        let notify = doc
            .descendants()
            .find(|e| e.tag_name().name() == "Notify")
            .expect("Notify");
        assert_eq!(
            notify
                .children()
                .filter(|e| e.tag_name().name() == "NotificationMessage")
                .count(),
            1
        );
    }

    #[test]
    fn the_event_properties_list_every_topic() {
        let text = super::super::answer::envelope(&event_properties(), false);
        let doc = roxmltree::Document::parse(&text).expect("well-formed");
        for t in Topic::ALL {
            let leaf = t.path().rsplit('/').next().unwrap();
            let node = doc
                .descendants()
                .find(|e| {
                    e.tag_name().name() == leaf
                        && e.tag_name().namespace() == Some("http://www.onvif.org/ver10/topics")
                })
                .unwrap_or_else(|| panic!("{leaf}"));
            assert!(
                node.descendants()
                    .any(|e| e.attribute("Name") == Some(t.data_item()))
            );
        }
    }

    #[test]
    fn a_metadata_stream_document_carries_the_events_in_onvifs_namespaces() {
        let n = |topic, active, operation| Notification {
            topic,
            source: "src_porch".into(),
            active,
            operation,
            at_ms: 1_764_806_400_250,
        };
        let text = metadata_stream(&[
            n(Topic::MotionAlarm, true, PropertyOperation::Initialized),
            n(Topic::People, false, PropertyOperation::Changed),
        ]);
        let doc = roxmltree::Document::parse(&text).expect("well-formed");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "MetadataStream");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.onvif.org/ver10/schema")
        );
        let messages: Vec<_> = root
            .descendants()
            .filter(|e| {
                e.tag_name().name() == "NotificationMessage"
                    && e.tag_name().namespace() == Some("http://docs.oasis-open.org/wsn/b-2")
            })
            .collect();
        assert_eq!(messages.len(), 2);
        let first = messages[0];
        let topic = first
            .descendants()
            .find(|e| e.tag_name().name() == "Topic")
            .and_then(|t| t.text());
        assert_eq!(topic, Some("tns1:VideoSource/MotionAlarm"));
        let message = first
            .descendants()
            .find(|e| e.tag_name().name() == "Message" && e.attribute("UtcTime").is_some())
            .expect("tt:Message");
        assert_eq!(
            message.attribute("UtcTime"),
            Some("2025-12-04T00:00:00.250Z")
        );
        assert_eq!(message.attribute("PropertyOperation"), Some("Initialized"));
        assert!(
            first
                .descendants()
                .any(|e| e.attribute("Name") == Some("State")
                    && e.attribute("Value") == Some("true"))
        );
        assert!(
            messages[1]
                .descendants()
                .any(|e| e.attribute("Name") == Some("IsPeople")
                    && e.attribute("Value") == Some("false"))
        );
        assert!(!text.contains("SubscriptionReference"));
    }
}
