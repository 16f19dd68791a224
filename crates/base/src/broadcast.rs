//! Going out: destinations (live platforms' ingest URLs), streams (a camera sent to destinations
//! at a chosen size, rate and bitrate, with overlays) and overlays (text, clock, PNG image).
//!
//! Each is a spec the API replaces whole (`PUT`), checked here so the store and the API report the
//! same [`FieldErrors`]. Stream keys are not part of any spec: they go in through
//! [`DestinationInput::stream_key`], are sealed by the store, and never come out.

use crate::FieldErrors;
use crate::camera::valid_camera_id;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How a destination is reached, from its URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Rtmp,
    Rtmps,
    Srt,
}

impl Protocol {
    pub fn of_url(url: &str) -> Option<Protocol> {
        let (scheme, _) = url.split_once("://")?;
        match scheme.to_ascii_lowercase().as_str() {
            "rtmp" => Some(Protocol::Rtmp),
            "rtmps" => Some(Protocol::Rtmps),
            "srt" => Some(Protocol::Srt),
            _ => None,
        }
    }
}

/// Ids of destinations, streams and overlays: as camera ids (they appear in URLs).
pub fn valid_id(id: &str) -> bool {
    valid_camera_id(id)
}

/// A destination as the API shows it (never its stream key).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Destination {
    pub id: String,
    pub name: String,
    /// The ingest URL without the stream key (`rtmp://a.rtmp.youtube.com/live2`).
    pub url: String,
    pub protocol: Protocol,
    pub has_stream_key: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A destination as a client gives it. `stream_key`: absent keeps it, `""` clears it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestinationInput {
    pub id: Option<String>,
    pub name: String,
    pub url: String,
    pub stream_key: Option<String>,
}

fn printable(s: &str, max: usize) -> bool {
    s.chars().count() <= max && !s.chars().any(char::is_control)
}

impl DestinationInput {
    /// Everything wrong with it; the protocol when nothing is.
    pub fn check(&self) -> Result<Protocol, FieldErrors> {
        let mut errs = FieldErrors::new();
        if let Some(id) = &self.id
            && !valid_id(id)
        {
            errs.push("id", "must be 1-32 of a-z 0-9 - _, starting with a letter");
        }
        if self.name.is_empty() || !printable(&self.name, 64) {
            errs.push("name", "required: at most 64 printable characters");
        }
        let protocol = Protocol::of_url(&self.url);
        let host = self
            .url
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(""))
            .unwrap_or("");
        if protocol.is_none() {
            errs.push("url", "must start with rtmp://, rtmps:// or srt://");
        } else if host.is_empty() || host.contains('@') {
            errs.push(
                "url",
                "needs a host, and no account in it (put the key in stream_key)",
            );
        } else if self.url.len() > 1024
            || self
                .url
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            errs.push("url", "at most 1024 characters, without spaces");
        }
        if let Some(k) = &self.stream_key
            && (k.len() > 512 || k.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            errs.push("stream_key", "at most 512 characters, without spaces");
        }
        match protocol {
            Some(p) if errs.is_empty() => Ok(p),
            _ => Err(errs),
        }
    }
}

/// Where to publish: RTMP(S) puts the key as the last path element, SRT as its `streamid`.
pub fn publish_url(url: &str, protocol: Protocol, key: Option<&str>) -> String {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return url.to_string();
    };
    match protocol {
        Protocol::Rtmp | Protocol::Rtmps => format!("{}/{key}", url.trim_end_matches('/')),
        Protocol::Srt => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}streamid={}", percent_encode(key))
        }
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Output sizes, rates and bitrates a stream may ask for.
pub const WIDTH: std::ops::RangeInclusive<u32> = 160..=1920;
pub const HEIGHT: std::ops::RangeInclusive<u32> = 120..=1080;
pub const FPS: std::ops::RangeInclusive<u32> = 1..=60;
pub const BITRATE_KBPS: std::ops::RangeInclusive<u32> = 200..=12_000;

