//! XML in, with limits: answers come from devices on the network, so a DTD (entity bombs,
//! external entities) is refused, and size and node count are bounded. Lookups go by local
//! name: cameras use every namespace prefix imaginable (`tt:`, `trt:`, `ns2:`, none).

use crate::OnvifError;
use roxmltree::{Document, Node, ParsingOptions};

/// The largest answer parsed. A GetProfiles of a busy NVR is tens of KB.
pub const MAX_BYTES: usize = 512 * 1024;
/// The most nodes a document may have.
pub const MAX_NODES: u32 = 50_000;

/// Makes an answer that uses namespace prefixes it never declares (seen from devices that
/// paste prefixed fragments into templates) parseable: each such prefix gets a placeholder
/// declaration on the root element. Lookups go by local name, so nothing else changes.
pub fn declare_unknown_prefixes(text: &str) -> std::borrow::Cow<'_, str> {
    let mut fixed = std::borrow::Cow::Borrowed(text);
    for _ in 0..8 {
        let prefix = match parse(&fixed) {
            Err(OnvifError::Xml(_)) => match unknown_prefix(&fixed) {
                Some(p) => p,
                None => break,
            },
            _ => break,
        };
        let Some(at) = root_name_end(&fixed) else {
            break;
        };
        let mut s = fixed.into_owned();
        s.insert_str(
            at,
            &format!(" xmlns:{prefix}=\"urn:pinhole:undeclared:{prefix}\""),
        );
        fixed = std::borrow::Cow::Owned(s);
    }
    fixed
}

/// The undeclared prefix roxmltree stopped at, if that is why it stopped.
fn unknown_prefix(text: &str) -> Option<String> {
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    match Document::parse_with_options(text, opts) {
        Err(roxmltree::Error::UnknownNamespace(p, _))
            if !p.is_empty()
                && p.len() <= 32
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
        {
            Some(p)
        }
        _ => None,
    }
}

/// Where the root element's name ends in its start tag.
fn root_name_end(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'<' {
            match b.get(i + 1) {
                Some(b'?') | Some(b'!') => {}
                Some(_) => {
                    let name_len = b[i + 1..]
                        .iter()
                        .position(|c| c.is_ascii_whitespace() || *c == b'/' || *c == b'>')?;
                    return Some(i + 1 + name_len);
                }
                None => return None,
            }
        }
        i += 1;
    }
    None
}

/// Parses a device's answer with the limits above.
pub fn parse(text: &str) -> Result<Document<'_>, OnvifError> {
    if text.len() > MAX_BYTES {
        return Err(OnvifError::Xml(format!(
            "{} bytes, more than the {MAX_BYTES} accepted",
            text.len()
        )));
    }
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(text, opts).map_err(|e| OnvifError::Xml(e.to_string()))
}

/// The first child element named `local` (any namespace).
pub fn child<'a, 'i>(node: Node<'a, 'i>, local: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == local)
}

/// Every child element named `local`.
pub fn children<'a, 'i: 'a>(
    node: Node<'a, 'i>,
    local: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    node.children()
        .filter(move |n| n.is_element() && n.tag_name().name() == local)
}

/// The first element named `local` below `node` (depth first).
pub fn find<'a, 'i>(node: Node<'a, 'i>, local: &str) -> Option<Node<'a, 'i>> {
    node.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == local)
}

/// The element at `path` of local names below `node`.
pub fn path<'a, 'i>(node: Node<'a, 'i>, path: &[&str]) -> Option<Node<'a, 'i>> {
    path.iter().try_fold(node, |n, p| child(n, p))
}

/// The trimmed text of an element (empty when it has none).
pub fn text<'a>(node: Node<'a, '_>) -> &'a str {
    node.text().map(str::trim).unwrap_or("")
}

/// The trimmed text at `path` below `node`, if present and not empty.
pub fn text_at<'a>(node: Node<'a, '_>, p: &[&str]) -> Option<&'a str> {
    path(node, p).map(text).filter(|t| !t.is_empty())
}

/// Escapes text for an element's content or an attribute value.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dtd_is_refused_so_entity_bombs_never_expand() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><a>&lol2;</a>"#;
        assert!(matches!(parse(bomb), Err(OnvifError::Xml(_))));
        let external = r#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#;
        assert!(matches!(parse(external), Err(OnvifError::Xml(_))));
    }

    #[test]
    fn too_large_or_too_many_nodes_is_refused() {
        let big = format!("<a>{}</a>", "x".repeat(MAX_BYTES));
        assert!(matches!(parse(&big), Err(OnvifError::Xml(_))));
        let many = format!("<a>{}</a>", "<b/>".repeat(MAX_NODES as usize));
        assert!(matches!(parse(&many), Err(OnvifError::Xml(_))));
    }

    #[test]
    fn undeclared_prefixes_get_a_placeholder_declaration() {
        let sloppy = r#"<?xml version="1.0"?><!-- c --><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><ptz:GetStatusResponse><tptz:X/></ptz:GetStatusResponse></s:Body></s:Envelope>"#;
        assert!(parse(sloppy).is_err());
        let fixed = declare_unknown_prefixes(sloppy);
        let d = parse(&fixed).unwrap();
        assert!(find(d.root_element(), "X").is_some());
        // Well-formed answers are not copied; hopeless ones are left to fail as they are.
        assert!(matches!(
            declare_unknown_prefixes("<a/>"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(declare_unknown_prefixes("<a><b></a>"), "<a><b></a>");
    }

    #[test]
    fn lookups_ignore_prefixes() {
        let d = parse(r#"<x:a xmlns:x="u" xmlns:y="v"><y:b> t </y:b><b>2</b></x:a>"#).unwrap();
        let root = d.root_element();
        assert_eq!(text_at(root, &["b"]), Some("t"));
        assert_eq!(children(root, "b").count(), 2);
        assert_eq!(escape(r#"<a&"'>"#), "&lt;a&amp;&quot;&apos;&gt;");
    }
}
