//! JSON-RPC 2.0 envelopes, exactly as the specification's sections 4-7 describe them: pure
//! functions from text to requests and from outcomes to responses, with no I/O, so they are unit
//! tested against the specification's own examples and fuzzed.
//!
//! Rules honoured: `"jsonrpc": "2.0"` is required; `method` must be a string; `params`, when
//! present, must be an array or object; `id` may be a string, a number or null and is echoed as
//! given; a request without an `id` member is a notification and never gets a response (not even
//! an error); an empty batch is one Invalid Request error; a batch answers each element, and a
//! batch of only notifications gets no reply at all; every response has exactly one of
//! `result`/`error`.

use serde::Serialize;
use serde_json::{Map, Value, json};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// The most requests one batch may hold: a larger batch is refused whole, so one small message
/// cannot ask for an unbounded reply (10 000 tiny requests would answer megabytes).
pub const MAX_BATCH: usize = 50;
pub const AUTH_FAILED: i64 = -32001;
pub const PERMISSION_DENIED: i64 = -32002;
pub const NOT_FOUND: i64 = -32010;
pub const INVALID_STATE: i64 = -32020;
pub const UNSUPPORTED: i64 = -32030;
pub const RATE_LIMITED: i64 = -32040;
pub const DEPENDENCY_FAILED: i64 = -32050;

/// A JSON-RPC error object. `data` carries `{reason, details, suggestion}` as the camera service
/// does, so a client can show what went wrong and what to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// The standard message for `code`, with `reason`/`details`/`suggestion` data.
    pub fn new(code: i64, reason: &str, details: impl Into<String>, suggestion: &str) -> Self {
        let mut data = Map::new();
        data.insert("reason".into(), Value::String(reason.into()));
        let details = details.into();
        if !details.is_empty() {
            data.insert("details".into(), Value::String(details));
        }
        if !suggestion.is_empty() {
            data.insert("suggestion".into(), Value::String(suggestion.into()));
        }
        RpcError {
            code,
            message: standard_message(code).into(),
            data: Some(Value::Object(data)),
        }
    }

    pub fn with_data(mut self, key: &str, value: Value) -> Self {
        if let Some(Value::Object(m)) = &mut self.data {
            m.insert(key.into(), value);
        }
        self
    }

    pub fn parse_error(details: impl Into<String>) -> Self {
        Self::new(PARSE_ERROR, "parse_error", details, "Send valid JSON text")
    }

    pub fn invalid_request(details: impl Into<String>) -> Self {
        Self::new(
            INVALID_REQUEST,
            "invalid_request",
            details,
            "Send an object with \"jsonrpc\": \"2.0\", a string \"method\", optional \"params\" and \"id\"",
        )
    }

    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            METHOD_NOT_FOUND,
            "method_not_found",
            method,
            "Check the method name",
        )
    }

    pub fn invalid_params(details: impl Into<String>) -> Self {
        Self::new(
            INVALID_PARAMS,
            "invalid_params",
            details,
            "Check the method's parameters",
        )
    }

    pub fn internal(details: impl Into<String>) -> Self {
        Self::new(
            INTERNAL_ERROR,
            "internal_error",
            details,
            "Retry; see the appliance log if it persists",
        )
    }
}

/// The camera service's message for each code.
pub fn standard_message(code: i64) -> &'static str {
    match code {
        PARSE_ERROR => "Parse error",
        INVALID_REQUEST => "Invalid Request",
        METHOD_NOT_FOUND => "Method not found",
        INVALID_PARAMS => "Invalid params",
        INTERNAL_ERROR => "Internal error",
        AUTH_FAILED => "Authentication failed or token expired",
        PERMISSION_DENIED => "Permission denied",
        NOT_FOUND => "Not found",
        INVALID_STATE => "Invalid state",
        UNSUPPORTED => "Unsupported",
        RATE_LIMITED => "Rate limited",
        DEPENDENCY_FAILED => "Dependency failed",
        _ => "Server error",
    }
}

/// A well-formed request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `None` for a notification; `Some(Value::Null)` for an explicit null id.
    pub id: Option<Value>,
    pub method: String,
    pub params: Option<Value>,
}

impl Request {
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }
}

/// What a message turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Single(Value),
    Batch(Vec<Value>),
}

/// Parses message text. `Err` carries the complete Parse error response.
pub fn parse(text: &str) -> Result<Incoming, Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => Ok(Incoming::Batch(items)),
        Ok(v) => Ok(Incoming::Single(v)),
        Err(e) => Err(error_response(
            Value::Null,
            &RpcError::parse_error(format!("{e}")),
        )),
    }
}

