//! WS-Discovery (2005/04, as ONVIF uses it): the Probe Pinhole multicasts to
//! 239.255.255.250:3702 (or sends to one address, for networks that drop multicast), and the
//! ProbeMatches devices answer with; and, for Pinhole's own ONVIF face, the other side: a Probe
//! read ([`parse_probe`]), matched against what Pinhole is ([`Advert`]), and the ProbeMatches,
//! Hello and Bye it sends.

use crate::OnvifError;
use crate::xml::{self, child, children, escape, text_at};

pub const MULTICAST_ADDR: &str = "239.255.255.250:3702";
const NS_DISCOVERY: &str = "http://schemas.xmlsoap.org/ws/2005/04/discovery";
const NS_ADDRESSING: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";

/// A Probe for ONVIF video devices; `message_id` is a `urn:uuid:...` the answers relate to.
pub fn probe(message_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <s:Envelope xmlns:s=\"{}\" xmlns:a=\"{NS_ADDRESSING}\" xmlns:d=\"{NS_DISCOVERY}\" xmlns:dn=\"http://www.onvif.org/ver10/network/wsdl\">\
         <s:Header><a:Action s:mustUnderstand=\"1\">{NS_DISCOVERY}/Probe</a:Action>\
         <a:MessageID>{}</a:MessageID>\
         <a:ReplyTo><a:Address>{NS_ADDRESSING}/role/anonymous</a:Address></a:ReplyTo>\
         <a:To s:mustUnderstand=\"1\">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>\
         <s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>",
        crate::soap::NS_SOAP,
        escape(message_id)
    )
}

/// One device that answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeMatch {
    /// The device's stable id (`urn:uuid:...`), to recognise it when its address changes.
    pub endpoint: String,
    /// Device service URLs (`http://.../onvif/device_service`).
    pub xaddrs: Vec<String>,
    pub types: Vec<String>,
    /// From the `onvif://www.onvif.org/name/...` and `.../hardware/...` scopes.
    pub name: Option<String>,
    pub hardware: Option<String>,
}

/// The matches of a ProbeMatches message and the MessageID it answers (`RelatesTo`).
pub fn parse_probe_matches(answer: &str) -> Result<(Option<String>, Vec<ProbeMatch>), OnvifError> {
    let answer = xml::declare_unknown_prefixes(answer);
    let doc = xml::parse(&answer)?;
    let env = doc.root_element();
    if env.tag_name().name() != "Envelope" {
        return Err(OnvifError::Missing("SOAP Envelope"));
    }
    let relates_to = child(env, "Header")
        .and_then(|h| text_at(h, &["RelatesTo"]))
        .map(str::to_string);
    let body = child(env, "Body").ok_or(OnvifError::Missing("SOAP Body"))?;
    // Some devices put their ProbeMatch straight in the Body, without ProbeMatches.
    let matches = child(body, "ProbeMatches").unwrap_or(body);
    if child(matches, "ProbeMatch").is_none() {
        return Err(OnvifError::Missing("ProbeMatches"));
    }
    let mut out = Vec::new();
    for m in children(matches, "ProbeMatch") {
        let words = |name: &str| -> Vec<String> {
            text_at(m, &[name])
                .map(|t| t.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        };
        let xaddrs: Vec<String> = words("XAddrs")
            .into_iter()
            .filter(|a| a.starts_with("http://") || a.starts_with("https://"))
            .collect();
        if xaddrs.is_empty() {
            continue;
        }
        let scopes = words("Scopes");
        let scope = |kind: &str| {
            let prefix = format!("onvif://www.onvif.org/{kind}/");
            scopes
                .iter()
                .find_map(|s| s.strip_prefix(&prefix))
                .map(percent_decode)
        };
        out.push(ProbeMatch {
            endpoint: text_at(m, &["EndpointReference", "Address"])
                .unwrap_or("")
                .to_string(),
            xaddrs,
            types: words("Types"),
            name: scope("name"),
            hardware: scope("hardware"),
        });
    }
    Ok((relates_to, out))
}

/// A Probe someone sent: what kinds of device and which scopes they look for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeIn {
    pub message_id: String,
    /// Requested types as (namespace if the prefix resolves, local name).
    pub types: Vec<(Option<String>, String)>,
    pub scopes: Vec<String>,
    /// The scope matching rule (`MatchBy`); `None` is RFC 3986 prefix matching.
    pub match_by: Option<String>,
}

/// The most types or scopes read from one Probe.
const MAX_PROBE_ITEMS: usize = 32;

