//! SOAP 1.2 envelopes with WS-Security, and reading an answer's body or fault.
//!
//! Authentication is the UsernameToken profile with a password digest
//! (`Base64(SHA-1(nonce + created + password))`), which every ONVIF device accepts. `created`
//! must be the device's time, not ours: cameras refuse tokens too far from their clock, and
//! many run with a wrong one. The caller reads the device's clock once
//! ([`crate::device::parse_system_date_and_time`]) and passes an offset-corrected time here.

use crate::OnvifError;
use crate::xml::{self, child, find, text, text_at};
use base64::Engine;
use sha1::{Digest, Sha1};

pub const NS_SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
const NS_WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const NS_WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const PASSWORD_DIGEST: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
const BASE64_BINARY: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

/// Credentials for one request: the nonce is fresh for each, `created` is the device's time as
/// `YYYY-MM-DDTHH:MM:SSZ`.
#[derive(Debug, Clone)]
pub struct UsernameToken<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub nonce: [u8; 16],
    pub created: &'a str,
}

impl UsernameToken<'_> {
    /// `Base64(SHA-1(nonce + created + password))`.
    pub fn digest(&self) -> String {
        let mut h = Sha1::new();
        h.update(self.nonce);
        h.update(self.created.as_bytes());
        h.update(self.password.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(h.finalize())
    }

    fn header(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        format!(
            "<wsse:Security s:mustUnderstand=\"1\" xmlns:wsse=\"{NS_WSSE}\" xmlns:wsu=\"{NS_WSU}\">\
             <wsse:UsernameToken><wsse:Username>{}</wsse:Username>\
             <wsse:Password Type=\"{PASSWORD_DIGEST}\">{}</wsse:Password>\
             <wsse:Nonce EncodingType=\"{BASE64_BINARY}\">{}</wsse:Nonce>\
             <wsu:Created>{}</wsu:Created></wsse:UsernameToken></wsse:Security>",
            xml::escape(self.username),
            self.digest(),
            b64.encode(self.nonce),
            xml::escape(self.created),
        )
    }
}

/// A SOAP 1.2 envelope around `body` (an element with its own namespace declarations).
pub fn envelope(body: &str, token: Option<&UsernameToken<'_>>) -> String {
    let header = token
        .map(|t| format!("<s:Header>{}</s:Header>", t.header()))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <s:Envelope xmlns:s=\"{NS_SOAP}\">{header}<s:Body>{body}</s:Body></s:Envelope>"
    )
}

/// Reads an answer: tolerates prefixes the device forgot to declare, parses it (no DTD, bounded),
/// and hands the first element of its Body to `read`; a fault is the device's refusal, as data.
pub fn read<T>(
    answer: &str,
    read: impl for<'a, 'i> FnOnce(roxmltree::Node<'a, 'i>) -> Result<T, OnvifError>,
) -> Result<T, OnvifError> {
    let answer = crate::xml::declare_unknown_prefixes(answer);
    let doc = crate::xml::parse(&answer)?;
    read(body(&doc)?)
}

/// The first element inside the answer's Body, or the fault the device sent (SOAP 1.2 or 1.1).
pub fn body<'a, 'i>(
    doc: &'a roxmltree::Document<'i>,
) -> Result<roxmltree::Node<'a, 'i>, OnvifError> {
    let env = doc.root_element();
    if env.tag_name().name() != "Envelope" {
        return Err(OnvifError::Missing("SOAP Envelope"));
    }
    let body = child(env, "Body").ok_or(OnvifError::Missing("SOAP Body"))?;
    let first = body
        .children()
        .find(|n| n.is_element())
        .ok_or(OnvifError::Missing("element in the SOAP Body"))?;
    if first.tag_name().name() == "Fault" {
        return Err(fault(first));
    }
    Ok(first)
}

/// Reads a Fault element: the most specific code and the reason text.
fn fault(f: roxmltree::Node<'_, '_>) -> OnvifError {
    // SOAP 1.2: Code/Value and nested Subcode/Value; Reason/Text. SOAP 1.1: faultcode, faultstring.
    let code = f
        .descendants()
        .rfind(|n| n.is_element() && n.tag_name().name() == "Value")
        .map(text)
        .or_else(|| text_at(f, &["faultcode"]))
        .unwrap_or("")
        .to_string();
    let reason = find(f, "Text")
        .map(text)
        .or_else(|| text_at(f, &["faultstring"]))
        .unwrap_or("")
        .to_string();
    OnvifError::Fault {
        code: if code.is_empty() {
            "unknown".into()
        } else {
            code
        },
        reason: if reason.is_empty() {
            "no reason given".into()
        } else {
            reason
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_digest_matches_the_ws_security_profile() {
        // The example of the ONVIF Application Programmer's Guide (section 6.1.1.3).
        let b64 = base64::engine::general_purpose::STANDARD;
        let nonce: [u8; 16] = b64
            .decode("LKqI6G/AikKCQrN0zqZFlg==")
            .unwrap()
            .try_into()
            .unwrap();
        let t = UsernameToken {
            username: "user",
            password: "userpassword",
            nonce,
            created: "2010-09-16T07:50:45Z",
        };
        assert_eq!(t.digest(), "tuOSpGlFlIXsozq4HFNeeGeFLEI=");
        let env = envelope("<x/>", Some(&t));
        let doc = xml::parse(&env).unwrap();
        assert_eq!(
            xml::text(find(doc.root_element(), "Password").unwrap()),
            "tuOSpGlFlIXsozq4HFNeeGeFLEI="
        );
    }

    #[test]
    fn credentials_are_escaped() {
        let t = UsernameToken {
            username: "a<b>&\"",
            password: "p",
            nonce: [0; 16],
            created: "2024-01-01T00:00:00Z",
        };
        let env = envelope("<x/>", Some(&t));
        let doc = xml::parse(&env).unwrap();
        assert_eq!(
            xml::text(find(doc.root_element(), "Username").unwrap()),
            "a<b>&\""
        );
    }

    #[test]
    fn faults_of_both_soap_versions_are_read() {
        let v12 = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error"><env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>"#;
        let doc = xml::parse(v12).unwrap();
        let e = body(&doc).unwrap_err();
        assert_eq!(
            e,
            OnvifError::Fault {
                code: "ter:NotAuthorized".into(),
                reason: "Sender not Authorized".into()
            }
        );
        assert!(e.is_not_authorized());
        let v11 = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>Action not supported</faultstring></s:Fault></s:Body></s:Envelope>"#;
        let doc = xml::parse(v11).unwrap();
        assert_eq!(
            body(&doc).unwrap_err(),
            OnvifError::Fault {
                code: "s:Client".into(),
                reason: "Action not supported".into()
            }
        );
    }

    #[test]
    fn not_an_envelope_is_a_clear_error() {
        let doc = xml::parse("<html><body>login</body></html>").unwrap();
        assert_eq!(
            body(&doc).unwrap_err(),
            OnvifError::Missing("SOAP Envelope")
        );
    }
}
