//! Profiles that clients make (`CreateProfile`, `Add…Configuration`, Media2's
//! `AddConfiguration`...), the protocol half: what an edit does to the made profiles, checked
//! against Pinhole's own profiles, and how a made profile shows.
//!
//! A made profile holds configurations of Pinhole's own, by token, and they must all be of one
//! of its own profiles (one camera's source with that camera's main or sub encoder, its PTZ,
//! its audio): that profile's stream is what the made one plays. Configurations that no longer
//! exist (a camera removed) drop out of it rather than make it fail.

use super::answer::{Fault, ProfileInfo};
use super::media2::{ConfigurationKind, configuration_token, offered_token};
use super::{PartRef, ProfileEdit};
use pinhole_base::media_profile::{MAX_MADE_PROFILES, MadeProfile};
use std::collections::BTreeMap;

/// What an edit leaves to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The profile, new or changed, whole.
    Put(MadeProfile),
    Delete(String),
}

/// Whether Pinhole's own profile `p` offers configuration `token` of `kind` (its stream has it).
fn holds(p: &ProfileInfo, kind: ConfigurationKind, token: &str) -> bool {
    offered_token(p, kind).as_deref() == Some(token)
}

/// Pinhole's own profile that holds every one of `parts`, if one does.
fn base_of<'a>(
    own: &'a [ProfileInfo],
    parts: &BTreeMap<ConfigurationKind, String>,
) -> Option<&'a ProfileInfo> {
    own.iter()
        .find(|p| parts.iter().all(|(k, t)| holds(p, *k, t)))
}

/// Pinhole's own profiles whose configuration of `kind` could go into profile `p`: those that
/// hold its other configurations (all of them, for an empty profile).
pub fn compatible<'a>(
    own: &'a [ProfileInfo],
    p: &ProfileInfo,
    kind: ConfigurationKind,
) -> Vec<&'a ProfileInfo> {
    let others: Vec<(ConfigurationKind, String)> = ConfigurationKind::ALL
        .into_iter()
        .filter(|k| *k != kind)
        .filter_map(|k| Some((k, configuration_token(p, k)?)))
        .collect();
    own.iter()
        .filter(|o| others.iter().all(|(k, t)| holds(o, *k, t)))
        .collect()
}

/// How made profile `m` shows: its name and token, with the configurations it holds that are
/// still there (those of the own profile holding the most of them).
pub fn resolve(own: &[ProfileInfo], m: &MadeProfile) -> ProfileInfo {
    let held = |p: &ProfileInfo| m.parts.iter().filter(|(k, t)| holds(p, **k, t)).count();
    // The first of the best, so main streams win over their sub streams for shared parts.
    let best =
        own.iter()
            .filter(|p| held(p) > 0)
            .fold(None::<&ProfileInfo>, |best, p| match best {
                Some(b) if held(b) >= held(p) => Some(b),
                _ => Some(p),
            });
    match best {
        Some(base) => {
            let parts = m
                .parts
                .iter()
                .filter(|(k, t)| holds(base, **k, t))
                .map(|(k, _)| *k)
                .collect();
            ProfileInfo {
                token: m.token.clone(),
                name: m.name.clone(),
                fixed: false,
                parts,
                ..base.clone()
            }
        }
        None => ProfileInfo::empty(&m.token, &m.name),
    }
}

/// The configuration of `kind` a part names; or, when it names none, the one Pinhole picks: the
/// stream's the profile's other parts are of (none when that stream has no such kind, as a
/// camera without a microphone has no audio), else the first there is.
fn pick(
    own: &[ProfileInfo],
    current: &BTreeMap<ConfigurationKind, String>,
    part: &PartRef,
) -> Result<Option<String>, Fault> {
    let kind = part.kind;
    match &part.token {
        Some(t) => {
            if own.iter().any(|p| holds(p, kind, t)) {
                Ok(Some(t.clone()))
            } else {
                Err(Fault::NoConfig(format!(
                    "no {} configuration `{t}`",
                    kind.as_str()
                )))
            }
        }
        None if !current.is_empty() => {
            Ok(base_of(own, current).and_then(|p| offered_token(p, kind)))
        }
        None => own
            .iter()
            .find_map(|p| offered_token(p, kind))
            .map(Some)
            .ok_or_else(|| Fault::NoConfig(format!("no {} configuration", kind.as_str()))),
    }
}

