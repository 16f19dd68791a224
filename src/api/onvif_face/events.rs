//! The face's event service: each camera's motion and person detection as ONVIF property events,
//! taken by clients through pull-point subscriptions (`CreatePullPointSubscription`, then
//! `PullMessages` in a loop, `Renew` before the end), or posted to them as `Notify` messages
//! (WS-BaseNotification `Subscribe`, Home Assistant's webhooks).
//!
//! The state comes from the detection service's events on the bus (`detection.start` and
//! `detection.end`, motion and `person` objects), and from the store's open events at start and
//! after the bus ran ahead of this reader, so a missed end never leaves a camera "moving".
//!
//! Bounds, since each subscription holds memory for a client that may vanish: at most
//! [`MAX_SUBSCRIPTIONS`] subscriptions, each ending unless renewed (an hour at most), each keeping
//! at most [`QUEUE`] messages (the oldest go first), one pull waiting per subscription. A
//! subscription belongs to the account that made it; to any other it does not exist.

use crate::api::SharedState;
use crate::onvif::server::answer::Fault;
use crate::onvif::server::events::{
    MAX_SUBSCRIPTIONS, Notification, PropertyOperation, Termination, Topic, TopicFilter,
};
use crate::supervisor::Supervisor;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// The longest a subscription lives without a renewal.
const MAX_LIFETIME_SECS: i64 = 3600;
/// A subscription's life when the client asks for none.
const DEFAULT_LIFETIME_SECS: i64 = 60;
/// The longest a `PullMessages` waits for a message.
const MAX_PULL_WAIT: Duration = Duration::from_secs(60);
/// Messages kept for a subscription nobody pulls.
const QUEUE: usize = 256;
/// How often ended subscriptions are dropped when nobody touches them.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// A consumer that took no `Notify` for this long loses its subscription.
const GIVE_UP: Duration = Duration::from_secs(60);
/// How long one `Notify` may take.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a failed `Notify` waits before it is tried again.
const NOTIFY_RETRY: Duration = Duration::from_secs(2);

/// One camera's detection state: the open events that make each topic true.
#[derive(Debug, Default, Clone, PartialEq)]
struct SourceState {
    motion: BTreeSet<i64>,
    people: BTreeSet<i64>,
    /// When each topic last changed (Unix ms).
    since_ms: BTreeMap<Topic, i64>,
}

impl SourceState {
    fn active(&self, t: Topic) -> bool {
        match t {
            Topic::MotionAlarm | Topic::CellMotion => !self.motion.is_empty(),
            Topic::People => !self.people.is_empty(),
        }
    }

    fn open(&mut self, cause: Cause) -> &mut BTreeSet<i64> {
        match cause {
            Cause::Motion => &mut self.motion,
            Cause::Person => &mut self.people,
        }
    }
}

#[derive(Debug)]
struct Subscription {
    owner: String,
    filter: TopicFilter,
    ends_secs: i64,
    queue: VecDeque<Notification>,
    /// The pull now waiting (a later pull ends an earlier one).
    puller: u64,
    /// Where `Notify` goes, for a base-notification subscription (none: a pull point).
    consumer: Option<String>,
}

impl Subscription {
    fn push(&mut self, n: Notification) {
        if !self.filter.accepts(n.topic) {
            return;
        }
        if self.queue.len() >= QUEUE {
            self.queue.pop_front();
        }
        self.queue.push_back(n);
    }
}

#[derive(Debug, Default)]
struct Inner {
    subscriptions: HashMap<String, Subscription>,
    /// By video source token (`src_<camera>`).
    sources: BTreeMap<String, SourceState>,
    /// Changes not yet sent down the cameras' RTSP metadata streams.
    streamed: Vec<Notification>,
}

/// What an open detection event means here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cause {
    Motion,
    Person,
}

fn cause(kind: &str, label: Option<&str>) -> Option<Cause> {
    match (kind, label) {
        ("motion", _) => Some(Cause::Motion),
        ("object", Some("person")) => Some(Cause::Person),
        _ => None,
    }
}

