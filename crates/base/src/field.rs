//! What is wrong with which input, as data.
//!
//! Validation everywhere returns [`FieldErrors`]; the API puts them in its error body's
//! `fields` map (REST) or `data.fields` (JSON-RPC), the config loader prefixes them with the
//! key path (`cameras[1].fps`), and nothing ever parses them back out of a message.

use serde::Serialize;
use std::fmt;

/// One invalid input: the field (a dotted path such as `ptz.addr`) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

/// Every problem found in one input, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// One problem.
    pub fn single(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let mut e = Self::new();
        e.push(field, reason);
        e
    }

    pub fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            reason: reason.into(),
        });
    }

    /// Appends `other`'s problems with `prefix` before each field (`cameras[0].` + `fps`).
    pub fn extend_prefixed(&mut self, prefix: &str, other: FieldErrors) {
        for e in other.0 {
            self.push(format!("{prefix}{}", e.field), e.reason);
        }
    }

    pub fn extend(&mut self, other: FieldErrors) {
        self.0.extend(other.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        self.0.iter()
    }

    /// The reason given for `field`, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.reason.as_str())
    }

    /// `Ok(value)` when there is no problem.
    pub fn into_result<T>(self, value: T) -> Result<T, FieldErrors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl IntoIterator for FieldErrors {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.reason)?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_reads_back() {
        let mut inner = FieldErrors::single("fps", "0 is outside 1..=120");
        inner.push("url", "bad");
        let mut all = FieldErrors::new();
        all.extend_prefixed("cameras[2].", inner);
        assert_eq!(all.len(), 2);
        assert_eq!(all.get("cameras[2].fps"), Some("0 is outside 1..=120"));
        assert_eq!(
            all.to_string(),
            "cameras[2].fps: 0 is outside 1..=120; cameras[2].url: bad"
        );
        assert!(FieldErrors::new().into_result(()).is_ok());
    }
}
