//! Text a camera draws on its own picture (on-screen display): a name, the date, the time.
//!
//! Installers expect the time burnt into a recording, as every IP camera and motionEyeOS do,
//! so a clip handed over stays dated wherever it is played. Pinhole draws these texts where it
//! encodes the picture itself (the same cameras as [`crate::picture`]); they are in the
//! recording, the RTSP stream, snapshots and previews, never in the detector's frames (a
//! ticking clock is not motion). The vocabulary is ONVIF's (Media2 `OSDConfiguration`): kinds
//! `Plain`, `Date`, `Time`, `DateAndTime`, its date and time patterns and corner positions, so
//! the API, the web page and an ONVIF client speak of the same things.

use crate::FieldErrors;
use serde::{Deserialize, Serialize};

/// At most this many texts per camera.
pub const MAX_TEXTS: usize = 4;
/// Font sizes, in pixels of the camera's picture (line height).
pub const FONT_SIZES: std::ops::RangeInclusive<u16> = 8..=160;
/// The longest plain text, in characters.
pub const MAX_TEXT_CHARS: usize = 64;

/// What a text shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OsdKind {
    /// `text` as written.
    Plain,
    /// Today's date in the device's time zone, as `date_format` says.
    Date,
    /// The time in the device's time zone, as `time_format` says.
    Time,
    /// Date and time, one after the other.
    DateAndTime,
}

/// Where a text sits: a corner of the picture (with a margin), or `x`, `y`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OsdPosition {
    #[default]
    UpperLeft,
    UpperRight,
    LowerLeft,
    LowerRight,
    /// The text's top-left corner at `x`, `y` (fractions of the picture from its top left).
    Custom,
}

/// How a date is written, by ONVIF's patterns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum DateFormat {
    #[default]
    #[serde(rename = "yyyy-MM-dd")]
    YearMonthDay,
    #[serde(rename = "MM/dd/yyyy")]
    MonthDayYear,
    #[serde(rename = "dd/MM/yyyy")]
    DayMonthYear,
    #[serde(rename = "dd.MM.yyyy")]
    DayMonthYearDotted,
}

/// How a time is written, by ONVIF's patterns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum TimeFormat {
    #[default]
    #[serde(rename = "HH:mm:ss")]
    TwentyFourHour,
    #[serde(rename = "hh:mm:ss tt")]
    TwelveHour,
}

impl DateFormat {
    pub const ALL: [DateFormat; 4] = [
        DateFormat::YearMonthDay,
        DateFormat::MonthDayYear,
        DateFormat::DayMonthYear,
        DateFormat::DayMonthYearDotted,
    ];

    /// ONVIF's pattern (also the API's name).
    pub fn pattern(self) -> &'static str {
        match self {
            DateFormat::YearMonthDay => "yyyy-MM-dd",
            DateFormat::MonthDayYear => "MM/dd/yyyy",
            DateFormat::DayMonthYear => "dd/MM/yyyy",
            DateFormat::DayMonthYearDotted => "dd.MM.yyyy",
        }
    }

    pub fn from_pattern(p: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.pattern() == p)
    }

    fn strftime(self) -> &'static str {
        match self {
            DateFormat::YearMonthDay => "%Y-%m-%d",
            DateFormat::MonthDayYear => "%m/%d/%Y",
            DateFormat::DayMonthYear => "%d/%m/%Y",
            DateFormat::DayMonthYearDotted => "%d.%m.%Y",
        }
    }
}

impl TimeFormat {
    pub const ALL: [TimeFormat; 2] = [TimeFormat::TwentyFourHour, TimeFormat::TwelveHour];

    /// ONVIF's pattern (also the API's name).
    pub fn pattern(self) -> &'static str {
        match self {
            TimeFormat::TwentyFourHour => "HH:mm:ss",
            TimeFormat::TwelveHour => "hh:mm:ss tt",
        }
    }

    pub fn from_pattern(p: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.pattern() == p)
    }

    fn strftime(self) -> &'static str {
        match self {
            TimeFormat::TwentyFourHour => "%H:%M:%S",
            TimeFormat::TwelveHour => "%I:%M:%S %p",
        }
    }
}

fn default_font_size() -> u16 {
    32
}