/// `parts` added to profile `m` (each replacing the one of its kind), checked to be of one of
/// Pinhole's own profiles. Those naming a token go first, so the ones left to the device are
/// chosen from their stream; one of a kind that stream has not is left out.
fn add(own: &[ProfileInfo], m: &mut MadeProfile, parts: &[PartRef]) -> Result<(), Fault> {
    // Configurations gone with a removed camera do not stand in the way.
    m.parts.retain(|k, t| own.iter().any(|p| holds(p, *k, t)));
    let (named, left): (Vec<&PartRef>, Vec<&PartRef>) =
        parts.iter().partition(|p| p.token.is_some());
    for part in named.into_iter().chain(left) {
        let Some(token) = pick(own, &m.parts, part)? else {
            continue;
        };
        let mut next = m.parts.clone();
        next.insert(part.kind, token.clone());
        if base_of(own, &next).is_none() {
            let others: Vec<&str> = m
                .parts
                .iter()
                .filter(|(k, _)| **k != part.kind)
                .map(|(_, t)| t.as_str())
                .collect();
            return Err(Fault::ConfigurationConflict(format!(
                "`{token}` does not go with {} of profile `{}`: a profile holds the \
                 configurations of one camera's stream",
                others.join(", "),
                m.token
            )));
        }
        m.parts = next;
    }
    Ok(())
}

/// The profile an edit names, made by a client: Pinhole's own are refused.
fn made<'a>(
    own: &[ProfileInfo],
    made: &'a [MadeProfile],
    token: &str,
) -> Result<&'a MadeProfile, Fault> {
    // A made profile first: a camera added later with its token must not make it undeletable.
    if let Some(m) = made.iter().find(|m| m.token == token) {
        return Ok(m);
    }
    if own.iter().any(|p| p.token == token) {
        return Err(Fault::FixedProfile(format!(
            "`{token}` is one of Pinhole's own profiles (one per stream): it is not deleted or \
             changed; make a profile of your own with CreateProfile"
        )));
    }
    Err(Fault::NoProfile(format!("no profile `{token}`")))
}

/// What `edit` does to the made profiles `existing`, given Pinhole's own `own`.
pub fn apply(
    own: &[ProfileInfo],
    existing: &[MadeProfile],
    edit: &ProfileEdit,
) -> Result<Change, Fault> {
    match edit {
        ProfileEdit::Create { name, token, parts } => {
            if existing.len() >= MAX_MADE_PROFILES {
                return Err(Fault::MaxProfiles(format!(
                    "at most {MAX_MADE_PROFILES} profiles can be made; delete one first"
                )));
            }
            let taken =
                |t: &str| own.iter().any(|p| p.token == t) || existing.iter().any(|m| m.token == t);
            let token = match token {
                Some(t) if taken(t) => {
                    return Err(Fault::ProfileExists(format!(
                        "there is a profile `{t}` already"
                    )));
                }
                Some(t) => t.clone(),
                None => (0..)
                    // Camera ids hold no dot, so a camera added later cannot take it.
                    .map(|n| format!("profile.{n}"))
                    .find(|t| !taken(t))
                    .unwrap_or_default(),
            };
            let mut m = MadeProfile {
                token,
                name: name.clone(),
                parts: BTreeMap::new(),
            };
            add(own, &mut m, parts)?;
            checked(m)
        }
        ProfileEdit::Delete { profile } => {
            made(own, existing, profile)?;
            Ok(Change::Delete(profile.clone()))
        }
        ProfileEdit::Add {
            profile,
            name,
            parts,
        } => {
            let mut m = made(own, existing, profile)?.clone();
            if let Some(n) = name {
                m.name = n.clone();
            }
            add(own, &mut m, parts)?;
            checked(m)
        }
        ProfileEdit::Remove { profile, parts } => {
            let mut m = made(own, existing, profile)?.clone();
            for part in parts {
                match (&part.token, m.parts.get(&part.kind)) {
                    (Some(asked), Some(held)) if asked != held => {
                        return Err(Fault::NoConfig(format!(
                            "profile `{profile}` holds `{held}`, not `{asked}`"
                        )));
                    }
                    _ => {
                        m.parts.remove(&part.kind);
                    }
                }
            }
            checked(m)
        }
    }
}

