//! HTTP authentication as pure code: the auth-params of `Authorization` and `WWW-Authenticate`
//! headers (RFC 7235), and the client side of HTTP Digest (RFC 7616), which many IP cameras ask
//! for on their ONVIF services and snapshot URIs (Hikvision and Dahua firmware by default).
//!
//! Why here: the RTSP server reads Digest credentials and the ONVIF client answers Digest
//! challenges; both read the same parameter syntax from outside input (fuzzed).

use md5::Md5;
use sha2::Sha256;
use std::collections::HashMap;

/// `k=v, k="quoted, with \"escapes\""` into a map (keys lower-cased).
pub fn params(s: &str) -> Result<HashMap<String, String>, &'static str> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_whitespace() || *c == ',')
        {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
            if key.len() > 64 {
                return Err("parameter name too long");
            }
        }
        if chars.next() != Some('=') {
            return Err("parameter without `=`");
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => val.push(chars.next().ok_or("escape at the end")?),
                    Some(c) => val.push(c),
                    None => return Err("unterminated quoted value"),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        if val.len() > 4096 {
            return Err("parameter value too long");
        }
        out.insert(key.trim().to_ascii_lowercase(), val.trim().to_string());
    }
}

/// The hash of a Digest challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl DigestAlgorithm {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "MD5" => Some(Self::Md5),
            "MD5-SESS" => Some(Self::Md5Sess),
            "SHA-256" => Some(Self::Sha256),
            "SHA-256-SESS" => Some(Self::Sha256Sess),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    fn sess(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }

    /// Lower-case hex of the hash of `parts` joined by `:` (HA1, HA2 and responses).
    pub fn hash(self, parts: &[&str]) -> String {
        fn run<H: md5::Digest>(parts: &[&str]) -> String {
            let mut h = H::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    h.update(b":");
                }
                h.update(p.as_bytes());
            }
            crate::hex(&h.finalize())
        }
        match self {
            Self::Md5 | Self::Md5Sess => run::<Md5>(parts),
            Self::Sha256 | Self::Sha256Sess => run::<Sha256>(parts),
        }
    }
}

/// Why a `WWW-Authenticate` value cannot be answered with Digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    #[error("not a Digest challenge")]
    NotDigest,
    #[error("malformed Digest challenge: {0}")]
    Malformed(&'static str),
    #[error("the Digest challenge asks for algorithm `{0}` (Pinhole answers MD5 and SHA-256)")]
    Algorithm(String),
    #[error("the Digest challenge offers only qop `{0}` (Pinhole answers `auth`)")]
    Qop(String),
}

/// A server's Digest challenge, as read from one `WWW-Authenticate` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: DigestAlgorithm,
    /// `qop=auth` offered (else the RFC 2069 response without it).
    pub qop_auth: bool,
    /// The server says the nonce expired, not the password was wrong.
    pub stale: bool,
}

impl DigestChallenge {
    /// Reads one `Digest ...` challenge.
    pub fn parse(value: &str) -> Result<Self, ChallengeError> {
        let value = value.trim();
        let (scheme, rest) = value
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("digest") {
            return Err(ChallengeError::NotDigest);
        }
        let mut m = params(rest).map_err(ChallengeError::Malformed)?;
        let realm = m
            .remove("realm")
            .ok_or(ChallengeError::Malformed("no realm"))?;
        let nonce = m
            .remove("nonce")
            .ok_or(ChallengeError::Malformed("no nonce"))?;
        let algorithm = match m.remove("algorithm") {
            None => DigestAlgorithm::Md5,
            Some(a) => DigestAlgorithm::parse(&a)
                .ok_or_else(|| ChallengeError::Algorithm(a.chars().take(32).collect()))?,
        };
        let qop_auth = match m.remove("qop") {
            None => false,
            Some(q) if q.split(',').any(|o| o.trim().eq_ignore_ascii_case("auth")) => true,
            Some(q) => return Err(ChallengeError::Qop(q.chars().take(32).collect())),
        };
        let stale = m
            .remove("stale")
            .is_some_and(|s| s.eq_ignore_ascii_case("true"));
        Ok(Self {
            realm,
            nonce,
            opaque: m.remove("opaque"),
            algorithm,
            qop_auth,
            stale,
        })
    }

    /// The strongest Digest challenge among a response's `WWW-Authenticate` values (SHA-256
    /// before MD5), or why none can be answered.
    pub fn pick<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Self, ChallengeError> {
        let mut best: Option<Self> = None;
        let mut why = ChallengeError::NotDigest;
        for v in values {
            match Self::parse(v) {
                Ok(c) if best.as_ref().is_none_or(|b| c.algorithm > b.algorithm) => best = Some(c),
                Ok(_) | Err(ChallengeError::NotDigest) => {}
                Err(e) => why = e,
            }
        }
        best.ok_or(why)
    }

