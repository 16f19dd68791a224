//! The PTZ service (ver20): moves, status, the camera's own presets, and what a PTZ node
//! supports (so the page offers only the moves the camera has).
//!
//! Values use the generic spaces every ONVIF PTZ device has: pan, tilt and zoom in -1..1
//! (positions and velocities; zoom positions 0..1). Values are clamped to those ranges.

use crate::OnvifError;
use crate::soap;
use crate::xml::{child, children, escape, text_at};

const NS_PTZ: &str = "http://www.onvif.org/ver20/ptz/wsdl";
const NS_SCHEMA: &str = "http://www.onvif.org/ver10/schema";

fn v(x: f64, lo: f64) -> String {
    let x = if x.is_finite() { x.clamp(lo, 1.0) } else { 0.0 };
    format!("{x:.4}")
}

fn token(name: &str, value: &str) -> String {
    format!("<{name}>{}</{name}>", escape(value))
}

fn vector(name: &str, pan_tilt: Option<(f64, f64)>, zoom: Option<f64>, zoom_lo: f64) -> String {
    let pt = pan_tilt
        .map(|(x, y)| {
            format!(
                "<PanTilt xmlns=\"{NS_SCHEMA}\" x=\"{}\" y=\"{}\"/>",
                v(x, -1.0),
                v(y, -1.0)
            )
        })
        .unwrap_or_default();
    let z = zoom
        .map(|z| format!("<Zoom xmlns=\"{NS_SCHEMA}\" x=\"{}\"/>", v(z, zoom_lo)))
        .unwrap_or_default();
    format!("<{name}>{pt}{z}</{name}>")
}

/// Move at these speeds (-1..1) until Stop (or `timeout_secs`, which cameras apply themselves).
pub fn continuous_move(
    profile: &str,
    pan: f64,
    tilt: f64,
    zoom: f64,
    timeout_secs: Option<u32>,
) -> String {
    let timeout = timeout_secs
        .map(|t| format!("<Timeout>PT{t}S</Timeout>"))
        .unwrap_or_default();
    format!(
        "<ContinuousMove xmlns=\"{NS_PTZ}\">{}{}{timeout}</ContinuousMove>",
        token("ProfileToken", profile),
        vector("Velocity", Some((pan, tilt)), Some(zoom), -1.0)
    )
}

pub fn stop(profile: &str) -> String {
    format!(
        "<Stop xmlns=\"{NS_PTZ}\">{}<PanTilt>true</PanTilt><Zoom>true</Zoom></Stop>",
        token("ProfileToken", profile)
    )
}

/// Go to a position: pan and tilt -1..1, zoom 0..1.
pub fn absolute_move(profile: &str, pan: f64, tilt: f64, zoom: Option<f64>) -> String {
    format!(
        "<AbsoluteMove xmlns=\"{NS_PTZ}\">{}{}</AbsoluteMove>",
        token("ProfileToken", profile),
        vector("Position", Some((pan, tilt)), zoom, 0.0)
    )
}

/// Move by a translation: each -1..1.
pub fn relative_move(profile: &str, pan: f64, tilt: f64, zoom: Option<f64>) -> String {
    format!(
        "<RelativeMove xmlns=\"{NS_PTZ}\">{}{}</RelativeMove>",
        token("ProfileToken", profile),
        vector("Translation", Some((pan, tilt)), zoom, -1.0)
    )
}

pub fn goto_home_position(profile: &str) -> String {
    format!(
        "<GotoHomePosition xmlns=\"{NS_PTZ}\">{}</GotoHomePosition>",
        token("ProfileToken", profile)
    )
}

pub fn get_status(profile: &str) -> String {
    format!(
        "<GetStatus xmlns=\"{NS_PTZ}\">{}</GetStatus>",
        token("ProfileToken", profile)
    )
}

pub fn get_presets(profile: &str) -> String {
    format!(
        "<GetPresets xmlns=\"{NS_PTZ}\">{}</GetPresets>",
        token("ProfileToken", profile)
    )
}

pub fn goto_preset(profile: &str, preset: &str) -> String {
    format!(
        "<GotoPreset xmlns=\"{NS_PTZ}\">{}{}</GotoPreset>",
        token("ProfileToken", profile),
        token("PresetToken", preset)
    )
}