/// A stream: one camera, optionally moved to a named PTZ preset first, encoded once and sent
/// to its destinations with its overlays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    #[serde(default)]
    pub name: String,
    pub camera: String,
    /// A named PTZ preset of the camera, recalled before the stream starts.
    #[serde(default)]
    pub preset: Option<String>,
    pub destinations: Vec<String>,
    #[serde(default = "default_width")]
    pub width: u32,
    #[serde(default = "default_height")]
    pub height: u32,
    #[serde(default = "default_fps")]
    pub fps: u32,
    #[serde(default = "default_bitrate")]
    pub bitrate_kbps: u32,
    /// Overlay ids; drawn in their `z` order.
    #[serde(default)]
    pub overlays: Vec<String>,
    /// Started when the appliance starts.
    #[serde(default)]
    pub autostart: bool,
    /// A program run in a loop while the stream runs: each entry's camera (at its preset, with
    /// its overlays) comes on air at its `at` or when the previous entry's `secs` are up, by a
    /// cut or a fade. Empty: the stream stays on `camera` unless cued.
    #[serde(default)]
    pub program: Vec<ProgramEntry>,
}

/// One entry of a stream's program: when it goes on air (at a time of day, or when the previous
/// entry's time is up), for how long, what it shows and how it comes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramEntry {
    pub camera: String,
    #[serde(default)]
    pub preset: Option<String>,
    /// How long it stays on air, 1..=86400 s; without it, until the next entry's `at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secs: Option<u32>,
    /// The time of day it goes on air, `HH:MM` or `HH:MM:SS` in the device's time zone; without
    /// it, as soon as the previous entry's `secs` are up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The overlays shown while it is on air; without it, the stream's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlays: Option<Vec<String>>,
    /// How it comes on air.
    #[serde(default)]
    pub transition: Transition,
}

/// How a program entry or a cue comes on air.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    /// At the next keyframe of the new camera.
    #[default]
    Cut,
    /// A short dip through black: the picture fades out, the cut happens, it fades in.
    Fade,
    /// A short crossfade: the outgoing camera's last picture dissolves into the new camera's.
    Dissolve,
}

/// A time of day, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOfDay {
    pub hour: i8,
    pub minute: i8,
    pub second: i8,
}

impl TimeOfDay {
    /// `HH:MM` or `HH:MM:SS`, 24-hour.
    pub fn parse(s: &str) -> Option<TimeOfDay> {
        let parts: Vec<&str> = s.split(':').collect();
        let field = |i: usize, max: i8| -> Option<i8> {
            let p = parts.get(i)?;
            if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse::<i8>().ok().filter(|v| (0..=max).contains(v))
        };
        if !(2..=3).contains(&parts.len()) {
            return None;
        }
        Some(TimeOfDay {
            hour: field(0, 23)?,
            minute: field(1, 59)?,
            second: if parts.len() == 3 { field(2, 59)? } else { 0 },
        })
    }

