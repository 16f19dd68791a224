//! One controller per camera: a task that owns the link and serialises everything sent to it.
//!
//! It honours VISCA's flow control: a command is sent only when the previous one has been
//! acknowledged (or refused), at most two commands execute at once (the camera's two sockets),
//! each caller gets its command's *completion* (or the camera's error) as the result, and a full
//! buffer is retried after a short back-off. Lost packets are retransmitted (on Sony links with the
//! same sequence number; an abnormal-sequence reply to a retransmission means the first copy was
//! executed). Continuous joystick moves are coalesced: a queued move that has not been sent yet is
//! replaced by a newer one, but a stop is never dropped. When idle, it polls power, pan/tilt and
//! zoom for the status. A broken link is reopened with back-off; meanwhile callers get a clear
//! error at once rather than a hang.

use super::link::{Link, LinkError, LinkMsg, LinkSpec};
use super::profile::Profile;
use super::visca::{Answer, CameraError, Command, Inquiry, PanDirection, Reply, TiltDirection};
use serde::Serialize;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Timing and addressing of one camera.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    pub link: LinkSpec,
    /// Camera address on the link (1-7; always 1 over IP).
    pub address: u8,
    pub profile: Profile,
    /// Wait this long for an ACK or an inquiry answer before retransmitting.
    pub ack_timeout: Duration,
    /// Retransmissions before giving up on a packet.
    pub retries: u32,
    /// Longest wait for a command's completion after its ACK.
    pub completion_timeout: Duration,
    /// Status poll period when idle.
    pub poll_every: Duration,
}

impl ControllerConfig {
    pub fn new(link: LinkSpec, profile: Profile) -> Self {
        ControllerConfig {
            link,
            address: 1,
            profile,
            ack_timeout: Duration::from_millis(1000),
            retries: 3,
            completion_timeout: Duration::from_secs(30),
            poll_every: Duration::from_secs(1),
        }
    }
}

/// Why a PTZ request failed; every message says what happened and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PtzError {
    #[error("{link}: no answer to {what} after {attempts} attempt(s) of {timeout_ms} ms")]
    Timeout {
        link: String,
        what: String,
        attempts: u32,
        timeout_ms: u64,
    },
    #[error("{link}: the camera refused {what}: {error}")]
    Camera {
        link: String,
        what: String,
        error: CameraError,
    },
    #[error("{link}: link down ({reason}); reconnecting")]
    LinkDown { link: String, reason: String },
    /// An ONVIF camera answered with a SOAP fault.
    #[error("{link}: the camera refused {what}: {reason}")]
    Refused {
        link: String,
        what: String,
        reason: String,
    },
    /// The camera's kind of PTZ has no such operation (focus over ONVIF PTZ, say).
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the PTZ controller has stopped")]
    Stopped,
}

/// What the controller last learnt about the camera.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PtzStatus {
    pub link: String,
    pub connected: bool,
    pub power: Option<bool>,
    pub pan: Option<i16>,
    pub tilt: Option<i16>,
    pub zoom: Option<u16>,
    pub last_error: Option<String>,
    /// Replies that could not be decoded.
    pub garbage: u64,
    pub retransmissions: u64,
}

type Done<T> = oneshot::Sender<Result<T, PtzError>>;

enum Op {
    Command(Command, Option<Done<()>>),
    Inquiry(Inquiry, Option<Done<Answer>>),
}

impl Op {
    fn is_drive(&self) -> bool {
        matches!(self, Op::Command(Command::PanTiltDrive { .. }, _))
    }

    fn is_stop(&self) -> bool {
        matches!(
            self,
            Op::Command(
                Command::PanTiltDrive {
                    pan: PanDirection::Stop,
                    tilt: TiltDirection::Stop,
                    ..
                },
                _
            )
        )
    }
}

/// A handle on a running controller.
#[derive(Debug, Clone)]
pub struct Controller {
    tx: mpsc::Sender<Op>,
    status: watch::Receiver<PtzStatus>,
}

impl Controller {
    pub fn spawn(cfg: ControllerConfig, shutdown: CancellationToken) -> Controller {
        let (tx, rx) = mpsc::channel(64);
        let (status_tx, status) = watch::channel(PtzStatus {
            link: cfg.link.describe(),
            ..Default::default()
        });
        tokio::spawn(Task::new(cfg, rx, status_tx).run(shutdown));
        Controller { tx, status }
    }