/// The video source token of a camera.
pub fn source_of(camera: &str) -> String {
    format!("{SOURCE_PREFIX}{camera}")
}

/// The camera of a video source token ([`source_of`]'s inverse).
fn camera_of(source: &str) -> Option<&str> {
    source.strip_prefix(SOURCE_PREFIX)
}

const SOURCE_PREFIX: &str = "src_";

#[derive(Debug)]
pub struct FaceEvents {
    inner: Mutex<Inner>,
    /// Bumped when a message is queued or a subscription changes: waiting pulls look again.
    version: watch::Sender<u64>,
    /// Numbers each pull, so a later pull of a subscription can end an earlier one.
    next_puller: AtomicU64,
}

impl Default for FaceEvents {
    fn default() -> Self {
        Self {
            inner: Default::default(),
            version: watch::Sender::new(0),
            next_puller: AtomicU64::new(1),
        }
    }
}

fn unknown() -> Fault {
    Fault::UnknownSubscription("no such subscription: it ended or was never made".into())
}

impl FaceEvents {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake(&self) {
        self.version.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Drops the subscriptions that ended.
    fn sweep(inner: &mut Inner, now_secs: i64) {
        inner.subscriptions.retain(|_, s| s.ends_secs > now_secs);
    }

    /// Ends every subscription (the face was switched off).
    pub fn clear(&self) {
        self.lock().subscriptions.clear();
        self.wake();
    }

    pub fn subscriptions(&self) -> usize {
        self.lock().subscriptions.len()
    }

    /// The changes since the last call, by source, each with the source's whole state, for
    /// the cameras' RTSP metadata streams.
    pub fn take_streamed(
        &self,
        now_ms: i64,
    ) -> Vec<(String, Vec<Notification>, Vec<Notification>)> {
        let mut inner = self.lock();
        let mut by_source: BTreeMap<String, Vec<Notification>> = BTreeMap::new();
        for n in inner.streamed.drain(..) {
            by_source.entry(n.source.clone()).or_default().push(n);
        }
        by_source
            .into_iter()
            .map(|(source, changes)| {
                let state = Self::initial(&inner.sources, std::slice::from_ref(&source), now_ms);
                (source, changes, state)
            })
            .collect()
    }

    /// The state of `source` as `Initialized` messages.
    pub fn state_of(&self, source: &str, now_ms: i64) -> Vec<Notification> {
        Self::initial(&self.lock().sources, &[source.to_string()], now_ms)
    }

    /// The state of each of `sources` as `Initialized` messages.
    fn initial(
        states: &BTreeMap<String, SourceState>,
        sources: &[String],
        now_ms: i64,
    ) -> Vec<Notification> {
        let blank = SourceState::default();
        let mut out = Vec::new();
        for src in sources {
            let st = states.get(src).unwrap_or(&blank);
            for topic in Topic::ALL {
                out.push(Notification {
                    topic,
                    source: src.clone(),
                    active: st.active(topic),
                    operation: PropertyOperation::Initialized,
                    at_ms: st.since_ms.get(&topic).copied().unwrap_or(now_ms),
                });
            }
        }
        out
    }

    /// A new subscription for `owner` (a pull point, or one that posts to `consumer`), starting
    /// with the state of `sources`: its id and end.
    pub fn create(
        &self,
        owner: &str,
        filter: TopicFilter,
        termination: Option<Termination>,
        consumer: Option<String>,
        sources: &[String],
        now_ms: i64,
    ) -> Result<(String, i64), Fault> {
        let now = now_ms.div_euclid(1000);
        let ends = match termination {
            None => now + DEFAULT_LIFETIME_SECS,
            Some(t) => t.resolve(now, MAX_LIFETIME_SECS).ok_or_else(|| {
                Fault::InvalidArgs("the InitialTerminationTime is not in the future".into())
            })?,
        };
        let mut inner = self.lock();
        Self::sweep(&mut inner, now);
        if inner.subscriptions.len() >= MAX_SUBSCRIPTIONS {
            return Err(Fault::Receiver(format!(
                "the device has {MAX_SUBSCRIPTIONS} event subscriptions open, its most: \
                 unsubscribe one, or let it end"
            )));
        }
        let mut id = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let mut sub = Subscription {
            owner: owner.to_string(),
            filter,
            ends_secs: ends,
            queue: VecDeque::new(),
            puller: 0,
            consumer,
        };
        for n in Self::initial(&inner.sources, sources, now_ms) {
            sub.push(n);
        }
        inner.subscriptions.insert(id.clone(), sub);
        Ok((id, ends))
    }

