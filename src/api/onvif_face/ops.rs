//! What each ONVIF operation means on the appliance: cameras as media profiles (a camera's main
//! stream has its id as token, its sub stream `<id>.sub`; clients may make profiles of their
//! own from their configurations, kept in the store), PTZ through the same
//! [`crate::api::ptz_ops`] as the REST routes and JSON-RPC (the same checks, tours stopped by a
//! manual move, events), and Pinhole's named presets as the camera's ONVIF presets.
//!
//! Positions go between the camera's own units and ONVIF's generic spaces linearly over the
//! camera's limits: pan and tilt -1..1, zoom 0..1.

use crate::api::SharedState;
use crate::api::error::ApiError;
use crate::api::ptz_ops;
use crate::onvif::server::answer::{
    self, AudioInfo, DeviceInfo, EncoderChoices, Encoding, Endpoints, Fault, InterfaceInfo,
    Position, PresetInfo, ProfileInfo, PtzInfo,
};
use crate::onvif::server::imaging::{self, ImagingOp, ImagingValues};
use crate::onvif::server::media2::ConfigurationKind;
use crate::onvif::server::metadata::{self, MetadataOp};
use crate::onvif::server::osd::{self, MediaVersion, OsdOp};
use crate::onvif::server::{EncoderChange, Media2Op, Operation, Service, Vector};
use crate::onvif::server::{PartRef, ProfileEdit};
use crate::onvif::server::{events, media2, profiles};
use crate::ptz::profile::Profile;
use crate::store::presets;
use pinhole_base::picture::PictureChange;

/// The request a ONVIF operation is answered for.
pub struct Context<'a> {
    pub state: &'a SharedState,
    /// The `Host` the client reached Pinhole by: the host of every URL handed back.
    pub host: &'a str,
    /// `http` or `https`, as the client came: the services' and snapshots' URLs keep it.
    pub scheme: &'static str,
    /// Who sent it (none for the operations a client needs before it signs in).
    pub user: Option<&'a super::OnvifUser>,
    /// The pull-point subscription it was posted to.
    pub subscription: Option<&'a str>,
    /// The address it came from.
    pub client: std::net::IpAddr,
}

impl Context<'_> {
    fn endpoints(&self) -> Endpoints {
        Endpoints {
            base: format!("{}://{}", self.scheme, self.host),
        }
    }

    /// The RTSP URL of a profile's stream, at the host the client used.
    fn stream_url(&self, profile: &str) -> Result<String, Fault> {
        let p = streamed(self.state, profile)?;
        let e = self
            .state
            .media
            .as_ref()
            .ok_or_else(|| Fault::Receiver("the media engine is off".into()))?;
        let handle = match p.stream.strip_suffix(SUB) {
            Some(id) => format!("{id}{}", crate::media::SUB_SUFFIX),
            None => p.stream.clone(),
        };
        Ok(if p.has(ConfigurationKind::Metadata) {
            e.metadata_url(&handle, Some(self.host))
        } else {
            e.stream_url(&handle, Some(self.host))
        })
    }

    /// The URL of a profile's live JPEG.
    fn snapshot_url(&self, profile: &str) -> Result<String, Fault> {
        let stream = streamed(self.state, profile)?.stream;
        Ok(format!("{}/onvif/snapshot/{stream}", self.endpoints().base))
    }

    /// The address of event subscription `id` (its pull point and subscription manager).
    fn subscription_url(&self, id: &str) -> String {
        format!(
            "{}{}/{id}",
            self.endpoints().base,
            Service::Subscription.path()
        )
    }

    /// The account an event subscription belongs to.
    fn owner(&self) -> Result<&str, Fault> {
        self.user
            .map(|u| u.username.as_str())
            .ok_or_else(|| Fault::NotAuthorized("sign the request".into()))
    }

    /// The subscription a pull-point request is for.
    fn pull_point(&self) -> Result<(&str, &str), Fault> {
        let id = self
            .subscription
            .ok_or_else(|| Fault::ActionNotSupported("post this to a subscription".into()))?;
        Ok((id, self.owner()?))
    }
}

