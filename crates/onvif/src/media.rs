//! The media services, Media (ver10) and Media2 (ver20): a camera's profiles (main and sub
//! streams), and their stream and snapshot URIs. Media2 is asked first where a device lists it:
//! it names H.265 and the audio codecs by their MIME names, where Media's enumeration has no
//! H.265 and cameras fill it in as they please.

use crate::OnvifError;
use crate::soap;
use crate::xml::{child, children, escape, text_at};

const NS_MEDIA: &str = "http://www.onvif.org/ver10/media/wsdl";
const NS_MEDIA2: &str = "http://www.onvif.org/ver20/media/wsdl";
const NS_SCHEMA: &str = "http://www.onvif.org/ver10/schema";

/// Which media service a device's profiles were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaService {
    Media,
    Media2,
}

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

/// Media2's profiles with every configuration.
pub fn get_profiles2() -> String {
    format!("<GetProfiles xmlns=\"{NS_MEDIA2}\"><Type>All</Type></GetProfiles>")
}

/// Media2's RTSP URI of a profile (unicast; interleaving is the RTSP client's choice).
pub fn get_stream_uri2(profile_token: &str) -> String {
    format!(
        "<GetStreamUri xmlns=\"{NS_MEDIA2}\"><Protocol>RtspUnicast</Protocol>\
         <ProfileToken>{}</ProfileToken></GetStreamUri>",
        escape(profile_token)
    )
}

pub fn get_snapshot_uri2(profile_token: &str) -> String {
    format!(
        "<GetSnapshotUri xmlns=\"{NS_MEDIA2}\"><ProfileToken>{}</ProfileToken></GetSnapshotUri>",
        escape(profile_token)
    )
}

fn video_encoding(name: &str) -> Option<VideoEncoding> {
    match name.trim().to_ascii_uppercase().as_str() {
        "H264" => Some(VideoEncoding::H264),
        "H265" | "HEVC" => Some(VideoEncoding::H265),
        "JPEG" => Some(VideoEncoding::Jpeg),
        "MPEG4" | "MPV4-ES" => Some(VideoEncoding::Mpeg4),
        _ => None,
    }
}

/// Media's `AudioEncoding` and Media2's MIME names alike.
fn audio_encoding(name: &str) -> Option<AudioEncoding> {
    match name.trim().to_ascii_uppercase().as_str() {
        "G711" | "PCMU" | "PCMA" => Some(AudioEncoding::G711),
        "G726" => Some(AudioEncoding::G726),
        "AAC" | "MP4A-LATM" | "MPEG4-GENERIC" => Some(AudioEncoding::Aac),
        _ => None,
    }
}

fn number(node: roxmltree::Node<'_, '_>, path: &[&str]) -> u32 {
    text_at(node, path)
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0 && *v <= f64::from(u32::MAX))
        .map_or(0, |v| v as u32)
}

/// Media's `GetProfiles` answer.
pub fn parse_profiles(answer: &str) -> Result<Vec<Profile>, OnvifError> {
    read_profiles(answer, |p| Configurations {
        video_encoder: child(p, "VideoEncoderConfiguration"),
        audio_encoder: child(p, "AudioEncoderConfiguration"),
        ptz: child(p, "PTZConfiguration"),
    })
}

/// Media2's `GetProfiles` answer (asked with `Type` All).
pub fn parse_profiles2(answer: &str) -> Result<Vec<Profile>, OnvifError> {
    read_profiles(answer, |p| {
        let set = child(p, "Configurations");
        Configurations {
            video_encoder: set.and_then(|s| child(s, "VideoEncoder")),
            audio_encoder: set.and_then(|s| child(s, "AudioEncoder")),
            ptz: set.and_then(|s| child(s, "PTZ")),
        }
    })
}

/// The profiles of a `GetProfilesResponse` with a token, each read from the configurations
/// `find` finds in it.
fn read_profiles(
    answer: &str,
    find: for<'a, 'i> fn(roxmltree::Node<'a, 'i>) -> Configurations<'a, 'i>,
) -> Result<Vec<Profile>, OnvifError> {
    soap::read(answer, |b| {
        if b.tag_name().name() != "GetProfilesResponse" {
            return Err(OnvifError::Missing("GetProfilesResponse"));
        }
        let mut out = Vec::new();
        for p in children(b, "Profiles") {
            let Some(token) = p.attribute("token").filter(|t| !t.is_empty()) else {
                continue;
            };
            out.push(profile(p, token, find(p)));
        }
        Ok(out)
    })
}

/// The configurations a profile is read from (Media and Media2 name and nest them differently).
struct Configurations<'a, 'i> {
    video_encoder: Option<roxmltree::Node<'a, 'i>>,
    audio_encoder: Option<roxmltree::Node<'a, 'i>>,
    ptz: Option<roxmltree::Node<'a, 'i>>,
}

fn profile(p: roxmltree::Node<'_, '_>, token: &str, c: Configurations<'_, '_>) -> Profile {
    let venc = c.video_encoder;
    let n = |path: &[&str]| venc.map_or(0, |v| number(v, path));
    Profile {
        token: token.to_string(),
        name: text_at(p, &["Name"]).unwrap_or(token).to_string(),
        encoding: venc
            .and_then(|v| text_at(v, &["Encoding"]))
            .and_then(video_encoding),
        width: n(&["Resolution", "Width"]),
        height: n(&["Resolution", "Height"]),
        fps: n(&["RateControl", "FrameRateLimit"]),
        bitrate_kbps: n(&["RateControl", "BitrateLimit"]),
        ptz_configuration: c.ptz.and_then(|c| c.attribute("token")).map(str::to_string),
        audio: c
            .audio_encoder
            .and_then(|a| text_at(a, &["Encoding"]))
            .and_then(audio_encoding),
    }
}

