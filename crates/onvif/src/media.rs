//! The media service (ver10): a camera's profiles (main and sub streams), and their stream
//! and snapshot URIs.

use crate::OnvifError;
use crate::soap;
use crate::xml::{child, children, escape, text_at};

const NS_MEDIA: &str = "http://www.onvif.org/ver10/media/wsdl";
const NS_SCHEMA: &str = "http://www.onvif.org/ver10/schema";

/// A profile's video codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoEncoding {
    H264,
    H265,
    Jpeg,
    Mpeg4,
}

/// A profile's audio codec (ONVIF's `AudioEncoding`; AAC and G.711 are what Pinhole keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioEncoding {
    G711,
    G726,
    Aac,
}

/// One media profile: a stream the camera offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub token: String,
    pub name: String,
    /// `None` when the profile has no video encoder (audio or metadata only) or one we do not know.
    pub encoding: Option<VideoEncoding>,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// The PTZ configuration's token, when the profile can steer the camera.
    pub ptz_configuration: Option<String>,
    /// The audio the stream carries, when its profile has an audio encoder Pinhole knows.
    pub audio: Option<AudioEncoding>,
}

impl Profile {
    /// Pixels, to pick the main (largest) and sub (smallest) stream.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

pub fn get_profiles() -> String {
    format!("<GetProfiles xmlns=\"{NS_MEDIA}\"/>")
}

/// RTP over RTSP (TCP interleaving is chosen by the RTSP client, not here).
pub fn get_stream_uri(profile_token: &str) -> String {
    format!(
        "<GetStreamUri xmlns=\"{NS_MEDIA}\"><StreamSetup><Stream xmlns=\"{NS_SCHEMA}\">RTP-Unicast</Stream>\
         <Transport xmlns=\"{NS_SCHEMA}\"><Protocol>RTSP</Protocol></Transport></StreamSetup>\
         <ProfileToken>{}</ProfileToken></GetStreamUri>",
        escape(profile_token)
    )
}

pub fn get_snapshot_uri(profile_token: &str) -> String {
    format!(
        "<GetSnapshotUri xmlns=\"{NS_MEDIA}\"><ProfileToken>{}</ProfileToken></GetSnapshotUri>",
        escape(profile_token)
    )
}

fn number(node: roxmltree::Node<'_, '_>, path: &[&str]) -> u32 {
    text_at(node, path)
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0 && *v <= f64::from(u32::MAX))
        .map_or(0, |v| v as u32)
}

pub fn parse_profiles(answer: &str) -> Result<Vec<Profile>, OnvifError> {
    soap::read(answer, |b| {
        if b.tag_name().name() != "GetProfilesResponse" {
            return Err(OnvifError::Missing("GetProfilesResponse"));
        }
        let mut out = Vec::new();
        for p in children(b, "Profiles") {
            let Some(token) = p.attribute("token").filter(|t| !t.is_empty()) else {
                continue;
            };
            let venc = child(p, "VideoEncoderConfiguration");
            let encoding = venc.and_then(|v| text_at(v, &["Encoding"])).and_then(|e| {
                match e.to_ascii_uppercase().as_str() {
                    "H264" => Some(VideoEncoding::H264),
                    "H265" | "HEVC" => Some(VideoEncoding::H265),
                    "JPEG" => Some(VideoEncoding::Jpeg),
                    "MPEG4" => Some(VideoEncoding::Mpeg4),
                    _ => None,
                }
            });
            let n = |path: &[&str]| venc.map_or(0, |v| number(v, path));
            out.push(Profile {
                token: token.to_string(),
                name: text_at(p, &["Name"]).unwrap_or(token).to_string(),
                encoding,
                width: n(&["Resolution", "Width"]),
                height: n(&["Resolution", "Height"]),
                fps: n(&["RateControl", "FrameRateLimit"]),
                bitrate_kbps: n(&["RateControl", "BitrateLimit"]),
                ptz_configuration: child(p, "PTZConfiguration")
                    .and_then(|c| c.attribute("token"))
                    .map(str::to_string),
                audio: child(p, "AudioEncoderConfiguration")
                    .and_then(|a| text_at(a, &["Encoding"]))
                    .and_then(|e| match e.to_ascii_uppercase().as_str() {
                        "G711" => Some(AudioEncoding::G711),
                        "G726" => Some(AudioEncoding::G726),
                        "AAC" => Some(AudioEncoding::Aac),
                        _ => None,
                    }),
            });
        }
        Ok(out)
    })
}

