//! Media2 (ver20), the media service of Profile T and of recorders that ask for it first: the
//! same profiles as Media (ver10), with H.265 named as such, configurations listed by kind, and
//! stream URIs asked for by protocol. The answers reuse the configuration elements of
//! [`super::answer`]; only the containers and the encoder types differ.

use super::answer::{self, AudioInfo, Encoding, NO_MULTICAST, ProfileInfo, int_range, resolutions};
use crate::xml::escape;

pub use pinhole_base::media_profile::ConfigurationKind;

/// Reads a `tr2:ConfigurationEnumeration`: `All` gives every kind; kinds Pinhole never has
/// (analytics, audio output...) give none.
pub fn kinds_of(s: &str) -> Option<Vec<ConfigurationKind>> {
    use ConfigurationKind::*;
    Some(match s.trim() {
        "All" => ConfigurationKind::ALL.to_vec(),
        "VideoSource" => vec![VideoSource],
        "AudioSource" => vec![AudioSource],
        "VideoEncoder" => vec![VideoEncoder],
        "AudioEncoder" => vec![AudioEncoder],
        "PTZ" => vec![Ptz],
        "Metadata" => vec![Metadata],
        "Analytics" | "AudioOutput" | "AudioDecoder" | "Receiver" => vec![],
        _ => return None,
    })
}

/// A stream URI's transport, as `GetStreamUri`'s `Protocol` asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamProtocol {
    /// RTSP with RTP over UDP or interleaved, as the client sets up (`RtspUnicast`, `RTSP`).
    Rtsp,
    /// RTSP tunnelled over HTTP (`RtspOverHttp`), or multicast (`RtspMulticast`): not served.
    Unsupported,
}

impl StreamProtocol {
    pub fn parse(s: &str) -> StreamProtocol {
        match s.trim() {
            "RtspUnicast" | "RTSP" => StreamProtocol::Rtsp,
            _ => StreamProtocol::Unsupported,
        }
    }
}

/// Which configurations a list request asks for (`ConfigurationToken`, `ProfileToken`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigurationFilter {
    pub configuration: Option<String>,
    pub profile: Option<String>,
}

/// The media service's `Capabilities` element (for `GetServices` and `GetServiceCapabilities`).
pub fn capabilities(profiles: usize) -> String {
    format!(
        "<tr2:Capabilities SnapshotUri=\"true\" Rotation=\"false\" VideoSourceMode=\"false\" OSD=\"true\" \
         TemporaryOSDText=\"false\" Mask=\"false\" SourceMask=\"false\">\
         <tr2:ProfileCapabilities MaximumNumberOfProfiles=\"{profiles}\" \
         ConfigurationsSupported=\"VideoSource VideoEncoder AudioSource AudioEncoder PTZ Metadata\"/>\
         <tr2:StreamingCapabilities RTSPStreaming=\"true\" RTPMulticast=\"false\" RTP_RTSP_TCP=\"true\" \
         NonAggregateControl=\"false\" AutoStartMulticast=\"false\"/></tr2:Capabilities>"
    )
}

pub fn service_capabilities(profiles: usize) -> String {
    format!(
        "<tr2:GetServiceCapabilitiesResponse>{}</tr2:GetServiceCapabilitiesResponse>",
        capabilities(profiles)
    )
}

/// A `tt:VideoEncoder2Configuration`: the encoding by its MIME name, H.265 included.
pub fn video_encoder(p: &ProfileInfo, element: &str) -> String {
    format!(
        "<{element} token=\"{tok}\" GovLength=\"{}\" Profile=\"{}\">\
         <tt:Name>{tok}</tt:Name><tt:UseCount>1</tt:UseCount>\
         <tt:Encoding>{}</tt:Encoding>\
         <tt:Resolution><tt:Width>{}</tt:Width><tt:Height>{}</tt:Height></tt:Resolution>\
         <tt:RateControl ConstantBitRate=\"false\"><tt:FrameRateLimit>{}</tt:FrameRateLimit>\
         <tt:BitrateLimit>{}</tt:BitrateLimit></tt:RateControl>{NO_MULTICAST}\
         <tt:Quality>5</tt:Quality></{element}>",
        p.gov_length(),
        p.encoding.profile(),
        p.encoding.name(),
        p.width,
        p.height,
        p.fps,
        p.bitrate_kbps,
        tok = escape(&p.encoder_token())
    )
}