    /// Runs `f` on `owner`'s live subscription `id`, with the cameras' states.
    fn with<T>(
        &self,
        id: &str,
        owner: &str,
        now_secs: i64,
        f: impl FnOnce(&mut Subscription, &BTreeMap<String, SourceState>) -> T,
    ) -> Result<T, Fault> {
        let mut inner = self.lock();
        Self::sweep(&mut inner, now_secs);
        let Inner {
            subscriptions,
            sources,
            ..
        } = &mut *inner;
        let sub = subscriptions
            .get_mut(id)
            .filter(|s| s.owner == owner)
            .ok_or_else(unknown)?;
        Ok(f(sub, sources))
    }

    /// A new end for a subscription.
    pub fn renew(
        &self,
        id: &str,
        owner: &str,
        termination: Termination,
        now_secs: i64,
    ) -> Result<i64, Fault> {
        let ends = termination
            .resolve(now_secs, MAX_LIFETIME_SECS)
            .ok_or_else(|| Fault::InvalidArgs("the TerminationTime is not in the future".into()))?;
        self.with(id, owner, now_secs, |s, _| s.ends_secs = ends)?;
        Ok(ends)
    }

    pub fn unsubscribe(&self, id: &str, owner: &str, now_secs: i64) -> Result<(), Fault> {
        let mut inner = self.lock();
        Self::sweep(&mut inner, now_secs);
        if inner.subscriptions.get(id).is_none_or(|s| s.owner != owner) {
            return Err(unknown());
        }
        inner.subscriptions.remove(id);
        drop(inner);
        self.wake();
        Ok(())
    }

    /// Queues the state of `sources` again, as `Initialized`.
    pub fn synchronize(
        &self,
        id: &str,
        owner: &str,
        sources: &[String],
        now_ms: i64,
    ) -> Result<(), Fault> {
        self.with(id, owner, now_ms.div_euclid(1000), |s, states| {
            for n in Self::initial(states, sources, now_ms) {
                s.push(n);
            }
        })?;
        self.wake();
        Ok(())
    }

