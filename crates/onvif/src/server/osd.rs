//! On-screen display: the texts a camera draws on its picture, as the media services (Media
//! ver10 and Media2) let a client list, make, change and delete them (Profile T's OSD).
//!
//! ONVIF's `OSDConfiguration` maps one to one onto [`pinhole_base::osd::OsdText`]: its text
//! kinds, date and time patterns and corner positions are Pinhole's own. What Pinhole does not
//! draw (image OSDs, a date or time pattern it does not know) is refused with a fault naming
//! it; font and background colours are not kept (texts are white with a dark outline, which
//! reads on any picture). `Custom` positions are ONVIF's -1..1 coordinates (y up) of the
//! text's top-left corner.

use super::{field, invalid, optional_field};
use crate::OnvifError;
use crate::xml::{child, escape, text};
use pinhole_base::osd::{
    DateFormat, FONT_SIZES, MAX_TEXTS, OsdKind, OsdPosition, OsdText, TimeFormat,
};

/// ONVIF's names of the positions and text kinds: what is read, written back and offered.
const POSITIONS: [(OsdPosition, &str); 5] = [
    (OsdPosition::UpperLeft, "UpperLeft"),
    (OsdPosition::UpperRight, "UpperRight"),
    (OsdPosition::LowerLeft, "LowerLeft"),
    (OsdPosition::LowerRight, "LowerRight"),
    (OsdPosition::Custom, "Custom"),
];
const KINDS: [(OsdKind, &str); 4] = [
    (OsdKind::Plain, "Plain"),
    (OsdKind::Date, "Date"),
    (OsdKind::Time, "Time"),
    (OsdKind::DateAndTime, "DateAndTime"),
];