/// A `tt:AudioEncoder2Configuration`: AAC, as the RTSP mount carries it (`mpeg4-generic`).
pub fn audio_encoder(p: &ProfileInfo, a: &AudioInfo, element: &str) -> String {
    format!(
        "<{element} token=\"{tok}\"><tt:Name>{tok}</tt:Name><tt:UseCount>1</tt:UseCount>\
         <tt:Encoding>mpeg4-generic</tt:Encoding>{NO_MULTICAST}\
         <tt:Bitrate>{}</tt:Bitrate><tt:SampleRate>{}</tt:SampleRate></{element}>",
        a.bitrate_kbps,
        a.sample_rate_khz(),
        tok = escape(&p.audio_encoder_token())
    )
}

fn configurations(p: &ProfileInfo, kinds: &[ConfigurationKind]) -> String {
    use ConfigurationKind::*;
    let has = |k| kinds.contains(&k) && p.has(k);
    let mut out = String::new();
    // The schema's order: video source, audio source, video encoder, audio encoder, ..., PTZ,
    // metadata.
    if has(VideoSource) {
        out.push_str(&answer::source_configuration(p, "tr2:VideoSource"));
    }
    if has(AudioSource) {
        out.push_str(&answer::audio_source_configuration(p, "tr2:AudioSource"));
    }
    if has(VideoEncoder) {
        out.push_str(&video_encoder(p, "tr2:VideoEncoder"));
    }
    if let (true, Some(a)) = (has(AudioEncoder), &p.audio) {
        out.push_str(&audio_encoder(p, a, "tr2:AudioEncoder"));
    }
    if let (true, Some(z)) = (has(Ptz), p.ptz()) {
        out.push_str(&answer::ptz_configuration(z, "tr2:PTZ"));
    }
    if has(Metadata) {
        out.push_str(&super::metadata::configuration(p, "tr2:Metadata"));
    }
    out
}

/// `GetProfiles`: names and tokens, with the configurations of `kinds` (none when no `Type`
/// was asked for, as the specification says).
pub fn profiles(list: &[ProfileInfo], kinds: &[ConfigurationKind]) -> String {
    let all: String = list
        .iter()
        .map(|p| {
            let configs = if kinds.is_empty() {
                String::new()
            } else {
                format!(
                    "<tr2:Configurations>{}</tr2:Configurations>",
                    configurations(p, kinds)
                )
            };
            format!(
                "<tr2:Profiles token=\"{}\" fixed=\"{}\"><tr2:Name>{}</tr2:Name>{configs}</tr2:Profiles>",
                escape(&p.token),
                p.fixed,
                escape(&p.name)
            )
        })
        .collect();
    format!("<tr2:GetProfilesResponse>{all}</tr2:GetProfilesResponse>")
}

/// The answer to `Get<Kind>Configurations` with the configurations of `list` (already chosen
/// and without repeats).
pub fn configuration_list(kind: ConfigurationKind, list: &[ProfileInfo]) -> String {
    use ConfigurationKind::*;
    let (operation, one): (&str, &dyn Fn(&ProfileInfo) -> String) = match kind {
        VideoSource => ("GetVideoSourceConfigurations", &|p| {
            answer::source_configuration(p, "tr2:Configurations")
        }),
        AudioSource => ("GetAudioSourceConfigurations", &|p| {
            answer::audio_source_configuration(p, "tr2:Configurations")
        }),
        VideoEncoder => ("GetVideoEncoderConfigurations", &|p| {
            video_encoder(p, "tr2:Configurations")
        }),
        AudioEncoder => ("GetAudioEncoderConfigurations", &|p| {
            p.audio
                .map(|a| audio_encoder(p, &a, "tr2:Configurations"))
                .unwrap_or_default()
        }),
        Ptz => ("GetPTZConfigurations", &|p| {
            p.ptz
                .as_ref()
                .map(|z| answer::ptz_configuration(z, "tr2:Configurations"))
                .unwrap_or_default()
        }),
        Metadata => ("GetMetadataConfigurations", &|p| {
            super::metadata::configuration(p, "tr2:Configurations")
        }),
    };
    let all: String = list.iter().map(one).collect();
    format!("<tr2:{operation}Response>{all}</tr2:{operation}Response>")
}