    /// Takes up to `limit` messages, waiting up to `timeout` (at most a minute) for the first;
    /// with the subscription's end. `now_ms` reads the device's clock.
    pub async fn pull(
        &self,
        id: &str,
        owner: &str,
        timeout: Duration,
        limit: u32,
        now_ms: impl Fn() -> i64,
    ) -> Result<(Vec<Notification>, i64), Fault> {
        let mut changed = self.version.subscribe();
        let me = self.next_puller.fetch_add(1, Ordering::Relaxed);
        let pulls = self.with(id, owner, now_ms().div_euclid(1000), |s, _| {
            s.puller = me;
            s.consumer.is_none()
        })?;
        if !pulls {
            return Err(Fault::ActionNotSupported(
                "this subscription delivers by Notify, not by PullMessages".into(),
            ));
        }
        // An earlier pull of the same subscription gives way.
        self.wake();
        let deadline = tokio::time::Instant::now() + timeout.min(MAX_PULL_WAIT);
        let limit = limit.max(1) as usize;
        loop {
            changed.borrow_and_update();
            let taken = self.with(id, owner, now_ms().div_euclid(1000), |s, _| {
                if s.puller != me {
                    // A later pull took over: its client gets the messages.
                    Some((Vec::new(), s.ends_secs))
                } else if !s.queue.is_empty() {
                    let n = s.queue.len().min(limit);
                    Some((s.queue.drain(..n).collect::<Vec<_>>(), s.ends_secs))
                } else {
                    None
                }
            })?;
            if let Some(t) = taken {
                return Ok(t);
            }
            tokio::select! {
                r = changed.changed() => if r.is_err() { break },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        self.with(id, owner, now_ms().div_euclid(1000), |s, _| {
            (Vec::new(), s.ends_secs)
        })
    }

    /// The queued messages of a `Notify` subscription, with its consumer; `None` when it ended.
    fn take_for_delivery(&self, id: &str, now_secs: i64) -> Option<(Vec<Notification>, String)> {
        let mut inner = self.lock();
        Self::sweep(&mut inner, now_secs);
        let s = inner.subscriptions.get_mut(id)?;
        let consumer = s.consumer.clone()?;
        Some((s.queue.drain(..).collect(), consumer))
    }

    /// Puts back messages a consumer did not take, before any queued since.
    fn give_back(&self, id: &str, messages: Vec<Notification>) {
        if let Some(s) = self.lock().subscriptions.get_mut(id) {
            for n in messages.into_iter().rev() {
                if s.queue.len() >= QUEUE {
                    break;
                }
                s.queue.push_front(n);
            }
        }
    }

    fn remove(&self, id: &str) {
        self.lock().subscriptions.remove(id);
        self.wake();
    }

    /// Edits one camera's open events of one cause; queues `Changed` for the topics that flip.
    /// Whether any did.
    fn change(
        inner: &mut Inner,
        source: &str,
        cause: Cause,
        edit: impl FnOnce(&mut BTreeSet<i64>),
        now_ms: i64,
    ) -> bool {
        let st = inner.sources.entry(source.to_string()).or_default();
        let before = Topic::ALL.map(|t| st.active(t));
        edit(st.open(cause));
        let mut flipped = Vec::new();
        for (t, was) in Topic::ALL.into_iter().zip(before) {
            let now = st.active(t);
            if now != was {
                st.since_ms.insert(t, now_ms);
                flipped.push(Notification {
                    topic: t,
                    source: source.to_string(),
                    active: now,
                    operation: PropertyOperation::Changed,
                    at_ms: now_ms,
                });
            }
        }
        inner.streamed.extend(flipped.iter().cloned());
        for s in inner.subscriptions.values_mut() {
            for n in &flipped {
                s.push(n.clone());
            }
        }
        !flipped.is_empty()
    }

    /// One detection event from the bus.
    pub fn observe(&self, topic: &str, params: &serde_json::Value, now_ms: i64) {
        let starts = match topic {
            "detection.start" => true,
            "detection.end" => false,
            _ => return,
        };
        let (Some(camera), Some(kind), Some(id)) = (
            params["device"].as_str(),
            params["kind"].as_str(),
            params["event_id"].as_i64(),
        ) else {
            return;
        };
        let Some(c) = cause(kind, params["label"].as_str()) else {
            return;
        };
        let edit = |open: &mut BTreeSet<i64>| {
            if starts {
                open.insert(id);
            } else {
                open.remove(&id);
            }
        };
        let flipped = Self::change(&mut self.lock(), &source_of(camera), c, edit, now_ms);
        if flipped {
            self.wake();
        }
    }

    /// Replaces the whole state with the store's open events.
    pub fn reload(&self, open: &[pinhole_db::events::OpenEvent], now_ms: i64) {
        let mut want: BTreeMap<(String, Cause), BTreeSet<i64>> = BTreeMap::new();
        for (id, camera, kind, label) in open {
            if let Some(c) = cause(kind, label.as_deref()) {
                want.entry((source_of(camera), c)).or_default().insert(*id);
            }
        }
        let mut inner = self.lock();
        let known: Vec<String> = inner.sources.keys().cloned().collect();
        for src in known {
            for c in [Cause::Motion, Cause::Person] {
                want.entry((src.clone(), c)).or_default();
            }
        }
        for ((src, c), ids) in want {
            Self::change(&mut inner, &src, c, |open| *open = ids, now_ms);
        }
        drop(inner);
        self.wake();
    }
}

/// Posts a `Notify` subscription's messages to its consumer as they come, until it ends or its
/// consumer stays unreachable for [`GIVE_UP`].
pub async fn deliver(state: SharedState, id: String, subscription_url: String) {
    let face = &state.onvif.events;
    let http = match reqwest::Client::builder()
        .timeout(NOTIFY_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "ONVIF events: no HTTP client for Notify");
            face.remove(&id);
            return;
        }
    };
    let mut changed = face.version.subscribe();
    let mut failing_since: Option<std::time::Instant> = None;
    loop {
        changed.borrow_and_update();
        let Some((messages, consumer)) = face.take_for_delivery(&id, state.clock.now_secs()) else {
            return;
        };
        if !messages.is_empty() {
            let body =
                crate::onvif::server::events::notify(&consumer, &subscription_url, &messages);
            let sent = http
                .post(&consumer)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/soap+xml; charset=utf-8",
                )
                .body(body)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => failing_since = None,
                other => {
                    let why = match other {
                        Ok(r) => format!("HTTP {}", r.status()),
                        Err(e) => e.to_string(),
                    };
                    let since = *failing_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() >= GIVE_UP {
                        tracing::info!(consumer = %consumer, error = %why, "ONVIF events: the consumer takes no Notify; its subscription ends");
                        face.remove(&id);
                        return;
                    }
                    tracing::debug!(consumer = %consumer, error = %why, "ONVIF events: Notify failed; trying again");
                    face.give_back(&id, messages);
                    tokio::time::sleep(NOTIFY_RETRY).await;
                    continue;
                }
            }
        }
        // Woken by a message, or once a second to notice the subscription's end.
        tokio::select! {
            _ = changed.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Whether `consumer` is an `http(s)` URL whose host is `client` (a name must resolve to it).
pub async fn consumer_is_the_client(consumer: &str, client: std::net::IpAddr) -> Result<(), Fault> {
    let refused = |why: &str| Fault::InvalidArgs(format!("ConsumerReference: {why}"));
    let url = reqwest::Url::parse(consumer).map_err(|_| refused("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused("only http and https consumers are posted to"));
    }
    let host = url.host_str().ok_or_else(|| refused("no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<std::net::IpAddr> = match host.parse() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let port = url.port_or_known_default().unwrap_or(80);
            tokio::time::timeout(
                Duration::from_secs(5),
                tokio::net::lookup_host((host.to_string(), port)),
            )
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| refused("its host does not resolve"))?
            .map(|a| a.ip())
            .collect()
        }
    };
    if addresses
        .iter()
        .any(|ip| ip.to_canonical() == client.to_canonical())
    {
        Ok(())
    } else {
        Err(refused(
            "Notify goes only to the address the subscriber connects from",
        ))
    }
}

async fn open_events(state: &SharedState) -> Option<Vec<pinhole_db::events::OpenEvent>> {
    match state.store.call(|c| pinhole_db::events::open(c)).await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, "ONVIF events: could not read the open detection events");
            None
        }
    }
}