/// A profile to store, its name and token checked as the store checks them.
fn checked(m: MadeProfile) -> Result<Change, Fault> {
    match m.validate() {
        Ok(()) => Ok(Change::Put(m)),
        Err(e) => Err(Fault::InvalidArgs(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::answer::PtzInfo;
    use ConfigurationKind as K;

    fn own_profile(token: &str, camera: &str, ptz: bool) -> ProfileInfo {
        ProfileInfo {
            stream: token.into(),
            fixed: true,
            parts: K::OWN.into_iter().collect(),
            source: format!("src_{camera}"),
            width: 640,
            height: 360,
            fps: 15,
            ptz: ptz.then(|| PtzInfo {
                node: format!("ptz_{camera}"),
                configuration: format!("ptzcfg_{camera}"),
                absolute: true,
                relative: true,
                continuous: true,
                home: true,
                max_presets: 100,
            }),
            ..ProfileInfo::empty(token, token)
        }
    }

    fn own() -> Vec<ProfileInfo> {
        vec![
            own_profile("camera0", "camera0", true),
            own_profile("camera0.sub", "camera0", true),
            own_profile("camera1", "camera1", false),
        ]
    }

    fn part(kind: ConfigurationKind, token: Option<&str>) -> PartRef {
        PartRef {
            kind,
            token: token.map(str::to_string),
        }
    }

    fn put(c: Result<Change, Fault>) -> MadeProfile {
        match c {
            Ok(Change::Put(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_profile_is_made_from_one_streams_configurations_and_plays_that_stream() {
        let own = own();
        let create = ProfileEdit::Create {
            name: "NVR".into(),
            token: None,
            parts: vec![],
        };
        let mut m = put(apply(&own, &[], &create));
        assert_eq!(m.token, "profile.0");
        assert!(m.parts.is_empty());
        // Media's way: one configuration at a time.
        for p in [
            part(K::VideoSource, Some("src_camera0")),
            part(K::VideoEncoder, Some("enc_camera0.sub")),
            part(K::Ptz, Some("ptzcfg_camera0")),
        ] {
            let edit = ProfileEdit::Add {
                profile: m.token.clone(),
                name: None,
                parts: vec![p],
            };
            m = put(apply(&own, std::slice::from_ref(&m), &edit));
        }
        let shown = resolve(&own, &m);
        assert_eq!(shown.stream, "camera0.sub");
        assert!(!shown.fixed);
        assert_eq!(shown.encoder_token(), "enc_camera0.sub");
        assert!(shown.has(K::VideoSource) && shown.has(K::VideoEncoder) && shown.has(K::Ptz));
        assert!(!shown.has(K::AudioEncoder));
        // Media2's way: all at once, the device choosing the encoder of the source's camera.
        let m2 = put(apply(
            &own,
            std::slice::from_ref(&m),
            &ProfileEdit::Create {
                name: "Other".into(),
                token: None,
                parts: vec![
                    part(K::VideoSource, Some("src_camera1")),
                    part(K::VideoEncoder, None),
                ],
            },
        ));
        assert_eq!(m2.token, "profile.1");
        assert_eq!(m2.parts[&K::VideoEncoder], "enc_camera1");
        assert_eq!(resolve(&own, &m2).stream, "camera1");
    }

    #[test]
    fn what_does_not_fit_is_refused_with_its_reason() {
        let own = own();
        let m = MadeProfile {
            token: "p".into(),
            name: "P".into(),
            parts: [(K::VideoSource, "src_camera0".to_string())].into(),
        };
        let existing = std::slice::from_ref(&m);
        let add = |kind, token: &str| ProfileEdit::Add {
            profile: "p".into(),
            name: None,
            parts: vec![part(kind, Some(token))],
        };
        // Another camera's encoder.
        let e = apply(&own, existing, &add(K::VideoEncoder, "enc_camera1")).expect_err("conflict");
        assert!(matches!(e, Fault::ConfigurationConflict(_)), "{e:?}");
        assert!(e.reason().contains("src_camera0"), "{}", e.reason());
        // A configuration that does not exist, a PTZ camera1 has not.
        assert!(matches!(
            apply(&own, existing, &add(K::VideoEncoder, "enc_nope")),
            Err(Fault::NoConfig(_))
        ));
        // Pinhole's own profiles stay.
        let del = ProfileEdit::Delete {
            profile: "camera0".into(),
        };
        assert!(matches!(
            apply(&own, existing, &del),
            Err(Fault::FixedProfile(_))
        ));
        assert!(matches!(
            apply(
                &own,
                existing,
                &ProfileEdit::Delete {
                    profile: "gone".into()
                }
            ),
            Err(Fault::NoProfile(_))
        ));
        // Tokens in use, and too many.
        let taken = ProfileEdit::Create {
            name: "x".into(),
            token: Some("camera1".into()),
            parts: vec![],
        };
        assert!(matches!(
            apply(&own, existing, &taken),
            Err(Fault::ProfileExists(_))
        ));
        let full: Vec<MadeProfile> = (0..MAX_MADE_PROFILES)
            .map(|n| MadeProfile {
                token: format!("m{n}"),
                name: "m".into(),
                parts: Default::default(),
            })
            .collect();
        let create = ProfileEdit::Create {
            name: "x".into(),
            token: None,
            parts: vec![],
        };
        assert!(matches!(
            apply(&own, &full, &create),
            Err(Fault::MaxProfiles(_))
        ));
        // A name that cannot be stored.
        let bad = ProfileEdit::Create {
            name: "a\u{7}".into(),
            token: None,
            parts: vec![],
        };
        assert!(matches!(apply(&own, &[], &bad), Err(Fault::InvalidArgs(_))));
        // Removing what it holds, by kind; a token it does not hold is named.
        let rm = ProfileEdit::Remove {
            profile: "p".into(),
            parts: vec![part(K::VideoSource, Some("src_camera1"))],
        };
        assert!(matches!(
            apply(&own, existing, &rm),
            Err(Fault::NoConfig(_))
        ));
        let rm = ProfileEdit::Remove {
            profile: "p".into(),
            parts: vec![part(K::VideoSource, None)],
        };
        assert!(put(apply(&own, existing, &rm)).parts.is_empty());
    }

    #[test]
    fn every_kind_left_to_the_device_takes_what_the_stream_has() {
        let own = own();
        let all = |token: Option<&str>| {
            let mut parts: Vec<PartRef> = K::ALL.into_iter().map(|k| part(k, None)).collect();
            if let Some(t) = token {
                parts.push(part(K::VideoSource, Some(t)));
            }
            parts
        };
        // camera1 has neither audio nor PTZ: its profile gets its video alone.
        let m = put(apply(
            &own,
            &[],
            &ProfileEdit::Create {
                name: "All".into(),
                token: None,
                parts: all(Some("src_camera1")),
            },
        ));
        let kinds: Vec<K> = m.parts.keys().copied().collect();
        assert_eq!(kinds, [K::VideoSource, K::VideoEncoder, K::Metadata]);
        assert_eq!(m.parts[&K::VideoEncoder], "enc_camera1");
        // The camera's events come too, though its own profiles do not hold them.
        assert_eq!(m.parts[&K::Metadata], "msrc_camera1");
        // camera0 has PTZ: it comes along.
        let m = put(apply(
            &own,
            &[],
            &ProfileEdit::Create {
                name: "All".into(),
                token: None,
                parts: all(None),
            },
        ));
        assert_eq!(
            m.parts.get(&K::Ptz).map(String::as_str),
            Some("ptzcfg_camera0")
        );
    }

    #[test]
    fn a_cameras_metadata_goes_into_a_made_profile_of_its_main_or_sub_stream() {
        let own = own();
        // Pinhole's own profiles offer it without holding it.
        assert!(own.iter().all(|p| !p.has(K::Metadata)));
        let mut m = MadeProfile {
            token: "nvr".into(),
            name: "NVR".into(),
            parts: [
                (K::VideoSource, "src_camera0".to_string()),
                (K::VideoEncoder, "enc_camera0.sub".to_string()),
            ]
            .into(),
        };
        let listed: Vec<&str> = compatible(&own, &resolve(&own, &m), K::Metadata)
            .iter()
            .map(|p| p.token.as_str())
            .collect();
        assert_eq!(listed, ["camera0.sub"]);
        let add = |m: &MadeProfile, token: &str| {
            apply(
                &own,
                std::slice::from_ref(m),
                &ProfileEdit::Add {
                    profile: "nvr".into(),
                    name: None,
                    parts: vec![part(K::Metadata, Some(token))],
                },
            )
        };
        m = put(add(&m, "msrc_camera0"));
        let shown = resolve(&own, &m);
        assert_eq!(shown.stream, "camera0.sub");
        assert!(shown.has(K::Metadata));
        assert_eq!(shown.metadata_token(), "msrc_camera0");
        // Another camera's events do not go with camera0's video.
        assert!(matches!(
            add(&m, "msrc_camera1"),
            Err(Fault::ConfigurationConflict(_))
        ));
        assert!(matches!(add(&m, "msrc_camera9"), Err(Fault::NoConfig(_))));
    }

    #[test]
    fn a_removed_cameras_configurations_drop_out() {
        let m = MadeProfile {
            token: "p".into(),
            name: "P".into(),
            parts: [
                (K::VideoSource, "src_camera2".to_string()),
                (K::VideoEncoder, "enc_camera2".to_string()),
            ]
            .into(),
        };
        let shown = resolve(&own(), &m);
        assert!(shown.parts.is_empty());
        assert_eq!(shown.token, "p");
        assert_eq!(shown.stream, "");
    }
}