/// Checks one request object. `Err` carries the id to answer with (echoed when it is a valid id,
/// else null) and the Invalid Request error.
pub fn validate(v: Value) -> Result<Request, (Value, RpcError)> {
    let Value::Object(mut obj) = v else {
        return Err((
            Value::Null,
            RpcError::invalid_request("a request must be a JSON object"),
        ));
    };
    let id = obj.remove("id");
    let echo = match &id {
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Null)) => v.clone(),
        _ => Value::Null,
    };
    if let Some(bad) = &id
        && !matches!(bad, Value::String(_) | Value::Number(_) | Value::Null)
    {
        return Err((
            Value::Null,
            RpcError::invalid_request("\"id\" must be a string, a number or null"),
        ));
    }
    match obj.remove("jsonrpc") {
        Some(Value::String(s)) if s == "2.0" => {}
        _ => {
            return Err((
                echo,
                RpcError::invalid_request("\"jsonrpc\" must be exactly \"2.0\""),
            ));
        }
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        _ => {
            return Err((
                echo,
                RpcError::invalid_request("\"method\" must be a string"),
            ));
        }
    };
    let params = match obj.remove("params") {
        None => None,
        Some(p @ (Value::Object(_) | Value::Array(_))) => Some(p),
        Some(_) => {
            return Err((
                echo,
                RpcError::invalid_request("\"params\" must be an object or an array"),
            ));
        }
    };
    Ok(Request { id, method, params })
}

pub fn result_response(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "result": result, "id": id})
}

pub fn error_response(id: Value, error: &RpcError) -> Value {
    json!({"jsonrpc": "2.0", "error": error, "id": id})
}

pub fn notification(method: &str, params: &Value) -> Value {
    json!({"jsonrpc": "2.0", "method": method, "params": params})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_has_null_id() {
        let e = parse(r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#)
            .expect_err("invalid json");
        assert_eq!(e["error"]["code"], json!(-32700));
        assert_eq!(e["id"], Value::Null);
        assert!(e.get("result").is_none());
    }

    #[test]
    fn spec_invalid_requests() {
        // {"jsonrpc": "2.0", "method": 1, "params": "bar"}
        let (id, e) =
            validate(json!({"jsonrpc": "2.0", "method": 1, "params": "bar"})).expect_err("bad");
        assert_eq!((id, e.code), (Value::Null, -32600));
        let (id, e) = validate(json!(1)).expect_err("bad");
        assert_eq!((id, e.code), (Value::Null, -32600));
        let (id, e) =
            validate(json!({"jsonrpc": "1.0", "method": "ping", "id": 7})).expect_err("bad");
        assert_eq!((id, e.code), (json!(7), -32600));
        let (_, e) =
            validate(json!({"jsonrpc": "2.0", "method": "ping", "id": [1]})).expect_err("bad");
        assert_eq!(e.code, -32600);
    }

    #[test]
    fn ids_and_notifications() {
        let r =
            validate(json!({"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}))
                .expect("ok");
        assert_eq!(r.id, Some(json!(1)));
        let r =
            validate(json!({"jsonrpc": "2.0", "method": "update", "params": [1, 2]})).expect("ok");
        assert!(r.is_notification());
        let r = validate(json!({"jsonrpc": "2.0", "method": "x", "id": null})).expect("ok");
        assert_eq!(r.id, Some(Value::Null));
        assert!(!r.is_notification());
        let r = validate(json!({"jsonrpc": "2.0", "method": "x", "id": "abc"})).expect("ok");
        assert_eq!(r.id, Some(json!("abc")));
    }

    #[test]
    fn batches_are_recognised() {
        assert_eq!(parse("[]").expect("ok"), Incoming::Batch(vec![]));
        assert!(matches!(parse("[1,2,3]").expect("ok"), Incoming::Batch(v) if v.len() == 3));
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            prop_oneof![Just("2.0".to_string()), Just("ping".to_string()), ".{0,8}"]
                .prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("jsonrpc".to_string()),
                        Just("method".to_string()),
                        Just("params".to_string()),
                        Just("id".to_string()),
                        "[a-z]{1,3}"
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Whatever arrives, validation either yields a well-formed request or an Invalid Request
        /// whose id is a legal id; it never panics.
        #[test]
        fn validate_is_total(v in arb_json()) {
            match validate(v.clone()) {
                Ok(r) => {
                    proptest::prop_assert_eq!(&v["jsonrpc"], &json!("2.0"));
                    proptest::prop_assert!(v["method"].is_string());
                    proptest::prop_assert!(r.params.as_ref().is_none_or(|p| p.is_object() || p.is_array()));
                    proptest::prop_assert_eq!(r.id.is_none(), v.get("id").is_none());
                }
                Err((id, e)) => {
                    proptest::prop_assert_eq!(e.code, INVALID_REQUEST);
                    proptest::prop_assert!(id.is_null() || id.is_string() || id.is_number());
                }
            }
        }

        /// Arbitrary text either parses or yields a complete Parse error response.
        #[test]
        fn parse_is_total(text in ".{0,64}") {
            if let Err(resp) = parse(&text) {
                proptest::prop_assert_eq!(&resp["error"]["code"], &json!(PARSE_ERROR));
                proptest::prop_assert!(resp["id"].is_null());
            }
        }
    }

    #[test]
    fn responses_have_exactly_one_of_result_error() {
        let ok = result_response(json!(1), json!("pong"));
        assert!(ok.get("result").is_some() && ok.get("error").is_none());
        let err = error_response(json!(1), &RpcError::method_not_found("x"));
        assert!(err.get("result").is_none() && err.get("error").is_some());
        assert_eq!(err["error"]["message"], json!("Method not found"));
        assert_eq!(err["error"]["data"]["details"], json!("x"));
    }
}