/// The URI of a GetStreamUri or GetSnapshotUri answer (Media's `MediaUri/Uri` or Media2's
/// `Uri`); only `rtsp://` and `http(s)://`.
pub fn parse_media_uri(answer: &str) -> Result<String, OnvifError> {
    soap::read(answer, |b| {
        let uri = text_at(b, &["MediaUri", "Uri"])
            .or_else(|| text_at(b, &["Uri"]))
            .ok_or(OnvifError::Missing("MediaUri/Uri"))?;
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

    /// A Media2 answer in the shape H.265 cameras give (Hikvision-like prefixes and order).
    const PROFILES2: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tr2="http://www.onvif.org/ver20/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><env:Body>
<tr2:GetProfilesResponse>
<tr2:Profiles token="Profile_1" fixed="true"><tr2:Name>mainStream</tr2:Name><tr2:Configurations>
<tr2:VideoSource token="VideoSourceToken"><tt:Name>VideoSourceConfig</tt:Name><tt:UseCount>3</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken><tt:Bounds x="0" y="0" width="3840" height="2160"/></tr2:VideoSource>
<tr2:AudioSource token="AudioSourceConfigToken"><tt:Name>AudioSourceConfig</tt:Name><tt:UseCount>3</tt:UseCount><tt:SourceToken>AudioSourceChannel</tt:SourceToken></tr2:AudioSource>
<tr2:VideoEncoder token="VideoEncoderToken_1" GovLength="50" Profile="Main"><tt:Name>VideoEncoder_1</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H265</tt:Encoding><tt:Resolution><tt:Width>3840</tt:Width><tt:Height>2160</tt:Height></tt:Resolution><tt:RateControl ConstantBitRate="false"><tt:FrameRateLimit>20.000000</tt:FrameRateLimit><tt:BitrateLimit>8192</tt:BitrateLimit></tt:RateControl><tt:Quality>3.000000</tt:Quality></tr2:VideoEncoder>
<tr2:AudioEncoder token="MainAudioEncoderToken"><tt:Name>AudioEncoderConfig</tt:Name><tt:UseCount>3</tt:UseCount><tt:Encoding>MP4A-LATM</tt:Encoding><tt:Bitrate>64</tt:Bitrate><tt:SampleRate>16</tt:SampleRate></tr2:AudioEncoder>
<tr2:PTZ token="PTZToken"><tt:Name>PTZ</tt:Name><tt:UseCount>2</tt:UseCount><tt:NodeToken>PTZNODETOKEN</tt:NodeToken></tr2:PTZ>
</tr2:Configurations></tr2:Profiles>
<tr2:Profiles token="Profile_2" fixed="true"><tr2:Name>subStream</tr2:Name><tr2:Configurations>
<tr2:VideoEncoder token="VideoEncoderToken_2" GovLength="50" Profile="Main"><tt:Name>VideoEncoder_2</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>640</tt:Width><tt:Height>360</tt:Height></tt:Resolution><tt:RateControl ConstantBitRate="true"><tt:FrameRateLimit>15</tt:FrameRateLimit><tt:BitrateLimit>512</tt:BitrateLimit></tt:RateControl><tt:Quality>3</tt:Quality></tr2:VideoEncoder>
<tr2:AudioEncoder token="SubAudioEncoderToken"><tt:Name>AudioEncoderConfig</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>PCMU</tt:Encoding><tt:Bitrate>64</tt:Bitrate><tt:SampleRate>8</tt:SampleRate></tr2:AudioEncoder>
</tr2:Configurations></tr2:Profiles>
<tr2:Profiles token="Profile_3" fixed="false"><tr2:Name>names only</tr2:Name></tr2:Profiles>
</tr2:GetProfilesResponse></env:Body></env:Envelope>"#;

    #[test]
    fn media2_profiles_name_h265_and_mime_audio() {
        let p = parse_profiles2(PROFILES2).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].encoding, Some(VideoEncoding::H265));
        assert_eq!(
            (p[0].width, p[0].height, p[0].fps, p[0].bitrate_kbps),
            (3840, 2160, 20, 8192)
        );
        assert_eq!(p[0].audio, Some(AudioEncoding::Aac));
        assert_eq!(p[0].ptz_configuration.as_deref(), Some("PTZToken"));
        assert_eq!(p[1].encoding, Some(VideoEncoding::H264));
        assert_eq!(p[1].audio, Some(AudioEncoding::G711));
        assert_eq!(p[1].ptz_configuration, None);
        // A profile without configurations is listed, with nothing known of its stream.
        assert_eq!((p[2].encoding, p[2].width), (None, 0));
        // Media's answer is not Media2's.
        assert!(parse_profiles2("<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><GetVideoSourcesResponse/></s:Body></s:Envelope>").is_err());
        let uri = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><tr2:GetStreamUriResponse xmlns:tr2="http://www.onvif.org/ver20/media/wsdl"><tr2:Uri>rtsp://10.0.0.5/Streaming/Channels/101</tr2:Uri></tr2:GetStreamUriResponse></s:Body></s:Envelope>"#;
        assert_eq!(
            parse_media_uri(uri).unwrap(),
            "rtsp://10.0.0.5/Streaming/Channels/101"
        );
        assert!(
            get_stream_uri2("a<b").contains("<Protocol>RtspUnicast</Protocol><ProfileToken>a&lt;b")
        );
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