/// The profiles whose configuration of `kind` a request names (by profile, by configuration
/// token, or all), each configuration once (main and sub stream share their sources).
fn configurations_of(
    state: &SharedState,
    kind: ConfigurationKind,
    filter: &media2::ConfigurationFilter,
) -> Result<Vec<ProfileInfo>, Fault> {
    // Configurations are Pinhole's own; a made profile only refers to some of them.
    let mut list = if filter.profile.is_some() {
        profiles(state)
    } else {
        own_profiles(state)
    };
    if let Some(p) = &filter.profile {
        list.retain(|x| &x.token == p);
        if list.is_empty() {
            return Err(Fault::NoProfile(format!("no profile `{p}`")));
        }
    }
    // A profile's own, or what Pinhole's own profiles offer (their metadata, which they do not
    // hold).
    let by_profile = filter.profile.is_some();
    let token = |p: &ProfileInfo| match by_profile {
        true => media2::configuration_token(p, kind),
        false => media2::offered_token(p, kind),
    };
    list.retain(|p| token(p).is_some());
    if let Some(c) = &filter.configuration {
        list.retain(|p| token(p).as_deref() == Some(c.as_str()));
        if list.is_empty() {
            return Err(Fault::NoConfig(format!("no such configuration `{c}`")));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    list.retain(|p| seen.insert(token(p)));
    Ok(list)
}

/// How many streams of each codec video source configuration `source` gives at once (its
/// main stream, and its sub stream when it has one).
fn encoders_of_source(state: &SharedState, source: &str) -> Result<[(Encoding, usize); 2], Fault> {
    let streams: Vec<Encoding> = own_profiles(state)
        .into_iter()
        .filter(|p| p.source == source)
        .map(|p| p.encoding)
        .collect();
    if streams.is_empty() {
        return Err(Fault::NoConfig(format!(
            "no video source configuration `{source}`"
        )));
    }
    let count = |e: Encoding| streams.iter().filter(|s| **s == e).count();
    Ok([
        (Encoding::H264, count(Encoding::H264)),
        (Encoding::H265, count(Encoding::H265)),
    ])
}

/// `GetVideoSourceConfigurationOptions` of either media service: the sources the filter
/// names (all without one), each with its picture's size.
fn video_source_options(
    state: &SharedState,
    v: MediaVersion,
    filter: &media2::ConfigurationFilter,
) -> Result<String, Fault> {
    let sources: Vec<(String, u32, u32)> =
        configurations_of(state, ConfigurationKind::VideoSource, filter)?
            .into_iter()
            .map(|p| (p.source, p.width, p.height))
            .collect();
    Ok(answer::video_source_options(
        v,
        &sources,
        profile_room(state),
    ))
}

/// The one configuration of `kind` with token `configuration`.
fn one_configuration(
    state: &SharedState,
    kind: ConfigurationKind,
    configuration: &str,
) -> Result<ProfileInfo, Fault> {
    let filter = media2::ConfigurationFilter {
        configuration: Some(configuration.to_string()),
        profile: None,
    };
    configurations_of(state, kind, &filter)?
        .into_iter()
        .next()
        .ok_or_else(|| Fault::NoConfig(format!("no such configuration `{configuration}`")))
}

/// A Media2 request: the same profiles as Media (ver10), listed the Media2 way.
async fn media2_answer(ctx: &Context<'_>, m: &Media2Op) -> Result<String, Fault> {
    Ok(match m {
        Media2Op::Osd(o) => on_screen(ctx.state, MediaVersion::V20, o).await?,
        Media2Op::Metadata(m) => metadata_configurations(ctx.state, MediaVersion::V20, m)?,
        Media2Op::GetProfiles { token, kinds } => {
            let list = match token {
                Some(t) => vec![find_profile(ctx.state, t)?],
                None => profiles(ctx.state),
            };
            media2::profiles(&list, kinds)
        }
        Media2Op::GetConfigurations { kind, filter } => {
            media2::configuration_list(*kind, &configurations_of(ctx.state, *kind, filter)?)
        }
        Media2Op::GetVideoEncoderConfigurationOptions { filter } => media2::video_encoder_options(
            &configurations_of(ctx.state, ConfigurationKind::VideoEncoder, filter)?,
        ),
        Media2Op::GetVideoSourceConfigurationOptions { filter } => {
            video_source_options(ctx.state, MediaVersion::V20, filter)?
        }
        Media2Op::GetVideoEncoderInstances { configuration } => {
            media2::video_encoder_instances(&encoders_of_source(ctx.state, configuration)?)
        }
        Media2Op::GetStreamUri { profile, protocol } => {
            if *protocol != media2::StreamProtocol::Rtsp {
                return Err(Fault::InvalidArgs(
                    "Pinhole streams over RTSP: ask for RtspUnicast or RTSP".into(),
                ));
            }
            media2::stream_uri(&ctx.stream_url(profile)?)
        }
        Media2Op::GetSnapshotUri { profile } => media2::snapshot_uri(&ctx.snapshot_url(profile)?),
        Media2Op::SetVideoEncoderConfiguration(change) => {
            set_encoder(ctx, change).await?;
            media2::video_encoder_configuration_set().to_string()
        }
        Media2Op::EditProfile { name, edit } => {
            media2::profile_edited(name, edit_profile(ctx.state, edit).await?.as_ref())
        }
    })
}

/// A new event subscription: a pull point, or one posting `Notify` to `consumer` (which must be
/// the client's own address).
async fn subscribe(
    ctx: &Context<'_>,
    filter: &events::TopicFilter,
    termination: Option<events::Termination>,
    consumer: Option<&String>,
) -> Result<String, Fault> {
    let state = ctx.state;
    if let Some(c) = consumer {
        super::events::consumer_is_the_client(c, ctx.client).await?;
    }
    let (id, ends) = state.onvif.events.create(
        ctx.owner()?,
        filter.clone(),
        termination,
        consumer.cloned(),
        &sources(state),
        state.now_ms(),
    )?;
    let address = ctx.subscription_url(&id);
    let delivery = match consumer {
        None => events::Delivery::PullPoint,
        Some(_) => {
            tokio::spawn(super::events::deliver(state.clone(), id, address.clone()));
            events::Delivery::Notify
        }
    };
    Ok(events::subscription_made(
        delivery,
        &address,
        state.clock.now_secs(),
        ends,
    ))
}

/// Every camera's video source token, in profile order.
fn sources(state: &SharedState) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    own_profiles(state)
        .into_iter()
        .map(|p| p.source)
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

/// A profile token's sub-stream suffix (camera ids cannot hold a dot).
const SUB: &str = ".sub";
/// The most presets one camera keeps.
const MAX_PRESETS: u32 = 100;
/// How long a continuous move lasts when the request gives no timeout.
const DEFAULT_MOVE_TIMEOUT_MS: u64 = 5_000;

impl From<ApiError> for Fault {
    fn from(e: ApiError) -> Fault {
        e.onvif_fault()
    }
}

fn ptz_fault(e: ptz_ops::PtzOpError) -> Fault {
    ApiError::from(e).into()
}

/// The camera whose video source `token` is.
fn camera_of_source(state: &SharedState, token: &str) -> Result<String, Fault> {
    own_profiles(state)
        .into_iter()
        .find(|p| p.source == token && !p.stream.ends_with(SUB))
        .map(|p| p.stream)
        .ok_or_else(|| Fault::NoSource(format!("no video source `{token}`")))
}

/// An imaging request: the picture of the source's camera, through the same
/// [`crate::api::picture_ops`] as the REST routes and JSON-RPC.
async fn imaging(state: &SharedState, op: &ImagingOp) -> Result<String, Fault> {
    let camera = camera_of_source(state, op.source())?;
    let view = crate::api::picture_ops::get(state, &camera).await?;
    Ok(match op {
        ImagingOp::GetMoveOptions { .. } => imaging::move_options().to_string(),
        ImagingOp::GetStatus { .. } => imaging::status().to_string(),
        _ if !view.adjustable => {
            return Err(Fault::NoImagingForSource(
                crate::api::picture_ops::not_adjustable_reason(&camera),
            ));
        }
        ImagingOp::GetImagingSettings { .. } => imaging::settings(&ImagingValues {
            brightness: f64::from(view.picture.brightness),
            color_saturation: f64::from(view.picture.saturation),
            contrast: f64::from(view.picture.contrast),
        }),
        ImagingOp::GetOptions { .. } => imaging::options(),
        ImagingOp::SetImagingSettings { change, .. } => {
            if !change.unsupported.is_empty() {
                return Err(Fault::SettingsInvalid(imaging::unsupported_reason(
                    &change.unsupported,
                )));
            }
            let scale = |name: &str, v: Option<f64>| -> Result<Option<u8>, Fault> {
                match v {
                    Some(v) if (0.0..=100.0).contains(&v) => Ok(Some(v.round() as u8)),
                    Some(v) => Err(Fault::SettingsInvalid(format!(
                        "{name} {v} is outside 0 to 100 (GetOptions)"
                    ))),
                    None => Ok(None),
                }
            };
            let change = PictureChange {
                brightness: scale("Brightness", change.brightness)?,
                contrast: scale("Contrast", change.contrast)?,
                saturation: scale("ColorSaturation", change.color_saturation)?,
            };
            crate::api::picture_ops::set(state, &camera, &change).await?;
            imaging::set_done().to_string()
        }
    })
}

/// The texts on the pictures of every camera, or of the one whose video source `configuration`
/// is, each with its camera's video source token.
async fn listed_osds(
    state: &SharedState,
    configuration: Option<&str>,
) -> Result<Vec<(String, pinhole_base::osd::OsdText)>, Fault> {
    let camera = configuration
        .map(|c| camera_of_source(state, c))
        .transpose()?;
    let all = crate::api::osd_ops::all(state).await?;
    Ok(all
        .into_iter()
        .filter(|(id, _)| camera.as_ref().is_none_or(|c| c == id))
        .flat_map(|(id, texts)| {
            let source = super::events::source_of(&id);
            texts.into_iter().map(move |t| (source.clone(), t))
        })
        .collect())
}

/// An OSD request of either media service: a camera's texts on its picture, through the same
/// [`crate::api::osd_ops`] as the REST routes and JSON-RPC.
async fn on_screen(state: &SharedState, v: MediaVersion, op: &OsdOp) -> Result<String, Fault> {
    use crate::api::osd_ops;
    let one = |token: &str, texts: Vec<(String, pinhole_base::osd::OsdText)>| {
        texts
            .into_iter()
            .find(|(_, t)| t.token == token)
            .ok_or_else(|| Fault::NoConfig(format!("no OSD `{token}`")))
    };
    Ok(match op {
        OsdOp::GetOsds { configuration, osd } => {
            let mut texts = listed_osds(state, configuration.as_deref()).await?;
            if let Some(token) = osd {
                texts = vec![one(token, texts)?];
            }
            osd::list(v, &texts)
        }
        OsdOp::GetOsd { osd } => {
            let (source, t) = one(osd, listed_osds(state, None).await?)?;
            osd::one(&source, &t)
        }
        OsdOp::GetOsdOptions { configuration } => {
            if let Some(c) = configuration {
                camera_of_source(state, c)?;
            }
            osd::options(v)
        }
        OsdOp::CreateOsd(i) => {
            let camera = camera_of_source(state, &i.source)?;
            let token = osd_ops::create(state, &camera, i.text.clone()).await?;
            osd::created(v, &token)
        }
        OsdOp::SetOsd(i) => {
            let camera = camera_of_source(state, &i.source)?;
            if pinhole_base::osd::camera_of(&i.token) != Some(camera.as_str()) {
                return Err(Fault::InvalidArgs(format!(
                    "OSD `{}` is not on video source `{}`",
                    i.token, i.source
                )));
            }
            osd_ops::replace(state, i.text.clone()).await?;
            osd::done(v, op)
        }
        OsdOp::DeleteOsd { osd } => {
            osd_ops::delete(state, osd).await?;
            osd::done(v, op)
        }
    })
}

/// A metadata configuration request of either media service: one configuration per camera,
/// what Pinhole's own profiles offer.
fn metadata_configurations(
    state: &SharedState,
    v: MediaVersion,
    op: &MetadataOp,
) -> Result<String, Fault> {
    let kind = ConfigurationKind::Metadata;
    let one = |configuration: &str| one_configuration(state, kind, configuration);
    Ok(match op {
        MetadataOp::List { filter } => metadata::list(v, &configurations_of(state, kind, filter)?),
        MetadataOp::One { configuration } => metadata::one(&one(configuration)?),
        MetadataOp::Options { filter } => {
            // The same for every camera: the tokens are only checked.
            if let Some(c) = &filter.configuration {
                one(c)?;
            }
            if let Some(p) = &filter.profile {
                find_profile(state, p)?;
            }
            metadata::options(v)
        }
        MetadataOp::Set(change) => {
            one(&change.configuration)?;
            change.check().map_err(Fault::ConfigModify)?;
            metadata::set(v)
        }
    })
}

/// What an encoder change asked for, for the audit trail.
pub fn details_of(op: &Operation) -> Option<serde_json::Value> {
    use Operation::*;
    match op {
        Imaging(ImagingOp::SetImagingSettings { change, .. }) => Some(serde_json::json!({
            "brightness": change.brightness,
            "contrast": change.contrast,
            "saturation": change.color_saturation,
        })),
        SetVideoEncoderConfiguration(c) | Media2(Media2Op::SetVideoEncoderConfiguration(c)) => {
            Some(serde_json::json!({
                "encoding": c.encoding,
                "width": c.width,
                "height": c.height,
                "fps": c.fps,
                "bitrate_kbps": c.bitrate_kbps,
                "gov_length": c.gov_length,
            }))
        }
        EditProfile { edit, .. } | Media2(Media2Op::EditProfile { edit, .. }) => {
            let parts = |parts: &[PartRef]| -> serde_json::Value {
                parts
                    .iter()
                    .map(|p| serde_json::json!({"type": p.kind.as_str(), "token": p.token}))
                    .collect()
            };
            Some(match edit {
                ProfileEdit::Create {
                    name,
                    token,
                    parts: p,
                } => {
                    serde_json::json!({"name": name, "token": token, "configurations": parts(p)})
                }
                ProfileEdit::Delete { .. } => serde_json::json!({}),
                ProfileEdit::Add { name, parts: p, .. } => {
                    serde_json::json!({"name": name, "configurations": parts(p)})
                }
                ProfileEdit::Remove { parts: p, .. } => {
                    serde_json::json!({"configurations": parts(p)})
                }
            })
        }
        Osd(o) | Media2(Media2Op::Osd(o)) => match o {
            OsdOp::CreateOsd(i) | OsdOp::SetOsd(i) => Some(serde_json::json!({
                "configuration": i.source,
                "text": i.text,
            })),
            OsdOp::DeleteOsd { osd } => Some(serde_json::json!({"token": osd})),
            _ => None,
        },
        _ => None,
    }
}

/// The camera a PTZ operation names, or the encoder configuration a change names, for the
/// audit trail.
pub fn target_of(op: &Operation) -> Option<&str> {
    use Operation::*;
    match op {
        SetVideoEncoderConfiguration(c) | Media2(Media2Op::SetVideoEncoderConfiguration(c)) => {
            Some(&c.configuration)
        }
        EditProfile { edit, .. } | Media2(Media2Op::EditProfile { edit, .. }) => edit.profile(),
        ContinuousMove { profile, .. }
        | Stop { profile }
        | AbsoluteMove { profile, .. }
        | RelativeMove { profile, .. }
        | GotoPreset { profile, .. }
        | SetPreset { profile, .. }
        | RemovePreset { profile, .. }
        | GotoHomePosition { profile }
        | GetStatus { profile }
        | GetPresets { profile } => Some(profile.strip_suffix(SUB).unwrap_or(profile)),
        _ => None,
    }
}

fn ptz_info(state: &SharedState, id: &str) -> Option<PtzInfo> {
    let (d, _) = ptz_ops::camera(state, id).ok()?;
    let caps = d.capabilities();
    Some(PtzInfo {
        node: format!("ptz_{id}"),
        configuration: format!("ptzcfg_{id}"),
        absolute: caps.absolute,
        // Relative moves are absolute moves from the position the camera reports.
        relative: caps.absolute,
        continuous: caps.continuous,
        home: true,
        max_presets: MAX_PRESETS,
    })
}

fn encoding(codec: Option<crate::media::pipeline::VideoCodec>) -> Encoding {
    match codec {
        Some(crate::media::pipeline::VideoCodec::H265) => Encoding::H265,
        _ => Encoding::H264,
    }
}

/// The AAC a stream's RTSP mount carries beside its video (it follows the audio the camera
/// streamed last), with the sample rate and bitrate it flows at.
fn audio_info(h: &crate::media::camera::CameraHandle) -> Option<AudioInfo> {
    h.last_audio()?;
    // Known once the audio has flowed, which it has when `last_audio` is set.
    let rate = h.audio_rate().unwrap_or(16_000);
    Some(AudioInfo {
        sample_rate: rate,
        bitrate_kbps: h.status().audio_bitrate_kbps.round() as u32,
        channels: h.audio_channels().unwrap_or(1),
    })
}

/// Every profile: Pinhole's own, then those clients made.
fn profiles(state: &SharedState) -> Vec<ProfileInfo> {
    let mut all = own_profiles(state);
    let made: Vec<ProfileInfo> = state
        .onvif
        .made_profiles()
        .iter()
        .map(|m| profiles::resolve(&all, m))
        .collect();
    all.extend(made);
    all
}

/// How many profiles the device can hold: its own and as many as clients may make.
fn profile_room(state: &SharedState) -> usize {
    own_profiles(state).len() + pinhole_base::media_profile::MAX_MADE_PROFILES
}

/// Every camera's profiles: main stream (with its PTZ), and sub stream where it has one.
fn own_profiles(state: &SharedState) -> Vec<ProfileInfo> {
    let Some(e) = &state.media else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for h in e.cameras() {
        let def = h.definition();
        if !def.enabled {
            continue;
        }
        let st = h.status();
        let source = super::events::source_of(&def.id);
        // Pinhole runs the encoder of every camera but an RTSP one, whose stream it relays:
        // what it was set to is what it runs at (also while a rebuild is under way), where a
        // relayed stream is what the camera sends.
        let encoded = def.source != pinhole_base::camera::SourceKind::Rtsp;
        let figures = |st: &crate::media::camera::CameraStatus,
                       def: &pinhole_base::camera::Camera| {
            let size = match (def.width, def.height) {
                (Some(w), Some(h)) if encoded => (w, h),
                _ => (
                    st.width.or(def.width).unwrap_or(0),
                    st.height.or(def.height).unwrap_or(0),
                ),
            };
            (
                size.0,
                size.1,
                def.fps.unwrap_or(st.fps.round() as u32),
                def.bitrate_kbps.unwrap_or(st.bitrate_kbps.round() as u32),
            )
        };
        let (width, height, fps, bitrate_kbps) = figures(&st, &def);
        out.push(ProfileInfo {
            token: def.id.clone(),
            name: def.name.clone(),
            stream: def.id.clone(),
            fixed: true,
            parts: ConfigurationKind::OWN.into_iter().collect(),
            source: source.clone(),
            width,
            height,
            fps,
            bitrate_kbps,
            encoding: encoding(st.codec),
            keyframe_ms: match def.keyframe_ms {
                Some(k) if encoded => k,
                _ if encoded => e.default_keyframe_ms(),
                _ => RELAYED_KEYFRAME_MS,
            },
            choices: encoded.then(|| encoder_choices(width, height, fps)),
            audio: audio_info(&h),
            ptz: ptz_info(state, &def.id),
        });
        if let Some(sub) = h.sub_stream() {
            let sst = sub.status();
            let (width, height, fps, bitrate_kbps) = figures(&sst, &sub.definition());
            out.push(ProfileInfo {
                token: format!("{}{SUB}", def.id),
                name: format!("{} (sub stream)", def.name),
                stream: format!("{}{SUB}", def.id),
                fixed: true,
                parts: ConfigurationKind::OWN.into_iter().collect(),
                source,
                width,
                height,
                fps,
                bitrate_kbps,
                encoding: encoding(sst.codec),
                keyframe_ms: RELAYED_KEYFRAME_MS,
                choices: None,
                audio: audio_info(&sub),
                ptz: ptz_info(state, &def.id),
            });
        }
    }
    out
}

/// What a relayed stream's keyframe interval is taken to be: IP cameras do not say, and most
/// send one every one or two seconds.
const RELAYED_KEYFRAME_MS: u32 = 2000;

/// Sizes offered for an encoder Pinhole runs (16:9 and 4:3, the ones NVRs ask for), with the
/// size it runs at.
const SIZES: [(u32, u32); 7] = [
    (1920, 1080),
    (1280, 960),
    (1280, 720),
    (1024, 768),
    (640, 480),
    (640, 360),
    (320, 240),
];

/// Frame rates offered, up to the one the camera runs at when that is more (encoders accept up
/// to 120 through Pinhole's own settings).
const FPS_OFFERED: (u32, u32) = (1, 30);

fn encoder_choices(width: u32, height: u32, fps: u32) -> EncoderChoices {
    let mut resolutions = SIZES.to_vec();
    if width > 0 && height > 0 && !resolutions.contains(&(width, height)) {
        resolutions.insert(0, (width, height));
    }
    let b = pinhole_base::camera::BITRATE_KBPS;
    let k = pinhole_base::camera::KEYFRAME_MS;
    EncoderChoices {
        resolutions,
        fps: (FPS_OFFERED.0, FPS_OFFERED.1.max(fps)),
        bitrate_kbps: (*b.start(), *b.end()),
        keyframe_ms: (*k.start(), *k.end()),
    }
}

/// `SetVideoEncoderConfiguration`: the camera's own settings changed, as an admin's edit on the
/// page would (same checks, stored, the pipeline rebuilt, an event). Only encoders Pinhole runs
/// can be set; a value outside the options is refused and nothing changes.
async fn set_encoder(ctx: &Context<'_>, change: &EncoderChange) -> Result<(), Fault> {
    let state = ctx.state;
    let p = one_configuration(
        state,
        ConfigurationKind::VideoEncoder,
        &change.configuration,
    )?;
    let Some(choices) = p.choices.clone() else {
        return Err(Fault::ConfigModify(format!(
            "`{}` is relayed from an IP camera: its encoder is the camera's own; set it there",
            p.token
        )));
    };
    if let Some(e) = change.encoding.as_deref()
        && e != p.encoding.name()
    {
        return Err(Fault::ConfigModify(format!(
            "Encoding {e}: `{}` can only be encoded as {}",
            p.token,
            p.encoding.name()
        )));
    }
    // Clients send the whole configuration back: what equals the profile's current value is
    // not a change (and is not stored, so a measured rate never becomes a setting).
    let changed = |asked: Option<u32>, now: u32| asked.filter(|&v| v != now);
    let (width, height) = (
        changed(change.width, p.width),
        changed(change.height, p.height),
    );
    let size = (width.unwrap_or(p.width), height.unwrap_or(p.height));
    if (width.is_some() || height.is_some()) && !choices.resolutions.contains(&size) {
        return Err(Fault::ConfigModify(format!(
            "Resolution {}x{} is not one of the options",
            size.0, size.1
        )));
    }
    let asked_fps = changed(change.fps, p.fps);
    let fps = asked_fps.unwrap_or(p.fps);
    let outside = |name: &str, v: u32, (lo, hi): (u32, u32)| {
        Fault::ConfigModify(format!("{name} {v} is outside {lo}..={hi}"))
    };
    if asked_fps.is_some() && !(choices.fps.0..=choices.fps.1).contains(&fps) {
        return Err(outside("FrameRateLimit", fps, choices.fps));
    }
    let bitrate = changed(change.bitrate_kbps, p.bitrate_kbps);
    if let Some(b) = bitrate
        && !(choices.bitrate_kbps.0..=choices.bitrate_kbps.1).contains(&b)
    {
        return Err(outside("BitrateLimit", b, choices.bitrate_kbps));
    }
    // The GOV length as it was, at a new frame rate, keeps the keyframe interval.
    let keyframe_ms = match changed(change.gov_length, p.gov_length()) {
        Some(g) => {
            let range = choices.gov_range(fps);
            if !(range.0..=range.1).contains(&g) {
                return Err(outside("GovLength", g, range));
            }
            Some(
                ((u64::from(g) * 1000 / u64::from(fps.max(1))) as u32)
                    .clamp(choices.keyframe_ms.0, choices.keyframe_ms.1),
            )
        }
        None => None,
    };
    let input = pinhole_base::camera::CameraInput {
        width: width.map(|_| size.0),
        height: height.map(|_| size.1),
        fps: asked_fps,
        bitrate_kbps: bitrate,
        keyframe_ms,
        ..Default::default()
    };
    if input.width.is_none()
        && input.fps.is_none()
        && input.bitrate_kbps.is_none()
        && input.keyframe_ms.is_none()
    {
        return Ok(());
    }
    let secrets = state.secrets.clone();
    let now = state.clock.now_secs();
    let id = p.token.clone();
    let cam = state
        .store
        .call(move |c| crate::store::cameras::update(c, &secrets, &id, &input, now))
        .await
        .map_err(ApiError::from)?;
    state.camera_changed(&cam.id, "updated").await;
    Ok(())
}

fn find_profile(state: &SharedState, token: &str) -> Result<ProfileInfo, Fault> {
    profiles(state)
        .into_iter()
        .find(|p| p.token == token)
        .ok_or_else(|| Fault::NoProfile(format!("no profile `{token}`")))
}

/// The stream a profile plays: Pinhole's own profile token of it (a made profile plays the
/// stream of its video encoder).
fn streamed(state: &SharedState, token: &str) -> Result<ProfileInfo, Fault> {
    let p = find_profile(state, token)?;
    if !p.has(ConfigurationKind::VideoEncoder) {
        return Err(Fault::NoConfig(format!(
            "profile `{token}` has no video encoder configuration: add one first"
        )));
    }
    Ok(p)
}

/// A profile made, changed or deleted by a client: checked against Pinhole's own profiles,
/// stored, then in effect; the made profile, when one was made.
async fn edit_profile(
    state: &SharedState,
    edit: &ProfileEdit,
) -> Result<Option<ProfileInfo>, Fault> {
    let _one = state.onvif.profile_edits.lock().await;
    let own = own_profiles(state);
    let change = profiles::apply(&own, &state.onvif.made_profiles(), edit)?;
    let stored = change.clone();
    let now = state.clock.now_secs();
    state
        .store
        .call(move |c| match &stored {
            profiles::Change::Put(m) => crate::store::onvif_profiles::put(c, m, now),
            profiles::Change::Delete(t) => crate::store::onvif_profiles::delete(c, t).map(|_| ()),
        })
        .await
        .map_err(ApiError::from)?;
    let mut made = state
        .onvif
        .made_profiles
        .write()
        .unwrap_or_else(|p| p.into_inner());
    Ok(match change {
        profiles::Change::Put(m) => {
            let shown = profiles::resolve(&own, &m);
            match made.iter_mut().find(|x| x.token == m.token) {
                Some(x) => *x = m,
                None => made.push(m),
            }
            matches!(edit, ProfileEdit::Create { .. }).then_some(shown)
        }
        profiles::Change::Delete(t) => {
            made.retain(|x| x.token != t);
            None
        }
    })
}

/// The configurations of `kind` that could go into `profile`: those of the streams its other
/// configurations are of (all, for an empty one).
fn compatible(
    state: &SharedState,
    profile: &str,
    kind: ConfigurationKind,
) -> Result<Vec<ProfileInfo>, Fault> {
    let p = find_profile(state, profile)?;
    let own = own_profiles(state);
    Ok(profiles::compatible(&own, &p, kind)
        .into_iter()
        .cloned()
        .collect())
}

/// The camera of a PTZ request's profile, with its PTZ profile.
fn ptz_camera(state: &SharedState, token: &str) -> Result<(String, Profile), Fault> {
    let p = find_profile(state, token)?;
    let id = p.stream.strip_suffix(SUB).unwrap_or(&p.stream).to_string();
    if p.ptz().is_none() {
        return Err(Fault::NoPtzProfile(format!("profile `{token}` has no PTZ")));
    }
    let (_, profile) = ptz_ops::camera(state, &id).map_err(ptz_fault)?;
    Ok((id, profile))
}

/// Camera units to the generic space: `lo..=hi` onto -1..1.
fn to_generic(v: i32, lo: i16, hi: i16) -> f64 {
    let (lo, hi) = (f64::from(lo), f64::from(hi));
    if hi <= lo {
        return 0.0;
    }
    ((f64::from(v) - lo) / (hi - lo) * 2.0 - 1.0).clamp(-1.0, 1.0)
}

/// The generic space (-1..1) to camera units.
fn from_generic(g: f64, lo: i16, hi: i16) -> i32 {
    let (lo, hi) = (f64::from(lo), f64::from(hi));
    (lo + (g.clamp(-1.0, 1.0) + 1.0) / 2.0 * (hi - lo)).round() as i32
}

fn position(p: &Profile, pan: i32, tilt: i32, zoom: i32) -> Position {
    Position {
        pan: to_generic(pan, *p.pan_limits.start(), *p.pan_limits.end()),
        tilt: to_generic(tilt, *p.tilt_limits.start(), *p.tilt_limits.end()),
        zoom: if p.zoom_max == 0 {
            0.0
        } else {
            (f64::from(zoom) / f64::from(p.zoom_max)).clamp(0.0, 1.0)
        },
    }
}

fn in_range(name: &str, v: Option<f64>, lo: f64) -> Result<Option<f64>, Fault> {
    match v {
        Some(x) if !(lo..=1.0).contains(&x) => Err(Fault::InvalidArgs(format!(
            "{name} {x} is outside {lo}..1 of the generic space"
        ))),
        other => Ok(other),
    }
}

/// An absolute move in generic values; missing axes stay.
async fn move_to(
    state: &SharedState,
    id: &str,
    p: &Profile,
    pan: Option<f64>,
    tilt: Option<f64>,
    zoom: Option<f64>,
) -> Result<(), Fault> {
    let pan = pan.map(|g| from_generic(g, *p.pan_limits.start(), *p.pan_limits.end()));
    let tilt = tilt.map(|g| from_generic(g, *p.tilt_limits.start(), *p.tilt_limits.end()));
    let zoom = zoom.map(|g| (g.clamp(0.0, 1.0) * f64::from(p.zoom_max)).round() as i32);
    ptz_ops::absolute(state, id, pan, tilt, zoom, None)
        .await
        .map_err(ptz_fault)
}

async fn camera_preset(
    state: &SharedState,
    camera: &str,
    token: &str,
) -> Result<presets::Preset, Fault> {
    let no = || Fault::NoToken(format!("no preset `{token}` on this camera"));
    let id: i64 = token.parse().map_err(|_| no())?;
    match ptz_ops::preset_by_id(state, id).await {
        Ok(p) if p.camera_id == camera => Ok(p),
        _ => Err(no()),
    }
}

/// The scopes Pinhole announces and answers `GetScopes` with: (scope, fixed). Home Assistant
/// probes for `Profile/Streaming` and keys devices by the `mac` scope.
pub fn scopes(device_name: &str, ptz: bool, mac: Option<&str>) -> Vec<(String, bool)> {
    let mut s = vec![
        ("onvif://www.onvif.org/type/video_encoder".to_string(), true),
        (
            "onvif://www.onvif.org/type/Network_Video_Transmitter".to_string(),
            true,
        ),
        ("onvif://www.onvif.org/Profile/Streaming".to_string(), true),
        ("onvif://www.onvif.org/hardware/Pinhole".to_string(), true),
        (
            format!(
                "onvif://www.onvif.org/name/{}",
                pinhole_base::camera::percent_encode(device_name)
            ),
            false,
        ),
    ];
    if ptz {
        s.insert(1, ("onvif://www.onvif.org/type/ptz".to_string(), true));
    }
    if let Some(mac) = mac {
        s.push((
            format!("onvif://www.onvif.org/mac/{}", mac.replace(':', "")),
            true,
        ));
    }
    s
}

/// The MAC of the interface holding `addr`, or of the first one with a MAC.
pub fn mac_for(addr: Option<std::net::Ipv4Addr>) -> Option<String> {
    let list = pinhole_sys::ipv4_interfaces();
    list.iter()
        .find(|i| Some(i.addr) == addr && i.mac.is_some())
        .or_else(|| list.iter().find(|i| !i.loopback && i.mac.is_some()))
        .and_then(|i| i.mac.clone())
}

/// Whether any camera has PTZ (then the PTZ service is listed).
pub fn any_ptz(state: &SharedState) -> bool {
    own_profiles(state).iter().any(|p| p.ptz.is_some())
}

pub async fn device_name(state: &SharedState) -> String {
    state
        .setting("device_name")
        .await
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| state.config.general.device_name.clone())
}

fn device_info(state: &SharedState) -> DeviceInfo {
    let hardware = std::fs::read_to_string("/proc/device-tree/model")
        .map(|m| m.trim_end_matches('\0').trim().to_string())
        .unwrap_or_else(|_| format!("{} {}", std::env::consts::OS, std::env::consts::ARCH));
    DeviceInfo {
        manufacturer: "Pinhole".into(),
        model: "Pinhole camera appliance".into(),
        firmware: crate::VERSION.into(),
        serial: state
            .onvif
            .endpoint
            .trim_start_matches("urn:uuid:")
            .to_string(),
        hardware_id: hardware,
    }
}

fn interfaces() -> Vec<InterfaceInfo> {
    pinhole_sys::ipv4_interfaces()
        .into_iter()
        .filter(|i| !i.loopback)
        .map(|i| InterfaceInfo {
            mac: i.mac.clone().unwrap_or_else(|| "00:00:00:00:00:00".into()),
            ipv4: Some((i.addr, i.prefix_len)),
            name: i.name,
        })
        .collect()
}

/// Answers one authenticated (or pre-authentication) operation.
pub async fn answer(ctx: &Context<'_>, op: &Operation) -> Result<String, Fault> {
    use Operation as O;
    let state = ctx.state;
    let now = state.clock.now_secs();
    Ok(match op {
        O::GetSystemDateAndTime => answer::system_date_and_time(now),
        O::GetCapabilities => answer::capabilities(&ctx.endpoints(), any_ptz(state)),
        O::GetServices { include_capability } => answer::services(
            &ctx.endpoints(),
            any_ptz(state),
            *include_capability,
            profile_room(state),
        ),
        O::GetServiceCapabilities(service) => {
            answer::service_capabilities(*service, profile_room(state))
        }
        O::GetDeviceInformation => answer::device_information(&device_info(state)),
        O::GetScopes => answer::scopes(&scopes(
            &device_name(state).await,
            any_ptz(state),
            mac_for(None).as_deref(),
        )),
        O::GetHostname => answer::hostname(
            &std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "pinhole".into()),
        ),
        O::GetNetworkInterfaces => answer::network_interfaces(&interfaces()),
        O::GetWsdlUrl => answer::wsdl_url().to_string(),
        O::GetDiscoveryMode => answer::discovery_mode().to_string(),
        O::GetNetworkDefaultGateway => answer::default_gateway(&pinhole_sys::default_gateways()),
        O::GetDNS => {
            let found = pinhole_sys::name_servers();
            answer::dns(&found.servers, &found.search, found.from_dhcp)
        }
        O::GetNetworkProtocols => {
            use answer::NetworkProtocol as P;
            let mut list = Vec::new();
            if let Some(p) = state.onvif.ports() {
                list.push((P::Http, p.http));
                list.extend(p.https.map(|port| (P::Https, port)));
            }
            if let Some(e) = &state.media {
                list.push((P::Rtsp, e.rtsp_addr().port()));
            }
            answer::network_protocols(&list)
        }
        O::GetProfiles => answer::profiles(&profiles(state)),
        O::GetProfile { profile } => answer::one_profile(&find_profile(state, profile)?),
        O::GetVideoSources => {
            let mut seen = std::collections::BTreeSet::new();
            let list: Vec<_> = own_profiles(state)
                .into_iter()
                .filter(|p| seen.insert(p.source.clone()))
                .map(|p| (p.source, p.width, p.height, p.fps))
                .collect();
            answer::video_sources(&list)
        }
        O::GetVideoSourceConfigurations => {
            answer::video_source_configurations(&own_profiles(state))
        }
        O::GetVideoEncoderConfigurations => {
            answer::video_encoder_configurations(&own_profiles(state))
        }
        O::GetVideoSourceConfiguration { configuration } => answer::one_video_source_configuration(
            &one_configuration(state, ConfigurationKind::VideoSource, configuration)?,
        ),
        O::GetVideoEncoderConfiguration { configuration } => {
            answer::one_video_encoder_configuration(&one_configuration(
                state,
                ConfigurationKind::VideoEncoder,
                configuration,
            )?)
        }
        O::GetAudioSourceConfigurations | O::GetAudioEncoderConfigurations => {
            let encoders = matches!(op, O::GetAudioEncoderConfigurations);
            let kind = if encoders {
                ConfigurationKind::AudioEncoder
            } else {
                ConfigurationKind::AudioSource
            };
            let all = media2::ConfigurationFilter::default();
            answer::audio_configurations(&configurations_of(state, kind, &all)?, encoders)
        }
        O::GetAudioSources => {
            let all = media2::ConfigurationFilter::default();
            let list: Vec<(String, u32)> =
                configurations_of(state, ConfigurationKind::AudioSource, &all)?
                    .into_iter()
                    .filter_map(|p| Some((p.audio_source_token(), p.audio?.channels)))
                    .collect();
            answer::audio_sources(&list)
        }
        O::GetVideoSourceConfigurationOptions { filter } => {
            video_source_options(state, MediaVersion::V10, filter)?
        }
        O::GetGuaranteedNumberOfVideoEncoderInstances { configuration } => {
            let [(_, h264), (_, h265)] = encoders_of_source(state, configuration)?;
            answer::guaranteed_encoders(h264 + h265, h264)
        }
        O::GetVideoEncoderConfigurationOptions { filter } => {
            // Without a token: the first encoder's (every one is fixed at what it runs).
            let list = configurations_of(state, ConfigurationKind::VideoEncoder, filter)?;
            let p = list
                .first()
                .ok_or_else(|| Fault::NoConfig("no video encoder".into()))?;
            answer::video_encoder_options(p)
        }
        O::GetStreamUri { profile } => answer::stream_uri(&ctx.stream_url(profile)?),
        O::GetSnapshotUri { profile } => answer::snapshot_uri(&ctx.snapshot_url(profile)?),
        O::SetVideoEncoderConfiguration(change) => {
            set_encoder(ctx, change).await?;
            answer::video_encoder_configuration_set().to_string()
        }
        O::EditProfile { name, edit } => {
            answer::profile_edited(name, edit_profile(state, edit).await?.as_ref())
        }
        O::GetCompatibleConfigurations {
            name,
            profile,
            kind,
        } => answer::compatible_configurations(name, *kind, &compatible(state, profile, *kind)?),
        O::Media2(m) => media2_answer(ctx, m).await?,
        O::GetNodes => {
            let list: Vec<(String, PtzInfo)> = own_profiles(state)
                .into_iter()
                .filter(|p| !p.token.ends_with(SUB))
                .filter_map(|p| Some((p.name, p.ptz?)))
                .collect();
            answer::nodes(&list)
        }
        O::GetNode { node } => {
            let (name, z) = own_profiles(state)
                .into_iter()
                .filter_map(|p| Some((p.name, p.ptz?)))
                .find(|(_, z)| &z.node == node)
                .ok_or_else(|| Fault::NoToken(format!("no PTZ node `{node}`")))?;
            answer::one_node(&name, &z)
        }
        O::GetConfigurations => {
            let list: Vec<PtzInfo> = own_profiles(state)
                .into_iter()
                .filter(|p| !p.token.ends_with(SUB))
                .filter_map(|p| p.ptz)
                .collect();
            answer::configurations(&list)
        }
        O::GetConfiguration { configuration } | O::GetConfigurationOptions { configuration } => {
            let z = own_profiles(state)
                .into_iter()
                .filter_map(|p| p.ptz)
                .find(|z| &z.configuration == configuration)
                .ok_or_else(|| Fault::NoToken(format!("no PTZ configuration `{configuration}`")))?;
            if matches!(op, O::GetConfiguration { .. }) {
                answer::one_configuration(&z)
            } else {
                answer::configuration_options(&z)
            }
        }
        O::ContinuousMove {
            profile,
            velocity,
            timeout_ms,
        } => {
            let (id, _) = ptz_camera(state, profile)?;
            let Vector { pan, tilt, zoom } = *velocity;
            let pan = in_range("pan", pan, -1.0)?.unwrap_or(0.0);
            let tilt = in_range("tilt", tilt, -1.0)?.unwrap_or(0.0);
            let zoom = in_range("zoom", zoom, -1.0)?;
            ptz_ops::continuous(state, &id, pan, tilt, zoom)
                .await
                .map_err(ptz_fault)?;
            if pan == 0.0 && tilt == 0.0 && zoom.unwrap_or(0.0) == 0.0 {
                state.onvif.end_move(&id);
            } else {
                let n = state.onvif.begin_move(&id);
                let timeout = std::time::Duration::from_millis(
                    timeout_ms.unwrap_or(DEFAULT_MOVE_TIMEOUT_MS).max(100),
                );
                let state = state.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(timeout).await;
                    if state.onvif.still_moving(&id, n) {
                        state.onvif.end_move(&id);
                        if let Err(e) = ptz_ops::stop(&state, &id).await {
                            tracing::warn!(camera = %id, error = ?e, "ONVIF: stopping a timed-out move failed");
                        }
                    }
                });
            }
            answer::empty("tptz", "ContinuousMove")
        }
        O::Stop { profile } => {
            let (id, _) = ptz_camera(state, profile)?;
            state.onvif.end_move(&id);
            ptz_ops::stop(state, &id).await.map_err(ptz_fault)?;
            answer::empty("tptz", "Stop")
        }
        O::AbsoluteMove { profile, position } => {
            let (id, p) = ptz_camera(state, profile)?;
            let pan = in_range("pan", position.pan, -1.0)?;
            let tilt = in_range("tilt", position.tilt, -1.0)?;
            let zoom = in_range("zoom", position.zoom, 0.0)?;
            state.onvif.end_move(&id);
            move_to(state, &id, &p, pan, tilt, zoom).await?;
            answer::empty("tptz", "AbsoluteMove")
        }
        O::RelativeMove {
            profile,
            translation,
        } => {
            let (id, p) = ptz_camera(state, profile)?;
            let dp = in_range("pan", translation.pan, -1.0)?;
            let dt = in_range("tilt", translation.tilt, -1.0)?;
            let dz = in_range("zoom", translation.zoom, -1.0)?;
            let (d, _) = ptz_ops::camera(state, &id).map_err(ptz_fault)?;
            let (pan, tilt, zoom) = d.position().await.map_err(|e| ptz_fault(e.into()))?;
            let here = position(&p, i32::from(pan), i32::from(tilt), i32::from(zoom));
            state.onvif.end_move(&id);
            // A translation of 1 is half the range (the generic space spans 2).
            move_to(
                state,
                &id,
                &p,
                dp.map(|t| (here.pan + t).clamp(-1.0, 1.0)),
                dt.map(|t| (here.tilt + t).clamp(-1.0, 1.0)),
                dz.map(|t| (here.zoom + t).clamp(0.0, 1.0)),
            )
            .await?;
            answer::empty("tptz", "RelativeMove")
        }
        O::GetStatus { profile } => {
            let (id, p) = ptz_camera(state, profile)?;
            let (d, _) = ptz_ops::camera(state, &id).map_err(ptz_fault)?;
            let st = d.status();
            // Asked now (the polled status may lag a move that just ended), else the last known.
            let pos = match d.position().await {
                Ok((a, b, c)) => Some((a, b, c)),
                Err(_) => match (st.pan, st.tilt, st.zoom) {
                    (Some(a), Some(b), Some(c)) => Some((a, b, c)),
                    _ => None,
                },
            }
            .map(|(a, b, c)| position(&p, i32::from(a), i32::from(b), i32::from(c)));
            let error = (!st.connected).then(|| {
                st.last_error
                    .clone()
                    .unwrap_or_else(|| "the camera's PTZ link is down".into())
            });
            answer::status(pos.as_ref(), state.onvif.moving(&id), error.as_deref(), now)
        }
        O::GetPresets { profile } => {
            let (id, p) = ptz_camera(state, profile)?;
            let list = state
                .store
                .call(move |c| presets::list(c, &id))
                .await
                .map_err(|e| Fault::from(ApiError::from(e)))?;
            let infos: Vec<PresetInfo> = list
                .iter()
                .map(|x| PresetInfo {
                    token: x.id.to_string(),
                    name: x.name.clone(),
                    position: Some(position(&p, x.pan, x.tilt, x.zoom)),
                })
                .collect();
            answer::presets(&infos)
        }
        O::GotoPreset { profile, preset } => {
            let (id, _) = ptz_camera(state, profile)?;
            let p = camera_preset(state, &id, preset).await?;
            state.onvif.end_move(&id);
            ptz_ops::goto_preset(state, p.id).await.map_err(ptz_fault)?;
            answer::empty("tptz", "GotoPreset")
        }
        O::SetPreset {
            profile,
            name,
            preset,
        } => {
            let (id, _) = ptz_camera(state, profile)?;
            // A token names the preset to overwrite; a name alone makes or replaces that name.
            let name = match (preset, name) {
                (Some(t), _) => camera_preset(state, &id, t).await?.name,
                (None, Some(n)) => n.clone(),
                (None, None) => {
                    let cam = id.clone();
                    let n = state
                        .store
                        .call(move |c| presets::list(c, &cam))
                        .await
                        .map_err(|e| Fault::from(ApiError::from(e)))?
                        .len();
                    format!("Preset {}", n + 1)
                }
            };
            let saved = ptz_ops::save_preset(state, &id, name)
                .await
                .map_err(ptz_fault)?;
            answer::set_preset(&saved.id.to_string())
        }
        O::RemovePreset { profile, preset } => {
            let (id, _) = ptz_camera(state, profile)?;
            let p = camera_preset(state, &id, preset).await?;
            let pid = p.id;
            state
                .store
                .call(move |c| presets::delete(c, pid))
                .await
                .map_err(|e| Fault::from(ApiError::from(e)))?;
            state.events.publish(
                "ptz.preset",
                serde_json::json!({"device": id, "preset": pid, "name": p.name, "change": "deleted"}),
                state.now_ms(),
            );
            answer::empty("tptz", "RemovePreset")
        }
        O::GotoHomePosition { profile } => {
            let (id, _) = ptz_camera(state, profile)?;
            state.onvif.end_move(&id);
            ptz_ops::home(state, &id).await.map_err(ptz_fault)?;
            answer::empty("tptz", "GotoHomePosition")
        }
        O::Imaging(i) => imaging(state, i).await?,
        O::Osd(o) => on_screen(state, MediaVersion::V10, o).await?,
        O::Metadata(m) => metadata_configurations(state, MediaVersion::V10, m)?,
        O::GetEventProperties => events::event_properties(),
        O::CreatePullPointSubscription {
            filter,
            termination,
        } => subscribe(ctx, filter, *termination, None).await?,
        O::Subscribe {
            consumer,
            filter,
            termination,
        } => subscribe(ctx, filter, *termination, Some(consumer)).await?,
        O::PullMessages { timeout_ms, limit } => {
            let (id, owner) = ctx.pull_point()?;
            let timeout = std::time::Duration::from_millis(*timeout_ms);
            let (messages, ends) = state
                .onvif
                .events
                .pull(id, owner, timeout, *limit, || state.now_ms())
                .await?;
            events::pulled(state.clock.now_secs(), ends, &messages)
        }
        O::Renew { termination } => {
            let (id, owner) = ctx.pull_point()?;
            let ends = state.onvif.events.renew(id, owner, *termination, now)?;
            events::renewed(now, ends)
        }
        O::Unsubscribe => {
            let (id, owner) = ctx.pull_point()?;
            state.onvif.events.unsubscribe(id, owner, now)?;
            events::unsubscribed().to_string()
        }
        O::SetSynchronizationPoint => {
            let (id, owner) = ctx.pull_point()?;
            state
                .onvif
                .events
                .synchronize(id, owner, &sources(state), state.now_ms())?;
            events::synchronization_point_set().to_string()
        }
        O::NotSupported(name) => {
            return Err(Fault::ActionNotSupported(format!(
                "Pinhole does not offer {name} on this service"
            )));
        }
    })
}