/// Sends the changes of the event state down the cameras' RTSP metadata streams (taken even
/// when the media engine is off, so they never pile up).
fn stream_changes(state: &SharedState, face: &FaceEvents) {
    use crate::onvif::server::events::metadata_stream;
    let changed = face.take_streamed(state.now_ms());
    let Some(media) = &state.media else { return };
    for (source, changes, whole) in changed {
        if let Some(cam) = camera_of(&source).and_then(|id| media.camera(id)) {
            let (changes, whole) = (metadata_stream(&changes), metadata_stream(&whole));
            // The sub stream's metadata mount carries the camera's events too.
            for h in std::iter::once(cam.clone()).chain(cam.sub_stream()) {
                h.metadata.publish(Some(&changes), whole.clone());
            }
        }
    }
}

/// Gives each camera whose metadata has no state yet (new, or none changed) its state, so a
/// client starting to play gets every topic: at start and on each sweep, not per bus event.
fn stream_states(state: &SharedState, face: &FaceEvents) {
    use crate::onvif::server::events::metadata_stream;
    let Some(media) = &state.media else { return };
    for cam in media.cameras() {
        let waiting: Vec<_> = std::iter::once(cam.clone())
            .chain(cam.sub_stream())
            .filter(|h| !h.metadata.has_state())
            .collect();
        if waiting.is_empty() {
            continue;
        }
        let whole = metadata_stream(&face.state_of(&source_of(&cam.id), state.now_ms()));
        for h in waiting {
            h.metadata.publish(None, whole.clone());
        }
    }
}