/// Stores the current position as camera preset `name`: a new one, or over the preset
/// `existing` (its token).
pub fn set_preset(profile: &str, name: &str, existing: Option<&str>) -> String {
    format!(
        "<SetPreset xmlns=\"{NS_PTZ}\">{}{}{}</SetPreset>",
        token("ProfileToken", profile),
        token("PresetName", name),
        existing
            .map(|t| token("PresetToken", t))
            .unwrap_or_default()
    )
}

pub fn remove_preset(profile: &str, preset: &str) -> String {
    format!(
        "<RemovePreset xmlns=\"{NS_PTZ}\">{}{}</RemovePreset>",
        token("ProfileToken", profile),
        token("PresetToken", preset)
    )
}

pub fn get_nodes() -> String {
    format!("<GetNodes xmlns=\"{NS_PTZ}\"/>")
}

/// Where the camera points and whether it is moving.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    pub pan: Option<f64>,
    pub tilt: Option<f64>,
    pub zoom: Option<f64>,
    /// Some axis reports MOVING.
    pub moving: bool,
}

fn coordinate(node: Option<roxmltree::Node<'_, '_>>, attr: &str) -> Option<f64> {
    node?
        .attribute(attr)?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

pub fn parse_status(answer: &str) -> Result<Status, OnvifError> {
    soap::read(answer, |b| {
        let st = child(b, "PTZStatus").ok_or(OnvifError::Missing("PTZStatus"))?;
        let pos = child(st, "Position");
        let pt = pos.and_then(|p| child(p, "PanTilt"));
        let z = pos.and_then(|p| child(p, "Zoom"));
        let moving = child(st, "MoveStatus").is_some_and(|m| {
            m.descendants()
                .filter_map(|n| n.text())
                .any(|t| t.trim().eq_ignore_ascii_case("MOVING"))
        });
        Ok(Status {
            pan: coordinate(pt, "x"),
            tilt: coordinate(pt, "y"),
            zoom: coordinate(z, "x"),
            moving,
        })
    })
}

/// A preset stored in the camera.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraPreset {
    pub token: String,
    pub name: String,
}

pub fn parse_presets(answer: &str) -> Result<Vec<CameraPreset>, OnvifError> {
    soap::read(answer, |b| {
        if b.tag_name().name() != "GetPresetsResponse" {
            return Err(OnvifError::Missing("GetPresetsResponse"));
        }
        Ok(children(b, "Preset")
            .filter_map(|p| {
                let token = p.attribute("token").filter(|t| !t.is_empty())?;
                Some(CameraPreset {
                    token: token.to_string(),
                    name: text_at(p, &["Name"]).unwrap_or(token).to_string(),
                })
            })
            .collect())
    })
}

/// The token of the preset a SetPreset made.
pub fn parse_set_preset(answer: &str) -> Result<String, OnvifError> {
    soap::read(answer, |b| {
        text_at(b, &["PresetToken"])
            .map(str::to_string)
            .ok_or(OnvifError::Missing("PresetToken"))
    })
}

/// What a PTZ node can do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSupport {
    pub token: String,
    pub absolute: bool,
    pub relative: bool,
    pub continuous: bool,
    pub zoom: bool,
    pub max_presets: u32,
    pub home: bool,
}