/// The answer to a profile edit of Media2: `CreateProfile` gives the new profile's token, the
/// others answer empty.
pub fn profile_edited(name: &str, made: Option<&ProfileInfo>) -> String {
    match made {
        Some(p) => format!(
            "<tr2:CreateProfileResponse><tr2:Token>{}</tr2:Token></tr2:CreateProfileResponse>",
            escape(&p.token)
        ),
        None => format!("<tr2:{name}Response/>"),
    }
}

/// `GetVideoEncoderInstances`: the streams a source's encoders give at once, by codec
/// (`(encoding, number)`, the codecs with none left out).
pub fn video_encoder_instances(codecs: &[(Encoding, usize)]) -> String {
    let total: usize = codecs.iter().map(|(_, n)| n).sum();
    let each: String = codecs
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(e, n)| {
            format!(
                "<tr2:Codec><tr2:Encoding>{}</tr2:Encoding><tr2:Number>{n}</tr2:Number></tr2:Codec>",
                e.name()
            )
        })
        .collect();
    format!(
        "<tr2:GetVideoEncoderInstancesResponse><tr2:Info>{each}<tr2:Total>{total}</tr2:Total>\
         </tr2:Info></tr2:GetVideoEncoderInstancesResponse>"
    )
}

/// The token of a profile's configuration of `kind`, if it holds one.
pub fn configuration_token(p: &ProfileInfo, kind: ConfigurationKind) -> Option<String> {
    p.has(kind).then(|| offered_token(p, kind)).flatten()
}

/// The token of the configuration of `kind` that profile `p`'s stream has, whether `p` holds
/// it or not: what one of Pinhole's own profiles offers to the profiles clients make (its
/// metadata, which it does not hold itself).
pub fn offered_token(p: &ProfileInfo, kind: ConfigurationKind) -> Option<String> {
    use ConfigurationKind::*;
    match kind {
        VideoSource => Some(p.source.clone()),
        AudioSource => p.audio.map(|_| p.audio_source_token()),
        VideoEncoder => Some(p.encoder_token()),
        AudioEncoder => p.audio.map(|_| p.audio_encoder_token()),
        Ptz => p.ptz.as_ref().map(|z| z.configuration.clone()),
        Metadata => Some(p.metadata_token()),
    }
}

/// `GetVideoEncoderConfigurationOptions`: what each encoder can be set to
/// ([`ProfileInfo::offered`]).
pub fn video_encoder_options(list: &[ProfileInfo]) -> String {
    let all: String = list
        .iter()
        .map(|p| {
            let answer::Offered {
                resolutions: sizes,
                fps,
                bitrate_kbps: bitrate,
                gov,
            } = p.offered();
            let rates: Vec<String> = (fps.0..=fps.1).rev().map(|f| f.to_string()).collect();
            format!(
                "<tr2:Options GovLengthRange=\"{} {}\" FrameRatesSupported=\"{}\" \
                 ProfilesSupported=\"{}\" ConstantBitRateSupported=\"false\">\
                 <tt:Encoding>{}</tt:Encoding><tt:QualityRange>{}</tt:QualityRange>\
                 {}<tt:BitrateRange>{}</tt:BitrateRange></tr2:Options>",
                gov.0,
                gov.1,
                rates.join(" "),
                p.encoding.profile(),
                p.encoding.name(),
                int_range(5, 5),
                resolutions(&sizes),
                int_range(bitrate.0, bitrate.1),
            )
        })
        .collect();
    format!(
        "<tr2:GetVideoEncoderConfigurationOptionsResponse>{all}</tr2:GetVideoEncoderConfigurationOptionsResponse>"
    )
}

/// `SetVideoEncoderConfiguration` done.
pub fn video_encoder_configuration_set() -> &'static str {
    "<tr2:SetVideoEncoderConfigurationResponse/>"
}

pub fn stream_uri(uri: &str) -> String {
    format!(
        "<tr2:GetStreamUriResponse><tr2:Uri>{}</tr2:Uri></tr2:GetStreamUriResponse>",
        escape(uri)
    )
}