/// Reads a datagram that arrived on the discovery port: `Ok(None)` when it is some other
/// WS-Discovery message (a Hello, a Bye, another device's ProbeMatches).
pub fn parse_probe(datagram: &str) -> Result<Option<ProbeIn>, OnvifError> {
    let doc = xml::parse(datagram)?;
    let env = doc.root_element();
    if env.tag_name().name() != "Envelope" {
        return Err(OnvifError::Missing("SOAP Envelope"));
    }
    let body = child(env, "Body").ok_or(OnvifError::Missing("SOAP Body"))?;
    let Some(probe) = child(body, "Probe") else {
        return Ok(None);
    };
    let message_id = child(env, "Header")
        .and_then(|h| text_at(h, &["MessageID"]))
        .ok_or(OnvifError::Missing("MessageID"))?;
    if message_id.len() > 256 || message_id.chars().any(char::is_control) {
        return Err(OnvifError::Invalid {
            field: "MessageID",
            value: message_id.chars().take(40).collect(),
        });
    }
    let types_node = child(probe, "Types");
    let types = types_node
        .map(|n| {
            xml::text(n)
                .split_whitespace()
                .take(MAX_PROBE_ITEMS)
                .map(|q| match q.split_once(':') {
                    Some((prefix, local)) => (
                        n.lookup_namespace_uri(Some(prefix)).map(str::to_string),
                        local.to_string(),
                    ),
                    None => (
                        n.lookup_namespace_uri(None).map(str::to_string),
                        q.to_string(),
                    ),
                })
                .collect()
        })
        .unwrap_or_default();
    let scopes_node = child(probe, "Scopes");
    let scopes = scopes_node
        .map(|n| {
            xml::text(n)
                .split_whitespace()
                .take(MAX_PROBE_ITEMS)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(ProbeIn {
        message_id: message_id.to_string(),
        types,
        scopes,
        match_by: scopes_node
            .and_then(|n| n.attribute("MatchBy"))
            .map(|m| m.trim().to_string()),
    }))
}

/// What Pinhole announces itself as.
#[derive(Debug, Clone)]
pub struct Advert {
    /// Its stable endpoint id, `urn:uuid:...`.
    pub endpoint: String,
    pub scopes: Vec<String>,
    /// The device service URL(s), space separated.
    pub xaddrs: String,
    /// Raised when the scopes or addresses change, so clients refresh what they cached.
    pub metadata_version: u32,
}

const NS_ONVIF_NETWORK: &str = "http://www.onvif.org/ver10/network/wsdl";
const NS_ONVIF_DEVICE: &str = "http://www.onvif.org/ver10/device/wsdl";
/// Pinhole's types: a network video transmitter, and an ONVIF device.
const TYPES: [(&str, &str); 2] = [
    (NS_ONVIF_NETWORK, "NetworkVideoTransmitter"),
    (NS_ONVIF_DEVICE, "Device"),
];

/// RFC 3986 scope matching as WS-Discovery defines it: same scheme and authority
/// (case-insensitive), and the probe's path segments a prefix of ours.
fn scope_matches(wanted: &str, ours: &str) -> bool {
    let split = |s: &str| -> Option<(String, Vec<String>)> {
        let (scheme, rest) = s.split_once("://")?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        Some((
            format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                authority.to_ascii_lowercase()
            ),
            path.split('/')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
        ))
    };
    match (split(wanted), split(ours)) {
        (Some((a, wp)), Some((b, op))) => a == b && wp.len() <= op.len() && op.starts_with(&wp),
        _ => false,
    }
}

impl ProbeIn {
    /// Whether Pinhole should answer: every requested type is one of ours, and every requested
    /// scope matches one of ours by the rule asked for (an unknown rule matches nothing).
    pub fn matches(&self, ad: &Advert) -> bool {
        let types_ok = self.types.iter().all(|(ns, local)| {
            TYPES
                .iter()
                .any(|(tns, tl)| tl == local && ns.as_deref().is_none_or(|n| n == *tns))
        });
        let rule = self.match_by.as_deref().unwrap_or("");
        let scopes_ok = self.scopes.iter().all(|w| {
            ad.scopes.iter().any(|o| match rule {
                "" | "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986" => {
                    scope_matches(w, o)
                }
                "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0" => w == o,
                _ => false,
            })
        });
        types_ok && scopes_ok
    }
}

fn announcement(
    action: &str,
    message_id: &str,
    relates_to: Option<&str>,
    to: &str,
    body: &str,
) -> String {
    let relates = relates_to
        .map(|r| format!("<a:RelatesTo>{}</a:RelatesTo>", escape(r)))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <s:Envelope xmlns:s=\"{}\" xmlns:a=\"{NS_ADDRESSING}\" xmlns:d=\"{NS_DISCOVERY}\" \
         xmlns:dn=\"{NS_ONVIF_NETWORK}\" xmlns:tds=\"{NS_ONVIF_DEVICE}\">\
         <s:Header><a:MessageID>{}</a:MessageID>{relates}<a:To>{to}</a:To>\
         <a:Action>{NS_DISCOVERY}/{action}</a:Action>\
         <d:AppSequence InstanceId=\"1\" MessageNumber=\"1\"/></s:Header>\
         <s:Body>{body}</s:Body></s:Envelope>",
        crate::soap::NS_SOAP,
        escape(message_id),
    )
}

