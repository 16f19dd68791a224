//! WS-Discovery (2005/04, as ONVIF uses it): the Probe Pinhole multicasts to
//! 239.255.255.250:3702 (or sends to one address, for networks that drop multicast), and the
//! ProbeMatches devices answer with.

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
    fn probe_matches() {
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

    #[test]
    fn percent_decoding_never_panics_and_drops_controls() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%0Ax%41%zz"), "xA%zz");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