/// The live picture of a profile's camera, for its snapshot URI.
pub async fn snapshot_jpeg(state: &SharedState, token: &str) -> Result<bytes::Bytes, ApiError> {
    crate::api::rest::media::live_jpeg(state, token.strip_suffix(SUB).unwrap_or(token)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_positions_round_trip_over_the_camera_limits() {
        let p = Profile::generic();
        let (lo, hi) = (*p.pan_limits.start(), *p.pan_limits.end());
        assert_eq!(from_generic(-1.0, lo, hi), i32::from(lo));
        assert_eq!(from_generic(1.0, lo, hi), i32::from(hi));
        for g in [-0.75, -0.1, 0.0, 0.3, 0.99] {
            let back = to_generic(from_generic(g, lo, hi), lo, hi);
            assert!((back - g).abs() < 0.001, "{g} -> {back}");
        }
        // Out of range is clamped; a degenerate range is the centre.
        assert_eq!(from_generic(7.0, lo, hi), i32::from(hi));
        assert_eq!(to_generic(5, 3, 3), 0.0);
        let pos = position(&p, 0, 0, i32::from(p.zoom_max));
        assert_eq!(pos.zoom, 1.0);
    }

    #[test]
    fn scopes_name_the_device_as_a_uri() {
        let s = scopes("Porch Pi/2", true, Some("dc:a6:32:00:00:01"));
        assert!(
            s.iter()
                .any(|(x, _)| x == "onvif://www.onvif.org/mac/dca632000001")
        );
        assert!(
            s.iter()
                .any(|(x, fixed)| !fixed && x == "onvif://www.onvif.org/name/Porch%20Pi%2F2"),
            "{s:?}"
        );
        assert!(s.iter().any(|(x, _)| x.ends_with("/type/ptz")));
        assert!(
            !scopes("a", false, None)
                .iter()
                .any(|(x, _)| x.ends_with("/type/ptz"))
        );
    }
}