fn match_fields(ad: &Advert, with_addresses: bool) -> String {
    let scopes: Vec<String> = ad.scopes.iter().map(|s| escape(s)).collect();
    let addresses = if with_addresses {
        format!(
            "<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types><d:Scopes>{}</d:Scopes>\
             <d:XAddrs>{}</d:XAddrs>",
            scopes.join(" "),
            escape(&ad.xaddrs)
        )
    } else {
        String::new()
    };
    format!(
        "<a:EndpointReference><a:Address>{}</a:Address></a:EndpointReference>{addresses}\
         <d:MetadataVersion>{}</d:MetadataVersion>",
        escape(&ad.endpoint),
        ad.metadata_version
    )
}

const TO_ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";
const TO_DISCOVERY: &str = "urn:schemas-xmlsoap-org:ws:2005:04:discovery";

/// The answer to a Probe that [`ProbeIn::matches`], sent back to its sender.
pub fn probe_matches(probe: &ProbeIn, message_id: &str, ad: &Advert) -> String {
    announcement(
        "ProbeMatches",
        message_id,
        Some(&probe.message_id),
        TO_ANONYMOUS,
        &format!(
            "<d:ProbeMatches><d:ProbeMatch>{}</d:ProbeMatch></d:ProbeMatches>",
            match_fields(ad, true)
        ),
    )
}

/// Multicast when Pinhole's face comes up.
pub fn hello(message_id: &str, ad: &Advert) -> String {
    announcement(
        "Hello",
        message_id,
        None,
        TO_DISCOVERY,
        &format!("<d:Hello>{}</d:Hello>", match_fields(ad, true)),
    )
}

/// Multicast when it goes down.
pub fn bye(message_id: &str, ad: &Advert) -> String {
    announcement(
        "Bye",
        message_id,
        None,
        TO_DISCOVERY,
        &format!("<d:Bye>{}</d:Bye>", match_fields(ad, false)),
    )
}