    /// The next moment after `now` when the clock in `tz` shows this time (the first such
    /// moment on a day the clock goes back; a time a spring-forward skips is taken just after
    /// the gap).
    pub fn next_after(self, now: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> jiff::Timestamp {
        let today = now.to_zoned(tz.clone()).date();
        let time = jiff::civil::time(self.hour, self.minute, self.second, 0);
        for day in 0..3 {
            let Ok(date) = today.checked_add(jiff::Span::new().days(day)) else {
                break;
            };
            if let Ok(z) = date.to_datetime(time).to_zoned(tz.clone()) {
                let t = z.timestamp();
                if t > now {
                    return t;
                }
            }
        }
        now.checked_add(jiff::SignedDuration::from_hours(24))
            .unwrap_or(now)
    }
}

fn default_width() -> u32 {
    1280
}
fn default_height() -> u32 {
    720
}
fn default_fps() -> u32 {
    30
}
fn default_bitrate() -> u32 {
    3000
}

impl StreamSpec {
    /// Problems of the spec itself; whether the camera, destinations and overlays exist is the
    /// store's check.
    pub fn problems(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if !printable(&self.name, 64) {
            errs.push("name", "at most 64 printable characters");
        }
        if !valid_camera_id(&self.camera) {
            errs.push("camera", "required: a camera id");
        }
        if self.destinations.is_empty() || self.destinations.len() > 8 {
            errs.push("destinations", "1 to 8 destination ids");
        }
        if self.overlays.len() > 16 {
            errs.push("overlays", "at most 16 overlays");
        }
        if !WIDTH.contains(&self.width) || !self.width.is_multiple_of(2) {
            errs.push("width", format!("an even number in {WIDTH:?}"));
        }
        if !HEIGHT.contains(&self.height) || !self.height.is_multiple_of(2) {
            errs.push("height", format!("an even number in {HEIGHT:?}"));
        }
        if !FPS.contains(&self.fps) {
            errs.push("fps", format!("in {FPS:?}"));
        }
        if !BITRATE_KBPS.contains(&self.bitrate_kbps) {
            errs.push("bitrate_kbps", format!("in {BITRATE_KBPS:?}"));
        }
        if self
            .preset
            .as_ref()
            .is_some_and(|p| p.is_empty() || !printable(p, 64))
        {
            errs.push("preset", "a preset name, at most 64 printable characters");
        }
        if self.program.len() > 64 {
            errs.push("program", "at most 64 entries");
        }
        for (i, e) in self.program.iter().enumerate() {
            if !valid_camera_id(&e.camera) {
                errs.push(format!("program[{i}].camera"), "a camera id");
            }
            if e.secs.is_some_and(|s| !(1..=86_400).contains(&s)) {
                errs.push(format!("program[{i}].secs"), "in 1..=86400");
            }
            if e.at
                .as_deref()
                .is_some_and(|a| TimeOfDay::parse(a).is_none())
            {
                errs.push(
                    format!("program[{i}].at"),
                    "a time of day, HH:MM or HH:MM:SS",
                );
            }
            if e.secs.is_none() && e.at.is_none() {
                errs.push(
                    format!("program[{i}].secs"),
                    "give secs (how long it stays), at (when it comes on), or both",
                );
            }
            // Without secs an entry stays until the next one's time: the next needs an `at`.
            let next = &self.program[(i + 1) % self.program.len()];
            if e.secs.is_none() && e.at.is_some() && next.at.is_none() {
                errs.push(
                    format!("program[{i}].secs"),
                    "without secs, the next entry needs an `at` (else it would follow at once)",
                );
            }
            if e.overlays.as_ref().is_some_and(|o| o.len() > 16) {
                errs.push(format!("program[{i}].overlays"), "at most 16 overlays");
            }
            if e.preset
                .as_ref()
                .is_some_and(|p| p.is_empty() || !printable(p, 64))
            {
                errs.push(
                    format!("program[{i}].preset"),
                    "a preset name, at most 64 printable characters",
                );
            }
        }
        errs
    }
}

/// A stream as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Stream {
    pub id: String,
    #[serde(flatten)]
    pub spec: StreamSpec,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What an overlay draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OverlayKind {
    /// `text` with variables: `{time}`, `{date}`, `{camera}`, `{preset}`, `{value}`.
    Text,
    /// The time in the device's time zone, formatted by `text` (strftime; default
    /// `%H:%M:%S`).
    Clock,
    /// The overlay's uploaded PNG (alpha kept).
    Image,
}

/// An overlay. Position and size are fractions of the picture, so one overlay fits any output
/// size: `x`, `y` place its top-left corner; `size` is a text's line height or an image's width.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverlaySpec {
    #[serde(default)]
    pub name: String,
    pub kind: OverlayKind,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub x: f64,
    #[serde(default)]
    pub y: f64,
    #[serde(default = "default_size")]
    pub size: f64,
    #[serde(default = "default_opacity")]
    pub opacity: f64,
    /// Drawing order: higher on top.
    #[serde(default)]
    pub z: i32,
    /// What `{value}` shows; also set alone with `PUT /api/overlays/{id}/value`.
    #[serde(default)]
    pub value: String,
}

fn default_size() -> f64 {
    0.05
}
fn default_opacity() -> f64 {
    1.0
}

impl OverlaySpec {
    pub fn problems(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if !printable(&self.name, 64) {
            errs.push("name", "at most 64 printable characters");
        }
        if !printable(&self.text, 256) {
            errs.push("text", "at most 256 printable characters");
        }
        if !printable(&self.value, 256) {
            errs.push("value", "at most 256 printable characters");
        }
        for (field, v, range) in [
            ("x", self.x, 0.0..=1.0),
            ("y", self.y, 0.0..=1.0),
            ("size", self.size, 0.01..=1.0),
            ("opacity", self.opacity, 0.0..=1.0),
        ] {
            if !range.contains(&v) {
                errs.push(field, format!("in {}..={}", range.start(), range.end()));
            }
        }
        if !(-1000..=1000).contains(&self.z) {
            errs.push("z", "in -1000..=1000");
        }
        errs
    }
}