    /// Sends a command; resolves when the camera reports it complete (or refuses it).
    pub async fn command(&self, cmd: Command) -> Result<(), PtzError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Op::Command(cmd, Some(done)))
            .await
            .map_err(|_| PtzError::Stopped)?;
        rx.await.map_err(|_| PtzError::Stopped)?
    }

    pub async fn inquire(&self, inq: Inquiry) -> Result<Answer, PtzError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Op::Inquiry(inq, Some(done)))
            .await
            .map_err(|_| PtzError::Stopped)?;
        rx.await.map_err(|_| PtzError::Stopped)?
    }

    pub fn status(&self) -> PtzStatus {
        self.status.borrow().clone()
    }

    pub fn watch(&self) -> watch::Receiver<PtzStatus> {
        self.status.clone()
    }
}

struct InFlight {
    op: Op,
    packet: Vec<u8>,
    sequence: u32,
    sent_at: Instant,
    attempts: u32,
    /// Buffer-full retries so far.
    busy_retries: u32,
}

struct Executing {
    done: Option<Done<()>>,
    what: String,
    deadline: Instant,
}

struct Task {
    cfg: ControllerConfig,
    rx: mpsc::Receiver<Op>,
    status: watch::Sender<PtzStatus>,
    link: Option<Link>,
    queue: VecDeque<Op>,
    in_flight: Option<InFlight>,
    executing: [Option<Executing>; 2],
    /// Not before this instant (buffer-full back-off).
    hold_until: Option<Instant>,
    next_poll: Instant,
    reconnect_at: Instant,
    reconnect_delay: Duration,
    consecutive_timeouts: u32,
}

fn what(op: &Op) -> String {
    match op {
        Op::Command(c, _) => format!("{c:?}"),
        Op::Inquiry(i, _) => format!("{i:?} inquiry"),
    }
}

impl Task {
    fn new(
        cfg: ControllerConfig,
        rx: mpsc::Receiver<Op>,
        status: watch::Sender<PtzStatus>,
    ) -> Self {
        let now = Instant::now();
        Task {
            cfg,
            rx,
            status,
            link: None,
            queue: VecDeque::new(),
            in_flight: None,
            executing: [None, None],
            hold_until: None,
            next_poll: now,
            reconnect_at: now,
            reconnect_delay: Duration::from_millis(500),
            consecutive_timeouts: 0,
        }
    }

    fn link_name(&self) -> String {
        self.cfg.link.describe()
    }