pub fn snapshot_uri(uri: &str) -> String {
    format!(
        "<tr2:GetSnapshotUriResponse><tr2:Uri>{}</tr2:Uri></tr2:GetSnapshotUriResponse>",
        escape(uri)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::answer::Encoding;
    use crate::server::tests::sample_profiles;

    /// The sample's main stream (audio, PTZ) in H.265, its sub stream in H.264.
    fn h265_main_h264_sub() -> Vec<ProfileInfo> {
        let mut list = sample_profiles();
        list[0].encoding = Encoding::H265;
        list[1].encoding = Encoding::H264;
        list
    }

    #[test]
    fn profiles_carry_the_kinds_asked_for_in_the_schemas_order() {
        let mut list = h265_main_h264_sub();
        // As a profile a client made with every kind.
        list[0].parts.insert(ConfigurationKind::Metadata);
        let p = &list[..1];
        let all = profiles(p, &kinds_of("All").unwrap());
        let text = answer::envelope(&all, false);
        let doc = roxmltree::Document::parse(&text).expect("well-formed");
        let set = doc
            .descendants()
            .find(|n| n.tag_name().name() == "Configurations")
            .expect("configurations");
        let order: Vec<&str> = set
            .children()
            .filter(|n| n.is_element())
            .map(|n| n.tag_name().name())
            .collect();
        assert_eq!(
            order,
            [
                "VideoSource",
                "AudioSource",
                "VideoEncoder",
                "AudioEncoder",
                "PTZ",
                "Metadata"
            ]
        );
        assert!(all.contains("<tt:Encoding>H265</tt:Encoding>"));
        assert!(all.contains("<tt:Encoding>mpeg4-generic</tt:Encoding>"));
        assert!(all.contains("Porch &amp; door"));
        // No Type: names and tokens only.
        assert!(!profiles(p, &[]).contains("Configurations"));
        let video = profiles(&list[1..], &kinds_of("VideoEncoder").unwrap());
        assert!(
            video.contains("<tt:Encoding>H264</tt:Encoding>") && !video.contains("VideoSource")
        );
        assert_eq!(
            kinds_of("Metadata"),
            Some(vec![ConfigurationKind::Metadata])
        );
        assert_eq!(kinds_of("Analytics"), Some(vec![]));
        assert_eq!(kinds_of("Everything"), None);
    }

    #[test]
    fn our_own_client_reads_our_profiles_back() {
        let list = h265_main_h264_sub();
        let kinds = kinds_of("All").unwrap();
        let text = answer::envelope(&profiles(&list, &kinds), false);
        let read = crate::media::parse_profiles2(&text).expect("parses");
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].encoding, Some(crate::media::VideoEncoding::H265));
        assert_eq!(read[0].audio, Some(crate::media::AudioEncoding::Aac));
        assert_eq!(
            (
                read[0].width,
                read[0].height,
                read[0].fps,
                read[0].bitrate_kbps
            ),
            (1280, 720, 25, 2000)
        );
        assert_eq!(read[0].ptz_configuration.as_deref(), Some("ptzcfg_cam<1>"));
        assert_eq!(read[1].encoding, Some(crate::media::VideoEncoding::H264));
        assert_eq!(
            (read[1].audio, read[1].ptz_configuration.as_deref()),
            (None, None)
        );
        let uri = answer::envelope(&stream_uri("rtsp://h:8554/camera0?a=1&b=2"), false);
        assert_eq!(
            crate::media::parse_media_uri(&uri).unwrap(),
            "rtsp://h:8554/camera0?a=1&b=2"
        );
    }

    #[test]
    fn configuration_tokens_match_the_listed_ones() {
        let [p, silent] = <[ProfileInfo; 2]>::try_from(sample_profiles()).expect("two profiles");
        for kind in [
            ConfigurationKind::VideoSource,
            ConfigurationKind::AudioSource,
            ConfigurationKind::VideoEncoder,
            ConfigurationKind::AudioEncoder,
            ConfigurationKind::Ptz,
        ] {
            let token = configuration_token(&p, kind).expect("token");
            let list = configuration_list(kind, std::slice::from_ref(&p));
            assert!(
                list.contains(&format!("token=\"{}\"", escape(&token))),
                "{kind:?}: {list}"
            );
        }
        assert_eq!(
            configuration_token(&silent, ConfigurationKind::AudioEncoder),
            None
        );
        assert_eq!(StreamProtocol::parse("RtspUnicast"), StreamProtocol::Rtsp);
        assert_eq!(
            StreamProtocol::parse("RtspOverHttp"),
            StreamProtocol::Unsupported
        );
    }
}