/// An overlay as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Overlay {
    pub id: String,
    #[serde(flatten)]
    pub spec: OverlaySpec,
    /// An image overlay has its PNG uploaded (`PUT /api/overlays/{id}/image`).
    pub has_image: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What the variables of a text overlay stand for at one moment.
#[derive(Debug, Clone, Default)]
pub struct TextContext<'a> {
    pub time: &'a str,
    pub date: &'a str,
    pub camera: &'a str,
    pub preset: &'a str,
    pub value: &'a str,
}

/// Fills `{time}`, `{date}`, `{camera}`, `{preset}` and `{value}`; `{{` and `}}` are braces;
/// anything else stays as written.
pub fn render_text(template: &str, cx: &TextContext<'_>) -> String {
    let vars: HashMap<&str, &str> = [
        ("time", cx.time),
        ("date", cx.date),
        ("camera", cx.camera),
        ("preset", cx.preset),
        ("value", cx.value),
    ]
    .into_iter()
    .collect();
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if let Some(end) = tail.find('}')
            && tail.starts_with('{')
            && let Some(v) = vars.get(&tail[1..end])
        {
            out.push_str(v);
            rest = &tail[end + 1..];
            continue;
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// Does the template change with the time (so it is redrawn every second)?
pub fn uses_time(template: &str) -> bool {
    template.contains("{time}") || template.contains("{date}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day_parse_strictly() {
        assert_eq!(
            TimeOfDay::parse("07:05"),
            Some(TimeOfDay {
                hour: 7,
                minute: 5,
                second: 0
            })
        );
        assert_eq!(TimeOfDay::parse("23:59:59").map(|t| t.second), Some(59));
        for bad in [
            "24:00",
            "7:05",
            "07:60",
            "07:05:61",
            "07:05:00:00",
            "",
            "ab:cd",
            "-1:00",
        ] {
            assert_eq!(TimeOfDay::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_next_time_of_day_is_today_or_tomorrow_in_the_zone_across_dst() {
        let tz = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        let t = TimeOfDay::parse("09:00").unwrap();
        // 06:00 UTC is 07:00 in Paris in winter: 09:00 Paris is 08:00 UTC the same day.
        assert_eq!(
            t.next_after(at("2026-01-10T06:00:00Z"), &tz),
            at("2026-01-10T08:00:00Z")
        );
        // Already past: tomorrow.
        assert_eq!(
            t.next_after(at("2026-01-10T08:00:00Z"), &tz),
            at("2026-01-11T08:00:00Z")
        );
        // 02:30 does not exist on 2026-03-29 in Paris: taken just after the gap (03:30 CEST).
        let gap = TimeOfDay::parse("02:30").unwrap();
        assert_eq!(
            gap.next_after(at("2026-03-28T23:00:00Z"), &tz),
            at("2026-03-29T01:30:00Z")
        );
    }

    #[test]
    fn program_entries_need_a_trigger_and_a_way_on() {
        let entry = |secs: Option<u32>, at: Option<&str>| ProgramEntry {
            camera: "camera0".into(),
            preset: None,
            secs,
            at: at.map(str::to_string),
            overlays: None,
            transition: Transition::Cut,
        };
        let spec = |program: Vec<ProgramEntry>| StreamSpec {
            name: String::new(),
            camera: "camera0".into(),
            preset: None,
            destinations: vec!["d".into()],
            width: 1280,
            height: 720,
            fps: 30,
            bitrate_kbps: 3000,
            overlays: vec![],
            autostart: false,
            program,
        };
        assert!(
            spec(vec![entry(Some(10), None), entry(None, Some("08:00"))])
                .problems()
                .get("program[1].secs")
                .is_some()
        );
        assert!(
            spec(vec![
                entry(Some(10), Some("08:00")),
                entry(None, Some("20:00"))
            ])
            .problems()
            .is_empty()
        );
        let p = spec(vec![entry(None, None), entry(Some(0), Some("25:00"))]).problems();
        assert!(p.get("program[0].secs").is_some() && p.get("program[1].secs").is_some());
        assert!(p.get("program[1].at").is_some());
        // Old stored programs (secs only) still read, and cuts are the default.
        let old: ProgramEntry = serde_json::from_str(r#"{"camera": "c", "secs": 30}"#).unwrap();
        assert_eq!((old.secs, old.transition), (Some(30), Transition::Cut));
        assert!(
            serde_json::from_str::<ProgramEntry>(
                r#"{"camera": "c", "secs": 3, "transition": "wipe"}"#
            )
            .is_err()
        );
    }

    fn dest(url: &str) -> DestinationInput {
        DestinationInput {
            name: "yt".into(),
            url: url.into(),
            ..Default::default()
        }
    }

    #[test]
    fn destination_urls() {
        assert_eq!(dest("rtmp://a.example/live2").check(), Ok(Protocol::Rtmp));
        assert_eq!(
            dest("RTMPS://a.example:443/app").check(),
            Ok(Protocol::Rtmps)
        );
        assert_eq!(dest("srt://10.0.0.2:9000").check(), Ok(Protocol::Srt));
        for bad in [
            "http://x/y",
            "rtmp://",
            "rtmp://user:pw@host/app",
            "rtmp://h/a b",
            "",
        ] {
            let e = dest(bad).check().expect_err(bad);
            assert!(e.get("url").is_some(), "{bad}: {e:?}");
        }
        let mut d = dest("rtmp://h/app");
        d.name = String::new();
        d.stream_key = Some("a b".into());
        let e = d.check().unwrap_err();
        assert!(e.get("name").is_some() && e.get("stream_key").is_some());
    }

    #[test]
    fn publish_urls() {
        assert_eq!(
            publish_url("rtmp://h/live/", Protocol::Rtmp, Some("k1")),
            "rtmp://h/live/k1"
        );
        assert_eq!(
            publish_url("rtmp://h/live", Protocol::Rtmp, None),
            "rtmp://h/live"
        );
        assert_eq!(
            publish_url("srt://h:9000?latency=200", Protocol::Srt, Some("pub/a b")),
            "srt://h:9000?latency=200&streamid=pub%2Fa%20b"
        );
    }

    #[test]
    fn stream_spec_defaults_and_limits() {
        let s: StreamSpec =
            serde_json::from_str(r#"{"camera":"camera0","destinations":["yt"]}"#).unwrap();
        assert_eq!(
            (s.width, s.height, s.fps, s.bitrate_kbps),
            (1280, 720, 30, 3000)
        );
        assert!(s.problems().is_empty());
        let bad = StreamSpec {
            width: 641,
            fps: 0,
            destinations: vec![],
            camera: "Cam 0".into(),
            ..s
        };
        let e = bad.problems();
        for f in ["width", "fps", "destinations", "camera"] {
            assert!(e.get(f).is_some(), "{f}: {e:?}");
        }
        assert!(
            serde_json::from_str::<StreamSpec>(r#"{"camera":"c","destinations":[],"key":1}"#)
                .is_err()
        );
    }

    #[test]
    fn overlay_limits() {
        let o: OverlaySpec = serde_json::from_str(r#"{"kind":"text","text":"hi"}"#).unwrap();
        assert!(o.problems().is_empty());
        let bad = OverlaySpec {
            x: 1.5,
            opacity: -0.1,
            size: 0.0,
            ..o
        };
        let e = bad.problems();
        for f in ["x", "opacity", "size"] {
            assert!(e.get(f).is_some(), "{f}: {e:?}");
        }
    }

    #[test]
    fn text_variables() {
        let cx = TextContext {
            time: "12:00:01",
            camera: "Door",
            value: "3 - 1",
            ..Default::default()
        };
        assert_eq!(
            render_text("{camera} {time} score {value} {{x}} {nope} {", &cx),
            "Door 12:00:01 score 3 - 1 {x} {nope} {"
        );
        assert_eq!(render_text("}{preset}}", &cx), "}}");
        assert!(uses_time("at {date}"));
        assert!(!uses_time("{camera}"));
    }
}