/// Follows the bus into the face's event state and the cameras' metadata streams, and drops
/// subscriptions that ended.
pub fn spawn(sup: &Supervisor, state: SharedState) {
    sup.spawn("onvif-events", SWEEP_EVERY * 3, move |ctx| {
        let state = state.clone();
        async move {
            let face = &state.onvif.events;
            let mut bus = state.events.subscribe();
            if let Some(open) = open_events(&state).await {
                face.reload(&open, state.now_ms());
            }
            stream_changes(&state, face);
            stream_states(&state, face);
            let mut sweep = tokio::time::interval(SWEEP_EVERY);
            loop {
                ctx.heartbeat.beat();
                tokio::select! {
                    r = bus.recv() => match r {
                        Ok(e) => {
                            face.observe(&e.topic, &e.params, state.now_ms());
                            stream_changes(&state, face);
                            if e.topic == "camera.connected" {
                                // A new camera's metadata starts with its state.
                                stream_states(&state, face);
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::info!(missed = n, "ONVIF events: the bus ran ahead; reading the open events again");
                            if let Some(open) = open_events(&state).await {
                                face.reload(&open, state.now_ms());
                            }
                            stream_changes(&state, face);
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                    },
                    _ = sweep.tick() => {
                        stream_states(&state, face);
                        let mut inner = face.lock();
                        let before = inner.subscriptions.len();
                        FaceEvents::sweep(&mut inner, state.clock.now_secs());
                        if inner.subscriptions.len() != before {
                            drop(inner);
                            face.wake();
                        }
                    }
                    _ = ctx.shutdown.cancelled() => return Ok(()),
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: i64 = 1_764_806_400_000;

    fn sources() -> Vec<String> {
        vec![source_of("camera0"), source_of("camera1")]
    }

    async fn pull_now(f: &FaceEvents, id: &str, owner: &str) -> Vec<Notification> {
        f.pull(id, owner, Duration::ZERO, 100, || T0 + 1000)
            .await
            .expect("pull")
            .0
    }

    #[tokio::test]
    async fn a_subscription_starts_with_the_state_then_gets_changes() {
        let f = FaceEvents::default();
        f.observe(
            "detection.start",
            &json!({"device": "camera1", "kind": "motion", "event_id": 7, "label": "motion"}),
            T0 - 5000,
        );
        let (id, ends) = f
            .create(
                "admin",
                TopicFilter::all(),
                Some(Termination::AfterMs(600_000)),
                None,
                &sources(),
                T0,
            )
            .unwrap();
        assert_eq!(ends, T0 / 1000 + 600);
        let first = pull_now(&f, &id, "admin").await;
        assert_eq!(first.len(), 6);
        assert!(
            first
                .iter()
                .all(|n| n.operation == PropertyOperation::Initialized)
        );
        let moving: Vec<_> = first.iter().filter(|n| n.active).collect();
        assert_eq!(moving.len(), 2, "{first:?}");
        assert!(
            moving
                .iter()
                .all(|n| n.source == "src_camera1" && n.at_ms == T0 - 5000)
        );

        // A person on camera0: one Changed message; a second person changes nothing.
        let person = |id: i64| json!({"device": "camera0", "kind": "object", "label": "person", "event_id": id});
        f.observe("detection.start", &person(8), T0 + 100);
        f.observe("detection.start", &person(9), T0 + 200);
        f.observe(
            "detection.start",
            &json!({"device": "camera0", "kind": "object", "label": "face", "event_id": 10}),
            T0 + 300,
        );
        let got = pull_now(&f, &id, "admin").await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            (got[0].topic, got[0].active, got[0].operation),
            (Topic::People, true, PropertyOperation::Changed)
        );
        f.observe("detection.end", &person(8), T0 + 400);
        assert!(pull_now(&f, &id, "admin").await.is_empty());
        f.observe("detection.end", &person(9), T0 + 500);
        let got = pull_now(&f, &id, "admin").await;
        assert_eq!(
            (got.len(), got[0].active, got[0].at_ms),
            (1, false, T0 + 500)
        );
    }

    #[tokio::test]
    async fn a_waiting_pull_wakes_on_a_change_and_ends_at_its_timeout() {
        let f = std::sync::Arc::new(FaceEvents::default());
        let (id, _) = f
            .create("op", TopicFilter::all(), None, None, &[], T0)
            .unwrap();
        let waiting = {
            let (f, id) = (f.clone(), id.clone());
            tokio::spawn(async move { f.pull(&id, "op", Duration::from_secs(30), 10, || T0).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        f.observe(
            "detection.start",
            &json!({"device": "camera0", "kind": "motion", "event_id": 1}),
            T0,
        );
        let (got, _) = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .expect("task")
            .expect("pull");
        assert_eq!(got.len(), 2);
        let started = std::time::Instant::now();
        let (got, _) = f
            .pull(&id, "op", Duration::from_millis(200), 10, || T0)
            .await
            .unwrap();
        assert!(got.is_empty() && started.elapsed() >= Duration::from_millis(150));
    }

    #[tokio::test]
    async fn subscriptions_are_bounded_owned_and_end() {
        let f = FaceEvents::default();
        let mut mine = Vec::new();
        for _ in 0..MAX_SUBSCRIPTIONS {
            mine.push(
                f.create("a", TopicFilter::all(), None, None, &[], T0)
                    .unwrap()
                    .0,
            );
        }
        assert!(matches!(
            f.create("a", TopicFilter::all(), None, None, &[], T0),
            Err(Fault::Receiver(_))
        ));
        // Another account cannot see, renew or end them.
        let id = &mine[0];
        assert!(matches!(
            f.renew(id, "b", Termination::AfterMs(5000), T0 / 1000),
            Err(Fault::UnknownSubscription(_))
        ));
        assert!(f.unsubscribe(id, "b", T0 / 1000).is_err());
        f.unsubscribe(id, "a", T0 / 1000).unwrap();
        assert!(f.unsubscribe(id, "a", T0 / 1000).is_err());
        // The rest end after their default minute unless renewed.
        let kept = &mine[1];
        assert_eq!(
            f.renew(kept, "a", Termination::AfterMs(7_200_000), T0 / 1000),
            Ok(T0 / 1000 + 3600),
            "renewals are cut to an hour"
        );
        let later = T0 + 61_000;
        let (id, _) = f
            .create("a", TopicFilter::all(), None, None, &[], later)
            .unwrap();
        assert_eq!(f.subscriptions(), 2, "the ended ones were dropped");
        assert!(
            f.renew(&mine[2], "a", Termination::AfterMs(1000), later / 1000)
                .is_err()
        );
        assert!(f.synchronize(&id, "a", &sources(), later).is_ok());
        assert_eq!(
            f.create(
                "a",
                TopicFilter::all(),
                Some(Termination::AfterMs(0)),
                None,
                &[],
                T0
            ),
            Err(Fault::InvalidArgs(
                "the InitialTerminationTime is not in the future".into()
            ))
        );
    }

    #[tokio::test]
    async fn a_queue_nobody_pulls_keeps_the_newest_and_filters_apply() {
        let f = FaceEvents::default();
        let mut people = TopicFilter::all();
        people.add("tns1:RuleEngine/PeopleDetector/People").unwrap();
        let (filtered, _) = f.create("a", people, None, None, &sources(), T0).unwrap();
        let (all, _) = f
            .create("a", TopicFilter::all(), None, None, &[], T0)
            .unwrap();
        for i in 0..400 {
            let topic = if i % 2 == 0 {
                "detection.start"
            } else {
                "detection.end"
            };
            f.observe(
                topic,
                &json!({"device": "camera0", "kind": "motion", "event_id": 1}),
                T0 + i,
            );
        }
        let got = f
            .pull(&all, "a", Duration::ZERO, 1000, || T0)
            .await
            .unwrap()
            .0;
        assert_eq!(got.len(), QUEUE);
        assert_eq!(got.last().map(|n| n.at_ms), Some(T0 + 399));
        let got = pull_now(&f, &filtered, "a").await;
        assert_eq!(
            got.len(),
            2,
            "only the two Initialized People messages: {got:?}"
        );
        assert!(got.iter().all(|n| n.topic == Topic::People));
    }

    #[tokio::test]
    async fn notify_goes_only_to_the_subscribers_own_address() {
        let me: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        for ok in [
            "http://127.0.0.1:8123/api/webhook/x",
            "https://127.0.0.1/n",
            "http://localhost:9/n",
        ] {
            assert_eq!(consumer_is_the_client(ok, me).await, Ok(()), "{ok}");
        }
        let six: std::net::IpAddr = "::1".parse().unwrap();
        assert_eq!(
            consumer_is_the_client("http://[::1]:80/n", six).await,
            Ok(())
        );
        for bad in [
            "http://10.0.0.7/n",
            "ftp://127.0.0.1/n",
            "file:///etc/passwd",
            "not a url",
            "http://[::1]/n",
        ] {
            assert!(
                matches!(
                    consumer_is_the_client(bad, me).await,
                    Err(Fault::InvalidArgs(_))
                ),
                "{bad}"
            );
        }
        // A pull never takes a Notify subscription's messages.
        let f = FaceEvents::default();
        let (id, _) = f
            .create(
                "a",
                TopicFilter::all(),
                None,
                Some("http://127.0.0.1/n".into()),
                &sources(),
                T0,
            )
            .unwrap();
        assert!(matches!(
            f.pull(&id, "a", Duration::ZERO, 10, || T0).await,
            Err(Fault::ActionNotSupported(_))
        ));
        let (got, consumer) = f.take_for_delivery(&id, T0 / 1000).expect("live");
        assert_eq!((got.len(), consumer.as_str()), (6, "http://127.0.0.1/n"));
        f.give_back(&id, got);
        assert_eq!(
            f.take_for_delivery(&id, T0 / 1000).map(|t| t.0.len()),
            Some(6)
        );
    }

    #[tokio::test]
    async fn reloading_from_the_store_ends_what_the_bus_missed() {
        let f = FaceEvents::default();
        f.observe(
            "detection.start",
            &json!({"device": "camera0", "kind": "motion", "event_id": 3}),
            T0,
        );
        let (id, _) = f
            .create("a", TopicFilter::all(), None, None, &[], T0)
            .unwrap();
        // The end was missed; the store has only a person open on camera1.
        f.reload(
            &[(4, "camera1".into(), "object".into(), Some("person".into()))],
            T0 + 10,
        );
        let got = pull_now(&f, &id, "a").await;
        let summary: Vec<(String, Topic, bool)> = got
            .iter()
            .map(|n| (n.source.clone(), n.topic, n.active))
            .collect();
        assert_eq!(
            summary,
            [
                ("src_camera0".to_string(), Topic::MotionAlarm, false),
                ("src_camera0".to_string(), Topic::CellMotion, false),
                ("src_camera1".to_string(), Topic::People, true),
            ]
        );
    }
}