fn name_of<T: PartialEq + Copy>(table: &[(T, &'static str)], v: T) -> &'static str {
    table.iter().find(|(t, _)| *t == v).map_or("", |(_, n)| n)
}

fn by_name<T: Copy>(table: &[(T, &str)], name: &str) -> Option<T> {
    table.iter().find(|(_, n)| *n == name).map(|(t, _)| *t)
}

pub use super::MediaVersion;

/// An OSD request.
#[derive(Debug, Clone, PartialEq)]
pub enum OsdOp {
    /// The OSDs of a video source configuration (or all), or one by token (Media2).
    GetOsds {
        configuration: Option<String>,
        osd: Option<String>,
    },
    /// One OSD by token (Media ver10).
    GetOsd {
        osd: String,
    },
    GetOsdOptions {
        configuration: Option<String>,
    },
    SetOsd(OsdIn),
    CreateOsd(OsdIn),
    DeleteOsd {
        osd: String,
    },
}

impl OsdOp {
    pub fn name(&self) -> &'static str {
        match self {
            OsdOp::GetOsds { .. } => "GetOSDs",
            OsdOp::GetOsd { .. } => "GetOSD",
            OsdOp::GetOsdOptions { .. } => "GetOSDOptions",
            OsdOp::SetOsd(_) => "SetOSD",
            OsdOp::CreateOsd(_) => "CreateOSD",
            OsdOp::DeleteOsd { .. } => "DeleteOSD",
        }
    }

    /// Whether it changes a camera's texts.
    pub fn changes(&self) -> bool {
        matches!(
            self,
            OsdOp::SetOsd(_) | OsdOp::CreateOsd(_) | OsdOp::DeleteOsd { .. }
        )
    }
}

/// An `OSD` a client sends: its token (empty for a new one), the video source configuration
/// it draws on, and the text.
#[derive(Debug, Clone, PartialEq)]
pub struct OsdIn {
    pub token: String,
    pub source: String,
    /// The text, with `token` set as sent.
    pub text: OsdText,
}

/// Reads an OSD request named `name` (either media service), if it is one.
pub fn parse(op: roxmltree::Node<'_, '_>, name: &str) -> Result<Option<OsdOp>, OnvifError> {
    let osd_token = || field(op, &["OSDToken"], "OSDToken");
    Ok(Some(match name {
        "GetOSDs" => OsdOp::GetOsds {
            configuration: optional_field(op, &["ConfigurationToken"], "ConfigurationToken")?,
            osd: optional_field(op, &["OSDToken"], "OSDToken")?,
        },
        "GetOSD" => OsdOp::GetOsd { osd: osd_token()? },
        "GetOSDOptions" => OsdOp::GetOsdOptions {
            configuration: optional_field(op, &["ConfigurationToken"], "ConfigurationToken")?,
        },
        "SetOSD" => OsdOp::SetOsd(osd_in(op)?),
        "CreateOSD" => OsdOp::CreateOsd(osd_in(op)?),
        "DeleteOSD" => OsdOp::DeleteOsd { osd: osd_token()? },
        _ => return Ok(None),
    }))
}

fn osd_in(op: roxmltree::Node<'_, '_>) -> Result<OsdIn, OnvifError> {
    let osd = child(op, "OSD").ok_or(OnvifError::Missing("OSD"))?;
    let token = osd.attribute("token").unwrap_or("").trim();
    if token.len() > 64 || token.chars().any(char::is_control) {
        return Err(invalid("token", token));
    }
    let source = field(
        osd,
        &["VideoSourceConfigurationToken"],
        "VideoSourceConfigurationToken",
    )?;
    let kind = field(osd, &["Type"], "Type")?;
    if kind != "Text" {
        return Err(invalid("Type", &kind));
    }
    let mut t = OsdText::new(OsdKind::Plain);
    t.token = token.to_string();
    if let Some(position) = child(osd, "Position") {
        let kind = field(position, &["Type"], "Position/Type")?;
        t.position = by_name(&POSITIONS, &kind).ok_or_else(|| invalid("Position/Type", &kind))?;
        if t.position == OsdPosition::Custom {
            let pos = child(position, "Pos").ok_or(OnvifError::Missing("Pos"))?;
            let coordinate = |name: &'static str| -> Result<f64, OnvifError> {
                let v = pos
                    .attribute(name)
                    .ok_or(OnvifError::Missing("Pos"))?
                    .trim();
                match v.parse::<f64>() {
                    Ok(n) if (-1.0..=1.0).contains(&n) => Ok(n),
                    _ => Err(invalid("Pos", v)),
                }
            };
            t.x = (coordinate("x")? + 1.0) / 2.0;
            t.y = (1.0 - coordinate("y")?) / 2.0;
        }
    }
    let s = child(osd, "TextString").ok_or(OnvifError::Missing("TextString"))?;
    let kind = field(s, &["Type"], "TextString/Type")?;
    t.kind = by_name(&KINDS, &kind).ok_or_else(|| invalid("TextString/Type", &kind))?;
    if let Some(p) = optional_field(s, &["DateFormat"], "DateFormat")? {
        t.date_format = DateFormat::from_pattern(&p).ok_or_else(|| invalid("DateFormat", &p))?;
    }
    if let Some(p) = optional_field(s, &["TimeFormat"], "TimeFormat")? {
        t.time_format = TimeFormat::from_pattern(&p).ok_or_else(|| invalid("TimeFormat", &p))?;
    }
    if let Some(size) = child(s, "FontSize") {
        let v = text(size).trim();
        t.font_size = v
            .parse::<u16>()
            .ok()
            .filter(|n| FONT_SIZES.contains(n))
            .ok_or_else(|| invalid("FontSize", v))?;
    }
    if let Some(p) = child(s, "PlainText") {
        t.text = text(p).to_string();
    }
    Ok(OsdIn {
        token: t.token.clone(),
        source,
        text: t,
    })
}

/// One `OSDConfiguration`'s content (the element is the caller's: `OSD` or `OSDs`).
fn configuration(source: &str, t: &OsdText) -> String {
    let mut position = format!("<tt:Type>{}</tt:Type>", name_of(&POSITIONS, t.position));
    if t.position == OsdPosition::Custom {
        position.push_str(&format!(
            "<tt:Pos x=\"{}\" y=\"{}\"/>",
            t.x * 2.0 - 1.0,
            1.0 - t.y * 2.0
        ));
    }
    let kind = name_of(&KINDS, t.kind);
    let date = matches!(t.kind, OsdKind::Date | OsdKind::DateAndTime);
    let time = matches!(t.kind, OsdKind::Time | OsdKind::DateAndTime);
    let mut s = format!(
        "<tt:VideoSourceConfigurationToken>{}</tt:VideoSourceConfigurationToken>\
         <tt:Type>Text</tt:Type><tt:Position>{position}</tt:Position>\
         <tt:TextString><tt:Type>{kind}</tt:Type>",
        escape(source)
    );
    if date {
        s.push_str(&format!(
            "<tt:DateFormat>{}</tt:DateFormat>",
            t.date_format.pattern()
        ));
    }
    if time {
        s.push_str(&format!(
            "<tt:TimeFormat>{}</tt:TimeFormat>",
            t.time_format.pattern()
        ));
    }
    s.push_str(&format!("<tt:FontSize>{}</tt:FontSize>", t.font_size));
    if t.kind == OsdKind::Plain {
        s.push_str(&format!("<tt:PlainText>{}</tt:PlainText>", escape(&t.text)));
    }
    s.push_str("</tt:TextString>");
    s
}

/// `GetOSDs`: the texts, each with the video source configuration it draws on.
pub fn list(v: MediaVersion, texts: &[(String, OsdText)]) -> String {
    let p = v.prefix();
    let mut s = format!("<{p}:GetOSDsResponse>");
    for (source, t) in texts {
        s.push_str(&format!(
            "<{p}:OSDs token=\"{}\">{}</{p}:OSDs>",
            escape(&t.token),
            configuration(source, t)
        ));
    }
    s.push_str(&format!("</{p}:GetOSDsResponse>"));
    s
}

/// `GetOSD` (Media ver10).
pub fn one(source: &str, t: &OsdText) -> String {
    format!(
        "<trt:GetOSDResponse><trt:OSD token=\"{}\">{}</trt:OSD></trt:GetOSDResponse>",
        escape(&t.token),
        configuration(source, t)
    )
}

/// `GetOSDOptions`: what can be drawn.
pub fn options(v: MediaVersion) -> String {
    let p = v.prefix();
    let n = MAX_TEXTS;
    let mut s = format!(
        "<{p}:GetOSDOptionsResponse><{p}:OSDOptions>\
         <tt:MaximumNumberOfOSDs Total=\"{n}\" Image=\"0\" PlainText=\"{n}\" Date=\"{n}\" Time=\"{n}\" DateAndTime=\"{n}\"/>\
         <tt:Type>Text</tt:Type>"
    );
    for (_, position) in POSITIONS {
        s.push_str(&format!(
            "<tt:PositionOption>{position}</tt:PositionOption>"
        ));
    }
    s.push_str("<tt:TextOption>");
    for (_, kind) in KINDS {
        s.push_str(&format!("<tt:Type>{kind}</tt:Type>"));
    }
    s.push_str(&format!(
        "<tt:FontSizeRange><tt:Min>{}</tt:Min><tt:Max>{}</tt:Max></tt:FontSizeRange>",
        FONT_SIZES.start(),
        FONT_SIZES.end()
    ));
    for f in DateFormat::ALL {
        s.push_str(&format!("<tt:DateFormat>{}</tt:DateFormat>", f.pattern()));
    }
    for f in TimeFormat::ALL {
        s.push_str(&format!("<tt:TimeFormat>{}</tt:TimeFormat>", f.pattern()));
    }
    s.push_str(&format!(
        "</tt:TextOption></{p}:OSDOptions></{p}:GetOSDOptionsResponse>"
    ));
    s
}

/// `CreateOSD` done.
pub fn created(v: MediaVersion, token: &str) -> String {
    let p = v.prefix();
    format!(
        "<{p}:CreateOSDResponse><{p}:OSDToken>{}</{p}:OSDToken></{p}:CreateOSDResponse>",
        escape(token)
    )
}

/// `SetOSD` or `DeleteOSD` done.
pub fn done(v: MediaVersion, op: &OsdOp) -> String {
    format!("<{p}:{}Response/>", op.name(), p = v.prefix())
}