/// Scopes are URIs: `%20` and friends in names; control characters are dropped.
fn percent_decode(s: &str) -> String {
    pinhole_base::camera::percent_decode(s)
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_is_well_formed_and_names_onvif_devices() {
        let p = probe("urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427");
        let doc = xml::parse(&p).unwrap();
        assert_eq!(
            xml::text(xml::find(doc.root_element(), "Types").unwrap()),
            "dn:NetworkVideoTransmitter"
        );
    }

    #[test]
    fn probe_matches_are_read() {
        let a = r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
<SOAP-ENV:Header><wsa:MessageID>urn:uuid:aaaa</wsa:MessageID><wsa:RelatesTo>urn:uuid:1b4e</wsa:RelatesTo><wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To><wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action></SOAP-ENV:Header>
<SOAP-ENV:Body><d:ProbeMatches>
<d:ProbeMatch><wsa:EndpointReference><wsa:Address>urn:uuid:cam-1</wsa:Address></wsa:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>
<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/Front%20Door onvif://www.onvif.org/hardware/DS-2CD2143</d:Scopes>
<d:XAddrs>http://192.168.1.64/onvif/device_service http://[fe80::1]/onvif/device_service</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch>
<d:ProbeMatch><wsa:EndpointReference><wsa:Address>urn:uuid:bad</wsa:Address></wsa:EndpointReference><d:XAddrs>file:///etc/passwd</d:XAddrs></d:ProbeMatch>
</d:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
        let (relates, m) = parse_probe_matches(a).unwrap();
        assert_eq!(relates.as_deref(), Some("urn:uuid:1b4e"));
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].endpoint, "urn:uuid:cam-1");
        assert_eq!(m[0].xaddrs[0], "http://192.168.1.64/onvif/device_service");
        assert_eq!(m[0].name.as_deref(), Some("Front Door"));
        assert_eq!(m[0].hardware.as_deref(), Some("DS-2CD2143"));
    }

    #[test]
    fn a_probe_match_without_its_probe_matches_wrapper_is_read() {
        let a = r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><soap:Header><wsa:RelatesTo>uuid:f9b0</wsa:RelatesTo></soap:Header><soap:Body><d:ProbeMatch><d:EndpointReference><wsa:Address>urn:uuid:bfc0</wsa:Address></d:EndpointReference><d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types><d:XAddrs>http://127.0.0.1:18080/onvif/device_service</d:XAddrs></d:ProbeMatch></soap:Body></soap:Envelope>"#;
        let (relates, m) = parse_probe_matches(a).unwrap();
        assert_eq!(relates.as_deref(), Some("uuid:f9b0"));
        assert_eq!(m[0].endpoint, "urn:uuid:bfc0");
        let none = a.replace("d:ProbeMatch>", "d:Hello>");
        assert_eq!(
            parse_probe_matches(&none).unwrap_err(),
            OnvifError::Missing("ProbeMatches")
        );
    }

    fn advert() -> Advert {
        Advert {
            endpoint: "urn:uuid:5f0c7a4e-0000-4000-8000-000000000001".into(),
            scopes: vec![
                "onvif://www.onvif.org/type/video_encoder".into(),
                "onvif://www.onvif.org/Profile/Streaming".into(),
                "onvif://www.onvif.org/name/Porch%20Pi".into(),
            ],
            xaddrs: "http://10.0.0.2:8002/onvif/device_service".into(),
            metadata_version: 1,
        }
    }

    #[test]
    fn our_probe_is_read_back_and_matched() {
        let p = parse_probe(&probe("urn:uuid:1")).unwrap().unwrap();
        assert_eq!(p.message_id, "urn:uuid:1");
        assert_eq!(
            p.types,
            vec![(
                Some(NS_ONVIF_NETWORK.to_string()),
                "NetworkVideoTransmitter".to_string()
            )]
        );
        assert!(p.matches(&advert()));
        // The answer is what our own client reads.
        let a = probe_matches(&p, "urn:uuid:2", &advert());
        let (relates, m) = parse_probe_matches(&a).unwrap();
        assert_eq!(relates.as_deref(), Some("urn:uuid:1"));
        assert_eq!(
            m[0].xaddrs,
            vec!["http://10.0.0.2:8002/onvif/device_service"]
        );
        assert_eq!(m[0].name.as_deref(), Some("Porch Pi"));
    }

    #[test]
    fn probes_for_other_types_or_scopes_are_not_answered() {
        let base = probe("urn:uuid:1");
        let printer = base.replace(
            "<d:Types>dn:NetworkVideoTransmitter</d:Types>",
            "<d:Types xmlns:p=\"http://printers\">p:Printer</d:Types>",
        );
        assert!(!parse_probe(&printer).unwrap().unwrap().matches(&advert()));
        // A type of the right name in a foreign namespace is not ours either.
        let foreign = base.replace(
            "xmlns:dn=\"http://www.onvif.org/ver10/network/wsdl\"",
            "xmlns:dn=\"urn:other\"",
        );
        assert!(!parse_probe(&foreign).unwrap().unwrap().matches(&advert()));
        // No Types at all: any device.
        let any = base.replace("<d:Types>dn:NetworkVideoTransmitter</d:Types>", "");
        assert!(parse_probe(&any).unwrap().unwrap().matches(&advert()));
        let scoped = |scopes: &str, rule: &str| {
            let b = base.replace(
                "</d:Probe>",
                &format!("<d:Scopes{rule}>{scopes}</d:Scopes></d:Probe>"),
            );
            parse_probe(&b).unwrap().unwrap().matches(&advert())
        };
        assert!(scoped("onvif://www.onvif.org/Profile", ""));
        assert!(scoped("ONVIF://www.onvif.org/name/Porch%20Pi", ""));
        assert!(!scoped("onvif://www.onvif.org/Prof", ""));
        assert!(!scoped("onvif://www.onvif.org/Profile/G", ""));
        let strcmp = " MatchBy=\"http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0\"";
        assert!(!scoped("onvif://www.onvif.org/Profile", strcmp));
        assert!(scoped("onvif://www.onvif.org/Profile/Streaming", strcmp));
        assert!(!scoped(
            "onvif://www.onvif.org/Profile",
            " MatchBy=\"urn:unknown\""
        ));
    }

    #[test]
    fn other_messages_on_the_port_are_ignored_and_junk_is_an_error() {
        let hello = hello("urn:uuid:3", &advert());
        assert_eq!(parse_probe(&hello).unwrap(), None);
        assert!(
            parse_probe(&bye("urn:uuid:4", &advert()))
                .unwrap()
                .is_none()
        );
        assert!(parse_probe("not xml").is_err());
        let no_id = probe("x").replace("<a:MessageID>x</a:MessageID>", "");
        assert_eq!(
            parse_probe(&no_id).unwrap_err(),
            OnvifError::Missing("MessageID")
        );
    }

    #[test]
    fn percent_decoding_never_panics_and_drops_controls() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%0Ax%41%zz"), "xA%zz");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