/// One text on a camera's picture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OsdText {
    /// Pinhole's name for it (also its ONVIF `OSDToken`): `<camera>.osd<n>`. Empty in a
    /// change for a new text; a text given without the token of one the camera has is new.
    #[serde(default)]
    pub token: String,
    pub kind: OsdKind,
    /// What a `plain` text says.
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub date_format: DateFormat,
    #[serde(default)]
    pub time_format: TimeFormat,
    #[serde(default)]
    pub position: OsdPosition,
    /// For a `custom` position: the text's left edge, a fraction of the picture's width.
    #[serde(default)]
    pub x: f64,
    /// For a `custom` position: the text's top edge, a fraction of the picture's height.
    #[serde(default)]
    pub y: f64,
    /// Line height in pixels of the camera's picture.
    #[serde(default = "default_font_size")]
    pub font_size: u16,
}

impl OsdText {
    /// A text of `kind` in the upper-left corner, at the default size.
    pub fn new(kind: OsdKind) -> Self {
        Self {
            token: String::new(),
            kind,
            text: String::new(),
            date_format: DateFormat::default(),
            time_format: TimeFormat::default(),
            position: OsdPosition::default(),
            x: 0.0,
            y: 0.0,
            font_size: default_font_size(),
        }
    }

    /// Everything wrong with it, fields named as the API names them.
    pub fn problems(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let chars = self.text.chars().count();
        if chars > MAX_TEXT_CHARS || self.text.chars().any(char::is_control) {
            errs.push(
                "text",
                format!("at most {MAX_TEXT_CHARS} printable characters on one line"),
            );
        } else if self.kind == OsdKind::Plain && self.text.trim().is_empty() {
            errs.push("text", "required for a plain text");
        }
        if !FONT_SIZES.contains(&self.font_size) {
            errs.push(
                "font_size",
                format!("{} to {} pixels", FONT_SIZES.start(), FONT_SIZES.end()),
            );
        }
        for (field, v) in [("x", self.x), ("y", self.y)] {
            if !(0.0..=1.0).contains(&v) {
                errs.push(field, "a fraction of the picture, 0 to 1");
            }
        }
        errs
    }

    /// Whether what it shows changes with the clock (redrawn every second).
    pub fn follows_clock(&self) -> bool {
        self.kind != OsdKind::Plain
    }

    /// What it shows at `now` (in the device's time zone).
    pub fn render(&self, now: &jiff::Zoned) -> String {
        let date = || now.strftime(self.date_format.strftime()).to_string();
        let time = || now.strftime(self.time_format.strftime()).to_string();
        match self.kind {
            OsdKind::Plain => self.text.clone(),
            OsdKind::Date => date(),
            OsdKind::Time => time(),
            OsdKind::DateAndTime => format!("{} {}", date(), time()),
        }
    }
}

/// The token of a camera's `n`th text.
pub fn token(camera: &str, n: u32) -> String {
    format!("{camera}.osd{n}")
}