    async fn run(mut self, shutdown: CancellationToken) {
        loop {
            if self.link.is_none() && Instant::now() >= self.reconnect_at {
                self.connect().await;
            }
            self.pump().await;
            let deadline = self.next_deadline();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                op = self.rx.recv() => match op {
                    Some(op) => self.enqueue(op),
                    None => break,
                },
                msg = async {
                    match self.link.as_mut() {
                        Some(l) => l.recv().await,
                        None => std::future::pending().await,
                    }
                } => match msg {
                    Ok(m) => self.on_message(m).await,
                    Err(e) => self.link_lost(e),
                },
                _ = tokio::time::sleep_until(deadline) => self.on_timer().await,
            }
        }
        self.fail_all(PtzError::Stopped);
    }

    async fn connect(&mut self) {
        match Link::open(&self.cfg.link, self.cfg.address).await {
            Ok(mut link) => {
                // Start clean: Sony RESET, serial Address Set, then IF_Clear.
                let init = async {
                    link.reset_sequence().await?;
                    if self.cfg.link.is_serial() {
                        link.send(&Command::AddressSet.encode(8), false).await?;
                    }
                    Ok::<_, LinkError>(())
                };
                if let Err(e) = init.await {
                    self.link_lost(e);
                    return;
                }
                tracing::info!(link = %link.name(), "PTZ link open");
                self.link = Some(link);
                self.reconnect_delay = Duration::from_millis(500);
                self.queue.push_front(Op::Command(Command::IfClear, None));
                self.set_status(|s| {
                    s.connected = true;
                    s.last_error = None;
                });
            }
            Err(e) => self.link_lost(e),
        }
    }

    fn link_lost(&mut self, e: LinkError) {
        let reason = e.to_string();
        tracing::warn!(error = %reason, "PTZ link lost");
        self.link = None;
        self.reconnect_at = Instant::now() + self.reconnect_delay;
        self.reconnect_delay = (self.reconnect_delay * 2).min(Duration::from_secs(30));
        let err = PtzError::LinkDown {
            link: self.link_name(),
            reason: reason.clone(),
        };
        self.fail_all(err);
        self.set_status(|s| {
            s.connected = false;
            s.last_error = Some(reason);
        });
    }

    fn fail_all(&mut self, err: PtzError) {
        if let Some(f) = self.in_flight.take() {
            finish(f.op, Err(err.clone()));
        }
        for e in self.executing.iter_mut().filter_map(Option::take) {
            if let Some(d) = e.done {
                let _ = d.send(Err(err.clone()));
            }
        }
        while let Some(op) = self.queue.pop_front() {
            finish(op, Err(err.clone()));
        }
    }

    fn set_status(&self, f: impl FnOnce(&mut PtzStatus)) {
        self.status.send_modify(f);
    }

    fn enqueue(&mut self, op: Op) {
        if self.link.is_none() {
            let reason = self
                .status
                .borrow()
                .last_error
                .clone()
                .unwrap_or_else(|| "not connected yet".into());
            finish(
                op,
                Err(PtzError::LinkDown {
                    link: self.link_name(),
                    reason,
                }),
            );
            return;
        }
        // The newest joystick move wins over a queued, unsent one; stops are never replaced.
        if op.is_drive()
            && let Some(last) = self.queue.back()
            && last.is_drive()
            && !last.is_stop()
            && let Some(old) = self.queue.pop_back()
        {
            finish(old, Ok(()));
        }
        self.queue.push_back(op);
    }

    fn next_deadline(&self) -> Instant {
        let mut d = Instant::now() + Duration::from_secs(3600);
        if let Some(f) = &self.in_flight {
            d = d.min(f.sent_at + self.cfg.ack_timeout);
        }
        for e in self.executing.iter().flatten() {
            d = d.min(e.deadline);
        }
        if let Some(h) = self.hold_until {
            d = d.min(h);
        }
        if self.link.is_some() {
            d = d.min(self.next_poll);
        } else {
            d = d.min(self.reconnect_at);
        }
        d
    }

    /// Sends the next queued packet if the protocol allows it now.
    async fn pump(&mut self) {
        if self.in_flight.is_some() || self.link.is_none() {
            return;
        }
        if self.hold_until.is_some_and(|h| Instant::now() < h) {
            return;
        }
        self.hold_until = None;
        // Inquiries and interface commands need no socket; other commands wait for a free one.
        let both_busy = self.executing.iter().all(Option::is_some);
        let Some(pos) = self.queue.iter().position(|op| match op {
            Op::Inquiry(..) => true,
            Op::Command(c, _) => c.is_interface() || !both_busy,
        }) else {
            return;
        };
        let Some(op) = self.queue.remove(pos) else {
            return;
        };
        let (packet, inquiry) = match &op {
            Op::Command(c, _) => {
                let address = if matches!(c, Command::AddressSet) {
                    8
                } else {
                    self.cfg.address
                };
                (c.encode(address), false)
            }
            Op::Inquiry(i, _) => (i.encode(self.cfg.address), true),
        };
        let Some(link) = self.link.as_mut() else {
            return;
        };
        match link.send(&packet, inquiry).await {
            Ok(sequence) => {
                self.in_flight = Some(InFlight {
                    op,
                    packet,
                    sequence,
                    sent_at: Instant::now(),
                    attempts: 1,
                    busy_retries: 0,
                });
            }
            Err(e) => {
                self.queue.push_front(op);
                self.link_lost(e);
            }
        }
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        // ACK / answer timeout: retransmit, or give up.
        if self
            .in_flight
            .as_ref()
            .is_some_and(|f| now >= f.sent_at + self.cfg.ack_timeout)
            && let Some(mut f) = self.in_flight.take()
        {
            if f.attempts <= self.cfg.retries {
                f.attempts += 1;
                f.sent_at = now;
                self.set_status(|s| s.retransmissions += 1);
                let inquiry = matches!(f.op, Op::Inquiry(..));
                let res = match self.link.as_mut() {
                    Some(l) => l.resend(&f.packet, inquiry, f.sequence).await,
                    None => Ok(()),
                };
                self.in_flight = Some(f);
                if let Err(e) = res {
                    self.link_lost(e);
                }
            } else {
                let err = PtzError::Timeout {
                    link: self.link_name(),
                    what: what(&f.op),
                    attempts: f.attempts,
                    timeout_ms: self.cfg.ack_timeout.as_millis() as u64,
                };
                tracing::warn!(error = %err, "PTZ command timed out");
                self.set_status(|s| s.last_error = Some(err.to_string()));
                finish(f.op, Err(err));
                self.consecutive_timeouts += 1;
                // A camera that stopped answering: start the session afresh.
                if self.consecutive_timeouts >= 3 {
                    self.consecutive_timeouts = 0;
                    if let Some(l) = self.link.as_mut() {
                        let _ = l.reset_sequence().await;
                    }
                    self.queue.push_front(Op::Command(Command::IfClear, None));
                }
            }
        }
        for i in 0..2 {
            if self.executing[i]
                .as_ref()
                .is_some_and(|e| now >= e.deadline)
                && let Some(e) = self.executing[i].take()
                && let Some(d) = e.done
            {
                let _ = d.send(Err(PtzError::Timeout {
                    link: self.link_name(),
                    what: format!("completion of {}", e.what),
                    attempts: 1,
                    timeout_ms: self.cfg.completion_timeout.as_millis() as u64,
                }));
            }
        }
        if self.link.is_some() && now >= self.next_poll {
            self.next_poll = now + self.cfg.poll_every;
            if self.queue.is_empty() && self.in_flight.is_none() {
                for i in [
                    Inquiry::Power,
                    Inquiry::PanTiltPosition,
                    Inquiry::ZoomPosition,
                ] {
                    self.queue.push_back(Op::Inquiry(i, None));
                }
            }
        }
    }

    async fn on_message(&mut self, m: LinkMsg) {
        match m {
            LinkMsg::Reply {
                sequence,
                reply,
                bytes,
                ..
            } => {
                // On Sony links an answer to an older packet (a retransmitted one) is stale.
                let current = self.in_flight.as_ref().map(|f| f.sequence);
                let for_in_flight = sequence.is_none() || sequence == current;
                self.on_reply(reply, for_in_flight, &bytes);
            }
            LinkMsg::SequenceError { sequence } => {
                let retransmitted = self
                    .in_flight
                    .as_ref()
                    .is_some_and(|f| f.sequence == sequence && f.attempts > 1);
                if retransmitted {
                    // The first copy was executed; its replies were lost.
                    if let Some(f) = self.in_flight.take() {
                        finish(f.op, Ok(()));
                    }
                } else if let Some(l) = self.link.as_mut() {
                    tracing::warn!(
                        sequence,
                        "camera reports an abnormal sequence number; resetting"
                    );
                    let _ = l.reset_sequence().await;
                    if let Some(f) = self.in_flight.take() {
                        self.queue.push_front(f.op);
                    }
                }
            }
            LinkMsg::MessageTypeError { sequence } => {
                tracing::warn!(sequence, "camera reports an abnormal message type");
            }
            LinkMsg::ResetDone => {}
            LinkMsg::Garbage { reason } => {
                tracing::debug!(%reason, "PTZ garbage");
                self.set_status(|s| s.garbage += 1);
            }
        }
    }

    fn on_reply(&mut self, reply: Reply, for_in_flight: bool, bytes: &[u8]) {
        self.consecutive_timeouts = 0;
        if self
            .status
            .borrow()
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("no answer"))
        {
            tracing::info!(link = %self.cfg.link.describe(), "PTZ camera answers again");
            self.set_status(|s| s.last_error = None);
        }
        match reply {
            Reply::Ack { socket } if (1..=2).contains(&socket) => {
                if !for_in_flight {
                    return;
                }
                if let Some(f) = self.in_flight.take() {
                    let what = what(&f.op);
                    match f.op {
                        Op::Command(_, done) => {
                            self.executing[usize::from(socket - 1)] = Some(Executing {
                                done,
                                what,
                                deadline: Instant::now() + self.cfg.completion_timeout,
                            });
                        }
                        other => self.in_flight = Some(InFlight { op: other, ..f }),
                    }
                }
            }
            Reply::Completion { socket } if (1..=2).contains(&socket) => {
                match self.executing[usize::from(socket - 1)].take() {
                    Some(e) => {
                        if let Some(d) = e.done {
                            let _ = d.send(Ok(()));
                        }
                    }
                    // A completion for a socket we do not track (its ACK was lost, or it
                    // belongs to a command already given up on): nothing to finish. Attributing
                    // it to the command awaiting its ACK could report the wrong command done.
                    None => tracing::debug!(socket, "completion for an untracked socket"),
                }
            }
            Reply::Completion { socket: 0 } => {
                // IF_Clear done: nothing executes any more.
                if matches!(
                    self.in_flight.as_ref().map(|f| &f.op),
                    Some(Op::Command(Command::IfClear, _))
                ) {
                    if let Some(f) = self.in_flight.take() {
                        finish(f.op, Ok(()));
                    }
                    for e in self.executing.iter_mut().filter_map(Option::take) {
                        if let Some(d) = e.done {
                            let _ = d.send(Err(PtzError::Camera {
                                link: self.cfg.link.describe(),
                                what: e.what,
                                error: CameraError::Cancelled,
                            }));
                        }
                    }
                }
            }
            Reply::Data(data) => {
                if !for_in_flight {
                    return;
                }
                let Some(f) = self.in_flight.take() else {
                    return;
                };
                match f.op {
                    Op::Inquiry(inq, done) => {
                        let result = inq.decode_answer(&data).map_err(|e| PtzError::Camera {
                            link: self.cfg.link.describe(),
                            what: format!("{inq:?} inquiry (answer {e})"),
                            error: CameraError::Other(0),
                        });
                        if let Ok(a) = &result {
                            self.record(*a);
                        }
                        if let Some(d) = done {
                            let _ = d.send(result);
                        }
                    }
                    other => self.in_flight = Some(InFlight { op: other, ..f }),
                }
            }
            Reply::Error { socket, error } => {
                let link = self.cfg.link.describe();
                // An error in an executing socket ends that command.
                if (1..=2).contains(&socket)
                    && self.executing[usize::from(socket - 1)].is_some()
                    && error != CameraError::NoSocket
                {
                    if let Some(e) = self.executing[usize::from(socket - 1)].take()
                        && let Some(d) = e.done
                    {
                        let _ = d.send(Err(PtzError::Camera {
                            link: link.clone(),
                            what: e.what,
                            error,
                        }));
                    }
                    // A cancel command in flight succeeded.
                    if matches!(
                        self.in_flight.as_ref().map(|f| &f.op),
                        Some(Op::Command(Command::Cancel { .. }, _))
                    ) && let Some(f) = self.in_flight.take()
                    {
                        finish(f.op, Ok(()));
                    }
                    return;
                }
                if !for_in_flight {
                    return;
                }
                let Some(mut f) = self.in_flight.take() else {
                    return;
                };
                if error == CameraError::BufferFull && f.busy_retries < 5 {
                    f.busy_retries += 1;
                    self.hold_until = Some(
                        Instant::now() + Duration::from_millis(20 * u64::from(f.busy_retries)),
                    );
                    self.queue.push_front(f.op);
                    return;
                }
                let what = what(&f.op);
                tracing::info!(%what, %error, bytes = %super::visca::hex(bytes), "camera refused");
                self.set_status(|s| s.last_error = Some(format!("{what}: {error}")));
                finish(f.op, Err(PtzError::Camera { link, what, error }));
            }
            other => {
                tracing::debug!(reply = ?other, "unexpected reply ignored");
            }
        }
    }

    fn record(&self, a: Answer) {
        self.set_status(|s| match a {
            Answer::Power(p) => s.power = Some(p),
            Answer::PanTiltPosition { pan, tilt } => {
                s.pan = Some(pan);
                s.tilt = Some(tilt);
            }
            Answer::ZoomPosition(z) => s.zoom = Some(z),
            Answer::FocusMode(_) | Answer::FocusPosition(_) | Answer::Version { .. } => {}
        });
    }
}

fn finish(op: Op, result: Result<(), PtzError>) {
    match op {
        Op::Command(_, Some(d)) => {
            let _ = d.send(result);
        }
        Op::Inquiry(inq, Some(d)) => {
            // Only errors end an inquiry here: its answer (data) is delivered by the reply path.
            let _ = d.send(result.and(Err(PtzError::Invalid(format!(
                "{inq:?} inquiry: the answer was lost"
            )))));
        }
        _ => {}
    }
}