pub fn parse_nodes(answer: &str) -> Result<Vec<NodeSupport>, OnvifError> {
    soap::read(answer, |b| {
        if b.tag_name().name() != "GetNodesResponse" {
            return Err(OnvifError::Missing("GetNodesResponse"));
        }
        Ok(children(b, "PTZNode")
            .map(|n| {
                let spaces = child(n, "SupportedPTZSpaces");
                let has = |name: &str| spaces.is_some_and(|s| child(s, name).is_some());
                NodeSupport {
                    token: n.attribute("token").unwrap_or("").to_string(),
                    absolute: has("AbsolutePanTiltPositionSpace"),
                    relative: has("RelativePanTiltTranslationSpace"),
                    continuous: has("ContinuousPanTiltVelocitySpace"),
                    zoom: has("AbsoluteZoomPositionSpace")
                        || has("RelativeZoomTranslationSpace")
                        || has("ContinuousZoomVelocitySpace"),
                    max_presets: text_at(n, &["MaximumNumberOfPresets"])
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0),
                    home: text_at(n, &["HomeSupported"]) == Some("true"),
                }
            })
            .collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(body: &str) -> String {
        format!(
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body>{body}</s:Body></s:Envelope>"#
        )
    }

    #[test]
    fn status_position_and_motion() {
        let a = env(
            r#"<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position><tt:PanTilt x="0.25" y="-0.5" space="http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace"/><tt:Zoom x="0.1"/></tt:Position><tt:MoveStatus><tt:PanTilt>MOVING</tt:PanTilt><tt:Zoom>IDLE</tt:Zoom></tt:MoveStatus><tt:UtcTime>2024-01-01T00:00:00Z</tt:UtcTime></tptz:PTZStatus></tptz:GetStatusResponse>"#,
        );
        let s = parse_status(&a).unwrap();
        assert_eq!(
            (s.pan, s.tilt, s.zoom, s.moving),
            (Some(0.25), Some(-0.5), Some(0.1), true)
        );
        let nan = a.replace("0.25", "NaN");
        assert_eq!(parse_status(&nan).unwrap().pan, None);
    }

    #[test]
    fn presets_and_set_preset() {
        let a = env(
            r#"<tptz:GetPresetsResponse><tptz:Preset token="1"><tt:Name>Door</tt:Name></tptz:Preset><tptz:Preset token="2"/><tptz:Preset><tt:Name>no token</tt:Name></tptz:Preset></tptz:GetPresetsResponse>"#,
        );
        let p = parse_presets(&a).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].token.as_str(), p[0].name.as_str()), ("1", "Door"));
        assert_eq!(p[1].name, "2");
        let s = env(
            "<tptz:SetPresetResponse><tptz:PresetToken>7</tptz:PresetToken></tptz:SetPresetResponse>",
        );
        assert_eq!(parse_set_preset(&s).unwrap(), "7");
    }

    #[test]
    fn node_support() {
        let a = env(
            r#"<tptz:GetNodesResponse><tptz:PTZNode token="N1"><tt:Name>n</tt:Name><tt:SupportedPTZSpaces><tt:AbsolutePanTiltPositionSpace/><tt:ContinuousPanTiltVelocitySpace/><tt:ContinuousZoomVelocitySpace/></tt:SupportedPTZSpaces><tt:MaximumNumberOfPresets>128</tt:MaximumNumberOfPresets><tt:HomeSupported>true</tt:HomeSupported></tptz:PTZNode></tptz:GetNodesResponse>"#,
        );
        let n = parse_nodes(&a).unwrap();
        assert_eq!(
            n,
            vec![NodeSupport {
                token: "N1".into(),
                absolute: true,
                relative: false,
                continuous: true,
                zoom: true,
                max_presets: 128,
                home: true
            }]
        );
    }

    #[test]
    fn requests_clamp_values_and_escape_tokens() {
        let m = continuous_move("p<1>", 2.0, f64::NAN, -0.5, Some(5));
        assert!(m.contains("x=\"1.0000\" y=\"0.0000\""), "{m}");
        assert!(m.contains("<Zoom xmlns=\"http://www.onvif.org/ver10/schema\" x=\"-0.5000\"/>"));
        assert!(m.contains("p&lt;1&gt;") && m.contains("<Timeout>PT5S</Timeout>"));
        let a = absolute_move("p", 0.5, -0.5, Some(-1.0));
        assert!(
            a.contains("<Zoom xmlns=\"http://www.onvif.org/ver10/schema\" x=\"0.0000\"/>"),
            "{a}"
        );
        // Every request is well-formed XML.
        for body in [
            m,
            a,
            stop("p"),
            relative_move("p", 0.1, 0.1, None),
            get_status("p"),
            get_presets("p"),
            goto_preset("p", "1"),
            set_preset("p", "a&b", None),
            set_preset("p", "1", Some("tok<1>")),
            goto_home_position("p"),
            remove_preset("p", "1"),
            get_nodes(),
        ] {
            crate::xml::parse(&crate::soap::envelope(&body, None)).unwrap();
        }
    }
}
