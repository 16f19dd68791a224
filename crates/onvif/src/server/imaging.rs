//! The imaging service (ver20): a video source's brightness, contrast and colour saturation,
//! the part of the picture Profile T devices let a client set (a recorder's "image settings").
//!
//! Pinhole's scale is ONVIF's usual 0..100 (`pinhole_base::picture`); [`options`] says so, so
//! clients never guess. Settings Pinhole has not (exposure, focus, white balance, sharpness)
//! are refused by name (`ter:SettingsInvalid`) rather than ignored: a client that sets them
//! learns they did not take.

use super::{field, invalid};
use crate::OnvifError;
use crate::xml::{child, text};

/// A request to the imaging service.
#[derive(Debug, Clone, PartialEq)]
pub enum ImagingOp {
    GetImagingSettings {
        source: String,
    },
    SetImagingSettings {
        source: String,
        change: ImagingChange,
    },
    GetOptions {
        source: String,
    },
    GetMoveOptions {
        source: String,
    },
    GetStatus {
        source: String,
    },
}

impl ImagingOp {
    pub fn name(&self) -> &'static str {
        match self {
            ImagingOp::GetImagingSettings { .. } => "GetImagingSettings",
            ImagingOp::SetImagingSettings { .. } => "SetImagingSettings",
            ImagingOp::GetOptions { .. } => "GetOptions",
            ImagingOp::GetMoveOptions { .. } => "GetMoveOptions",
            ImagingOp::GetStatus { .. } => "GetStatus",
        }
    }

    /// The video source it is about.
    pub fn source(&self) -> &str {
        match self {
            ImagingOp::GetImagingSettings { source }
            | ImagingOp::SetImagingSettings { source, .. }
            | ImagingOp::GetOptions { source }
            | ImagingOp::GetMoveOptions { source }
            | ImagingOp::GetStatus { source } => source,
        }
    }
}

/// What a `SetImagingSettings` asks for, on ONVIF's 0..100 scale; what it leaves out stays.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImagingChange {
    pub brightness: Option<f64>,
    pub color_saturation: Option<f64>,
    pub contrast: Option<f64>,
    /// Settings it gave that Pinhole does not have, by their element names.
    pub unsupported: Vec<String>,
}

/// At most this many unsupported settings are named back.
const MAX_NAMED: usize = 12;

/// Reads an imaging request named `name`, if it is one Pinhole answers.
pub fn parse(op: roxmltree::Node<'_, '_>, name: &str) -> Result<Option<ImagingOp>, OnvifError> {
    let source = || field(op, &["VideoSourceToken"], "VideoSourceToken");
    Ok(Some(match name {
        "GetImagingSettings" => ImagingOp::GetImagingSettings { source: source()? },
        "GetOptions" => ImagingOp::GetOptions { source: source()? },
        "GetMoveOptions" => ImagingOp::GetMoveOptions { source: source()? },
        "GetStatus" => ImagingOp::GetStatus { source: source()? },
        "SetImagingSettings" => {
            let settings =
                child(op, "ImagingSettings").ok_or(OnvifError::Missing("ImagingSettings"))?;
            let mut change = ImagingChange::default();
            for e in settings.children().filter(|n| n.is_element()) {
                let (slot, name) = match e.tag_name().name() {
                    "Brightness" => (&mut change.brightness, "Brightness"),
                    "ColorSaturation" => (&mut change.color_saturation, "ColorSaturation"),
                    "Contrast" => (&mut change.contrast, "Contrast"),
                    other => {
                        if change.unsupported.len() < MAX_NAMED {
                            change.unsupported.push(other.chars().take(64).collect());
                        }
                        continue;
                    }
                };
                let t = text(e).trim();
                let v: f64 = t.parse().map_err(|_| invalid(name, t))?;
                if !v.is_finite() {
                    return Err(invalid(name, t));
                }
                *slot = Some(v);
            }
            ImagingOp::SetImagingSettings {
                source: source()?,
                change,
            }
        }
        _ => return Ok(None),
    }))
}

/// A source's settings, on ONVIF's 0..100 scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImagingValues {
    pub brightness: f64,
    pub color_saturation: f64,
    pub contrast: f64,
}

/// `GetImagingSettings`.
pub fn settings(v: &ImagingValues) -> String {
    format!(
        "<timg:GetImagingSettingsResponse><timg:ImagingSettings>\
         <tt:Brightness>{}</tt:Brightness><tt:ColorSaturation>{}</tt:ColorSaturation>\
         <tt:Contrast>{}</tt:Contrast></timg:ImagingSettings></timg:GetImagingSettingsResponse>",
        v.brightness, v.color_saturation, v.contrast
    )
}

/// `SetImagingSettings` done.
pub fn set_done() -> &'static str {
    "<timg:SetImagingSettingsResponse/>"
}

/// `GetOptions`: the ranges of the settings Pinhole has.
pub fn options() -> String {
    let range =
        |name: &str| format!("<tt:{name}><tt:Min>0</tt:Min><tt:Max>100</tt:Max></tt:{name}>");
    format!(
        "<timg:GetOptionsResponse><timg:ImagingOptions>{}{}{}</timg:ImagingOptions></timg:GetOptionsResponse>",
        range("Brightness"),
        range("ColorSaturation"),
        range("Contrast")
    )
}

/// `GetMoveOptions`: no focus to move.
pub fn move_options() -> &'static str {
    "<timg:GetMoveOptionsResponse><timg:MoveOptions/></timg:GetMoveOptionsResponse>"
}

/// `GetStatus`: no focus to report.
pub fn status() -> &'static str {
    "<timg:GetStatusResponse><timg:Status/></timg:GetStatusResponse>"
}

/// The service's capabilities (`GetServiceCapabilities`, and `GetServices` with capabilities).
pub fn capabilities() -> &'static str {
    "<timg:Capabilities ImageStabilization=\"false\" Presets=\"false\" AdaptablePreset=\"false\"/>"
}

/// `GetServiceCapabilities` of the imaging service.
pub fn service_capabilities() -> String {
    format!(
        "<timg:GetServiceCapabilitiesResponse>{}</timg:GetServiceCapabilitiesResponse>",
        capabilities()
    )
}

/// A reason naming the settings a request gave that Pinhole has not.
pub fn unsupported_reason(names: &[String]) -> String {
    format!(
        "this source's {} cannot be set here; Brightness, ColorSaturation and Contrast can",
        names.join(", ")
    )
}