/// The URI of a GetStreamUri or GetSnapshotUri answer; only `rtsp://` and `http(s)://`.
pub fn parse_media_uri(answer: &str) -> Result<String, OnvifError> {
    soap::read(answer, |b| {
        let uri = text_at(b, &["MediaUri", "Uri"]).ok_or(OnvifError::Missing("MediaUri/Uri"))?;
        let scheme_ok = ["rtsp://", "rtsps://", "http://", "https://"]
            .iter()
            .any(|s| uri.len() > s.len() && uri[..s.len()].eq_ignore_ascii_case(s));
        if !scheme_ok || uri.chars().any(char::is_control) {
            return Err(OnvifError::Invalid {
                field: "MediaUri",
                value: uri.to_string(),
            });
        }
        Ok(uri.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><env:Body>
<trt:GetProfilesResponse>
<trt:Profiles token="Profile_1" fixed="true"><tt:Name>mainStream</tt:Name>
<tt:VideoEncoderConfiguration token="VideoEncoderToken_1"><tt:Name>VideoEncoder_1</tt:Name><tt:UseCount>1</tt:UseCount>
<tt:Encoding>H265</tt:Encoding><tt:Resolution><tt:Width>2560</tt:Width><tt:Height>1440</tt:Height></tt:Resolution>
<tt:Quality>5</tt:Quality><tt:RateControl><tt:FrameRateLimit>25</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>4096</tt:BitrateLimit></tt:RateControl></tt:VideoEncoderConfiguration>
<tt:PTZConfiguration token="PTZToken"><tt:Name>PTZ</tt:Name><tt:NodeToken>PTZNODETOKEN</tt:NodeToken></tt:PTZConfiguration>
</trt:Profiles>
<trt:Profiles token="Profile_2" fixed="true"><tt:Name>subStream</tt:Name>
<tt:VideoEncoderConfiguration token="VideoEncoderToken_2"><tt:Name>VideoEncoder_2</tt:Name>
<tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>640</tt:Width><tt:Height>360</tt:Height></tt:Resolution>
<tt:RateControl><tt:FrameRateLimit>15</tt:FrameRateLimit><tt:BitrateLimit>512</tt:BitrateLimit></tt:RateControl></tt:VideoEncoderConfiguration>
</trt:Profiles>
<trt:Profiles token=""><tt:Name>broken</tt:Name></trt:Profiles>
</trt:GetProfilesResponse></env:Body></env:Envelope>"#;

    #[test]
    fn profiles_main_and_sub() {
        let p = parse_profiles(PROFILES).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].token, "Profile_1");
        assert_eq!(p[0].encoding, Some(VideoEncoding::H265));
        assert_eq!((p[0].width, p[0].height, p[0].fps), (2560, 1440, 25));
        assert_eq!(p[0].ptz_configuration.as_deref(), Some("PTZToken"));
        assert_eq!(p[1].name, "subStream");
        assert_eq!(p[1].encoding, Some(VideoEncoding::H264));
        assert_eq!(p[1].bitrate_kbps, 512);
        assert_eq!(p[1].ptz_configuration, None);
    }

    #[test]
    fn stream_uri_and_hostile_ones() {
        let answer = |uri: &str| {
            format!(
                r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><trt:GetStreamUriResponse xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><trt:MediaUri><tt:Uri>{uri}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect></trt:MediaUri></trt:GetStreamUriResponse></s:Body></s:Envelope>"#
            )
        };
        assert_eq!(
            parse_media_uri(&answer("rtsp://10.0.0.5:554/Streaming/Channels/101?transportmode=unicast&amp;profile=Profile_1")).unwrap(),
            "rtsp://10.0.0.5:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1"
        );
        for bad in [
            "file:///etc/passwd",
            "rtsp://",
            "javascript:alert(1)",
            "rtsp://a&#10;b",
        ] {
            assert!(
                matches!(
                    parse_media_uri(&answer(bad)),
                    Err(OnvifError::Invalid { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn tokens_in_requests_are_escaped() {
        let body = get_stream_uri("a</ProfileToken><x>");
        assert!(body.contains("a&lt;/ProfileToken&gt;&lt;x&gt;"));
    }
}