/// The camera a token names (tokens are made by [`token`]; camera ids have no dots).
pub fn camera_of(token: &str) -> Option<&str> {
    let (camera, n) = token.rsplit_once(".osd")?;
    (!camera.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(camera)
}

/// `next`, checked and with tokens: texts with a token of `now` keep it, the others get new
/// ones. Field errors name the text (`texts[1].font_size`).
pub fn settle(
    camera: &str,
    now: &[OsdText],
    next: Vec<OsdText>,
) -> Result<Vec<OsdText>, FieldErrors> {
    let mut errs = FieldErrors::new();
    if next.len() > MAX_TEXTS {
        errs.push("texts", format!("at most {MAX_TEXTS} texts on a camera"));
        return Err(errs);
    }
    for (i, t) in next.iter().enumerate() {
        errs.extend_prefixed(&format!("texts[{i}]."), t.problems());
        let known = now.iter().any(|n| n.token == t.token);
        if !t.token.is_empty() && !known {
            errs.push(
                format!("texts[{i}].token"),
                format!(
                    "`{camera}` has no text `{}`: leave it out for a new one",
                    t.token
                ),
            );
        }
        if !t.token.is_empty() && next[..i].iter().any(|o| o.token == t.token) {
            errs.push(format!("texts[{i}].token"), "given twice");
        }
    }
    let mut texts = errs.into_result(next)?;
    let mut n = 1;
    for i in 0..texts.len() {
        if !texts[i].token.is_empty() {
            continue;
        }
        while texts.iter().any(|t| t.token == token(camera, n)) {
            n += 1;
        }
        texts[i].token = token(camera, n);
    }
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> OsdText {
        OsdText {
            text: s.into(),
            ..OsdText::new(OsdKind::Plain)
        }
    }

    #[test]
    fn renders_dates_and_times_in_the_zone_as_the_patterns_say() {
        let now = "2026-03-07T17:04:09Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .in_tz("America/New_York")
            .unwrap();
        let mut t = OsdText::new(OsdKind::DateAndTime);
        assert_eq!(t.render(&now), "2026-03-07 12:04:09");
        t.date_format = DateFormat::DayMonthYearDotted;
        t.time_format = TimeFormat::TwelveHour;
        assert_eq!(t.render(&now), "07.03.2026 12:04:09 PM");
        t.kind = OsdKind::Date;
        t.date_format = DateFormat::MonthDayYear;
        assert_eq!(t.render(&now), "03/07/2026");
        assert!(t.follows_clock() && !plain("Porch").follows_clock());
        assert_eq!(plain("Porch").render(&now), "Porch");
    }

    #[test]
    fn patterns_are_the_wire_names() {
        for f in DateFormat::ALL {
            let json = serde_json::to_value(f).unwrap();
            assert_eq!(json, f.pattern());
            assert_eq!(DateFormat::from_pattern(f.pattern()), Some(f));
        }
        for f in TimeFormat::ALL {
            assert_eq!(serde_json::to_value(f).unwrap(), f.pattern());
            assert_eq!(TimeFormat::from_pattern(f.pattern()), Some(f));
        }
        assert_eq!(DateFormat::from_pattern("yyyy/MM/dd"), None);
    }

    #[test]
    fn settling_keeps_known_tokens_names_new_texts_and_refuses_bad_ones() {
        let now = settle("porch", &[], vec![plain("A"), OsdText::new(OsdKind::Time)]).unwrap();
        assert_eq!(now[0].token, "porch.osd1");
        assert_eq!(now[1].token, "porch.osd2");
        // The first goes, a new one comes: it takes the free number, the kept one its own.
        let next = settle("porch", &now, vec![plain("B"), now[1].clone()]).unwrap();
        assert_eq!(next[0].token, "porch.osd1");
        assert_eq!(next[1].token, "porch.osd2");
        let mut stranger = plain("C");
        stranger.token = "yard.osd1".into();
        let mut huge = plain("D");
        huge.font_size = 4;
        let errs = settle("porch", &now, vec![stranger, huge, plain("")]).unwrap_err();
        for field in ["texts[0].token", "texts[1].font_size", "texts[2].text"] {
            assert!(errs.get(field).is_some(), "{field}: {errs:?}");
        }
        let errs = settle("porch", &now, vec![now[1].clone(), now[1].clone()]).unwrap_err();
        assert!(errs.get("texts[1].token").is_some(), "{errs:?}");
        assert!(settle("porch", &[], vec![plain("x"); 5]).is_err());
        let mut line = plain("a\nb");
        line.x = 1.5;
        let errs = settle("porch", &[], vec![line]).unwrap_err();
        assert!(errs.get("texts[0].text").is_some() && errs.get("texts[0].x").is_some());
    }

    #[test]
    fn tokens_name_their_camera() {
        assert_eq!(camera_of(&token("front-door", 3)), Some("front-door"));
        for bad in ["front", ".osd1", "front.osd", "front.osdx", "front.osd1a"] {
            assert_eq!(camera_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        assert!(serde_json::from_str::<OsdText>(r#"{"kind":"plain","txt":"a"}"#).is_err());
        assert!(serde_json::from_str::<OsdText>(r#"{"kind":"weather"}"#).is_err());
        let t: OsdText =
            serde_json::from_str(r#"{"kind":"date","date_format":"dd/MM/yyyy"}"#).unwrap();
        assert_eq!(t.date_format, DateFormat::DayMonthYear);
        assert_eq!(t.font_size, 32);
    }
}