    /// The `Authorization` value for request `method` of `uri` (path and query), the `nc`-th
    /// use of this nonce, with the client's random `cnonce`.
    pub fn authorization(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> String {
        let alg = self.algorithm;
        let mut ha1 = alg.hash(&[username, &self.realm, password]);
        if alg.sess() {
            ha1 = alg.hash(&[&ha1, &self.nonce, cnonce]);
        }
        let ha2 = alg.hash(&[method, uri]);
        let nc = format!("{nc:08x}");
        let response = if self.qop_auth {
            alg.hash(&[&ha1, &self.nonce, &nc, cnonce, "auth", &ha2])
        } else {
            alg.hash(&[&ha1, &self.nonce, &ha2])
        };
        let q = quoted;
        let mut out = format!(
            "Digest username={}, realm={}, nonce={}, uri={}, algorithm={}, response={}",
            q(username),
            q(&self.realm),
            q(&self.nonce),
            q(uri),
            alg.as_str(),
            q(&response)
        );
        if self.qop_auth {
            out.push_str(&format!(", qop=auth, nc={nc}, cnonce={}", q(cnonce)));
        }
        if let Some(o) = &self.opaque {
            out.push_str(&format!(", opaque={}", q(o)));
        }
        out
    }
}

/// A quoted-string with `"` and `\` escaped.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 §3.9.1: the same request answered with SHA-256 and with MD5.
    const CHALLENGE: &str = r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=ALG, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
    const CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    fn rfc_answer(alg: &str) -> String {
        let c = DigestChallenge::parse(&CHALLENGE.replace("ALG", alg)).expect("challenge");
        assert!(c.qop_auth);
        let a = c.authorization(
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            CNONCE,
            1,
        );
        params(a.trim_start_matches("Digest ")).expect("params")["response"].clone()
    }

    #[test]
    fn rfc7616_vectors() {
        assert_eq!(rfc_answer("MD5"), "8ca523f5e9506fed4657c9700eebdbec");
        assert_eq!(
            rfc_answer("SHA-256"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn rfc2617_with_and_without_qop() {
        const C: &str = r#"Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        // RFC 2617 §3.5's example.
        let c = DigestChallenge::parse(&format!(r#"{C}, qop="auth,auth-int""#)).expect("challenge");
        let a = c.authorization(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
            1,
        );
        let p = params(a.trim_start_matches("Digest ")).expect("params");
        assert_eq!(p["response"], "6629fae49393a05397450978507c4ef1");
        assert_eq!((p["qop"].as_str(), p["nc"].as_str()), ("auth", "00000001"));
        // The same request answered the RFC 2069 way, as old cameras ask (the value from
        // Python's hashlib).
        let c = DigestChallenge::parse(C).expect("challenge");
        let a = c.authorization("Mufasa", "Circle Of Life", "GET", "/dir/index.html", "x", 1);
        let p = params(a.trim_start_matches("Digest ")).expect("params");
        assert_eq!(p["response"], "670fd8c2df070c60b045671b8b24ff02");
        assert_eq!(p["opaque"], "5ccc069c403ebaf9f0171e9517f40e41");
        assert!(!p.contains_key("qop") && !p.contains_key("nc"));
    }

    #[test]
    fn picks_the_strongest_and_explains_refusals() {
        let md5 = r#"Digest realm="r", nonce="n1", qop="auth""#;
        let sha = r#"Digest realm="r", nonce="n2", qop="auth", algorithm=SHA-256"#;
        let basic = r#"Basic realm="r""#;
        let c = DigestChallenge::pick([basic, md5, sha]).expect("a challenge");
        assert_eq!(
            (c.algorithm, c.nonce.as_str()),
            (DigestAlgorithm::Sha256, "n2")
        );
        assert_eq!(
            DigestChallenge::pick([basic]),
            Err(ChallengeError::NotDigest)
        );
        assert!(matches!(
            DigestChallenge::pick([r#"Digest realm="r", nonce="n", algorithm=SHA-512-256"#]),
            Err(ChallengeError::Algorithm(a)) if a == "SHA-512-256"
        ));
        assert!(matches!(
            DigestChallenge::parse(r#"Digest realm="r", nonce="n", qop="auth-int""#),
            Err(ChallengeError::Qop(_))
        ));
        assert!(matches!(
            DigestChallenge::parse(r#"Digest realm="r""#),
            Err(ChallengeError::Malformed("no nonce"))
        ));
        assert!(
            DigestChallenge::parse(r#"Digest realm="r", nonce="n", stale=TRUE"#)
                .expect("stale")
                .stale
        );
    }

    #[test]
    fn quotes_are_escaped_in_the_answer() {
        let c = DigestChallenge::parse(r#"Digest realm="a \"b\"", nonce="n""#).expect("challenge");
        assert_eq!(c.realm, r#"a "b""#);
        let a = c.authorization(r#"we"ird\"#, "p", "POST", "/onvif/device_service", "c", 2);
        let p = params(a.trim_start_matches("Digest ")).expect("params");
        assert_eq!(p["username"], r#"we"ird\"#);
        assert_eq!(p["realm"], r#"a "b""#);
    }

    proptest::proptest! {
        #[test]
        fn any_header_is_read_or_refused(s in ".{0,300}") {
            let _ = DigestChallenge::parse(&s);
            let _ = params(&s);
        }
    }
}
