//! A simulated VISCA camera, pure and time-driven: it is given requests and the current time and
//! answers with replies, so its behaviour (motion at speed, limits, two command sockets, ACK then
//! completion, buffer full, not-executable states, presets, power) is tested deterministically.
//! [`super::simserver`] puts it on the wire.
//!
//! Motion model: pan/tilt move at `55 × speed` position units per second (a Sony-class camera
//! at speed 18h turns about 100°/s with 0.075° units), zoom and focus cover their whole range in
//! about 2-3 s at the highest speed; absolute moves and preset recalls complete on arrival.

use super::profile::Profile;
use super::visca::{
    Answer, CameraError, Command, FocusMode, Inquiry, PanDirection, Reply, Request, TiltDirection,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// Position units per second per unit of pan/tilt speed.
pub const PAN_TILT_UNITS_PER_SPEED: f64 = 55.0;
/// Zoom/focus units per second at variable speed p: (p + 1) × this.
pub const ZOOM_UNITS_PER_SPEED: f64 = 900.0;
/// Time to finish a command that does not move anything.
pub const INSTANT: Duration = Duration::from_millis(0);
/// Time to power on or off.
pub const POWER_TIME: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    pos: f64,
    /// Units per second (signed) for continuous motion.
    vel: f64,
    /// Target and speed (units/s) of a positioning move.
    target: Option<(f64, f64)>,
    min: f64,
    max: f64,
}

impl Axis {
    fn new(pos: f64, min: f64, max: f64) -> Self {
        Axis {
            pos,
            vel: 0.0,
            target: None,
            min,
            max,
        }
    }

    fn advance(&mut self, dt: f64) {
        if let Some((t, speed)) = self.target {
            let step = speed * dt;
            if (t - self.pos).abs() <= step {
                self.pos = t;
                self.target = None;
            } else {
                self.pos += step * (t - self.pos).signum();
            }
        } else if self.vel != 0.0 {
            self.pos = (self.pos + self.vel * dt).clamp(self.min, self.max);
            if self.pos <= self.min || self.pos >= self.max {
                self.vel = 0.0; // hit a limit
            }
        }
    }

    fn go_to(&mut self, target: f64, speed: f64) {
        self.vel = 0.0;
        self.target = Some((target.clamp(self.min, self.max), speed.max(1.0)));
    }

    fn drive(&mut self, vel: f64) {
        self.target = None;
        self.vel = vel;
    }

    fn moving(&self) -> bool {
        self.target.is_some() || self.vel != 0.0
    }

    /// Seconds until a positioning move arrives.
    fn eta(&self) -> f64 {
        match self.target {
            Some((t, s)) => (t - self.pos).abs() / s,
            None => 0.0,
        }
    }
}

/// What runs in a command socket.
#[derive(Debug, Clone)]
struct Running<O> {
    origin: O,
    /// Completion time; `None` = when the pan/tilt (or zoom, focus) move it started arrives.
    done_at: Option<Duration>,
    waits_for: Waits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waits {
    Time,
    PanTilt,
    Zoom,
    Focus,
    PanTiltZoomFocus,
}

/// A preset stored in camera memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Memory {
    pub pan: f64,
    pub tilt: f64,
    pub zoom: f64,
    pub focus: f64,
}

/// The observable state, for status lines and tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimStatus {
    pub power: bool,
    pub pan: i16,
    pub tilt: i16,
    pub zoom: u16,
    pub focus: u16,
    pub focus_mode: FocusMode,
    pub moving: bool,
}

/// The camera. `O` identifies where a command came from, so its completion goes back there.
#[derive(Debug)]
pub struct SimCamera<O> {
    pub profile: Profile,
    pub address: u8,
    power: bool,
    pan: Axis,
    tilt: Axis,
    zoom: Axis,
    focus: Axis,
    focus_mode: FocusMode,
    presets: BTreeMap<u8, Memory>,
    sockets: [Option<Running<O>>; 2],
    now: Duration,
    /// Commands executed, for the log.
    pub executed: u64,
}

impl<O: Clone> SimCamera<O> {
    pub fn new(profile: Profile, address: u8) -> Self {
        let (pl, tl) = (&profile.pan_limits, &profile.tilt_limits);
        let pan = Axis::new(0.0, f64::from(*pl.start()), f64::from(*pl.end()));
        let tilt = Axis::new(0.0, f64::from(*tl.start()), f64::from(*tl.end()));
        let zoom = Axis::new(0.0, 0.0, f64::from(profile.zoom_max));
        let fl = &profile.focus_limits;
        let focus = Axis::new(
            f64::from(*fl.start()),
            f64::from(*fl.start()),
            f64::from(*fl.end()),
        );
        SimCamera {
            profile,
            address,
            power: true,
            pan,
            tilt,
            zoom,
            focus,
            focus_mode: FocusMode::Auto,
            presets: BTreeMap::new(),
            sockets: [None, None],
            now: Duration::ZERO,
            executed: 0,
        }
    }

    /// Moves simulated time forward to `now`.
    pub fn advance(&mut self, now: Duration) {
        if now <= self.now {
            return;
        }
        let dt = (now - self.now).as_secs_f64();
        for a in [
            &mut self.pan,
            &mut self.tilt,
            &mut self.zoom,
            &mut self.focus,
        ] {
            a.advance(dt);
        }
        self.now = now;
    }

    pub fn status(&self) -> SimStatus {
        SimStatus {
            power: self.power,
            pan: self.pan.pos.round() as i16,
            tilt: self.tilt.pos.round() as i16,
            zoom: self.zoom.pos.round() as u16,
            focus: self.focus.pos.round() as u16,
            focus_mode: self.focus_mode,
            moving: [&self.pan, &self.tilt, &self.zoom, &self.focus]
                .iter()
                .any(|a| a.moving()),
        }
    }

    /// The earliest time at which [`Self::tick`] will have something to say.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.sockets
            .iter()
            .flatten()
            .map(|r| self.completion_time(r))
            .min()
    }

    fn completion_time(&self, r: &Running<O>) -> Duration {
        let eta = match r.waits_for {
            Waits::Time => 0.0,
            Waits::PanTilt => self.pan.eta().max(self.tilt.eta()),
            Waits::Zoom => self.zoom.eta(),
            Waits::Focus => self.focus.eta(),
            Waits::PanTiltZoomFocus => [&self.pan, &self.tilt, &self.zoom, &self.focus]
                .iter()
                .map(|a| a.eta())
                .fold(0.0, f64::max),
        };
        let by_motion = self.now + Duration::from_secs_f64(eta);
        match r.done_at {
            Some(t) => t.max(by_motion),
            None => by_motion,
        }
    }

    /// Completions due at `now`.
    pub fn tick(&mut self, now: Duration) -> Vec<(O, Reply)> {
        self.advance(now);
        let mut out = Vec::new();
        for i in 0..2 {
            let due = self.sockets[i]
                .as_ref()
                .is_some_and(|r| self.completion_time(r) <= now);
            if due && let Some(r) = self.sockets[i].take() {
                out.push((
                    r.origin,
                    Reply::Completion {
                        socket: i as u8 + 1,
                    },
                ));
            }
        }
        out
    }

    /// Handles one request at `now`; returns the replies to send at once (ACK, errors, inquiry
    /// data, and completions of commands that take no time).
    pub fn handle(&mut self, now: Duration, origin: O, req: Request) -> Vec<(O, Reply)> {
        self.advance(now);
        let err = |socket: u8, error| vec![(origin.clone(), Reply::Error { socket, error })];
        let cmd = match req {
            Request::Inquiry(i) => {
                let answer = self.answer(i);
                return vec![(origin, Reply::Data(Inquiry::encode_answer(&answer)))];
            }
            Request::Command(c) => c,
        };
        match cmd {
            Command::AddressSet => {
                return vec![(
                    origin,
                    Reply::AddressSet {
                        next: self.address + 1,
                    },
                )];
            }
            Command::IfClear => {
                self.sockets = [None, None];
                self.stop_all();
                return vec![(origin, Reply::Completion { socket: 0 })];
            }
            Command::Cancel { socket } => {
                let idx = usize::from(socket.wrapping_sub(1));
                return match self.sockets.get_mut(idx).and_then(Option::take) {
                    Some(r) => {
                        self.stop_all();
                        vec![(
                            r.origin,
                            Reply::Error {
                                socket,
                                error: CameraError::Cancelled,
                            },
                        )]
                    }
                    None => err(socket, CameraError::NoSocket),
                };
            }
            _ => {}
        }
        if !self.power
            && cmd != (Command::Power { on: true })
            && cmd != (Command::Power { on: false })
        {
            return err(0, CameraError::NotExecutable);
        }
        let Some(slot) = self.sockets.iter().position(Option::is_none) else {
            return err(0, CameraError::BufferFull);
        };
        let socket = slot as u8 + 1;
        let waits = match self.execute(cmd) {
            Ok(w) => w,
            Err(e) => return err(0, e),
        };
        self.executed += 1;
        let (done_at, waits_for) = match waits {
            Some(w) => (None, w),
            None => (
                Some(
                    now + if matches!(cmd, Command::Power { .. }) {
                        POWER_TIME
                    } else {
                        INSTANT
                    },
                ),
                Waits::Time,
            ),
        };
        let running = Running {
            origin: origin.clone(),
            done_at,
            waits_for,
        };
        let mut out = vec![(origin, Reply::Ack { socket })];
        if self.completion_time(&running) <= now {
            out.push((running.origin, Reply::Completion { socket }));
        } else {
            self.sockets[slot] = Some(running);
        }
        out
    }

    fn stop_all(&mut self) {
        for a in [
            &mut self.pan,
            &mut self.tilt,
            &mut self.zoom,
            &mut self.focus,
        ] {
            a.vel = 0.0;
            a.target = None;
        }
    }

    fn answer(&self, i: Inquiry) -> Answer {
        let s = self.status();
        match i {
            Inquiry::Power => Answer::Power(s.power),
            Inquiry::ZoomPosition => Answer::ZoomPosition(s.zoom),
            Inquiry::FocusMode => Answer::FocusMode(s.focus_mode),
            Inquiry::FocusPosition => Answer::FocusPosition(s.focus),
            Inquiry::PanTiltPosition => Answer::PanTiltPosition {
                pan: s.pan,
                tilt: s.tilt,
            },
            Inquiry::Version => Answer::Version {
                vendor: 0x0001,
                model: 0x0519,
                rom: 0x0100,
                max_socket: 2,
            },
        }
    }

    fn zoom_rate(speed: Option<u8>) -> f64 {
        (f64::from(speed.unwrap_or(3)) + 1.0) * ZOOM_UNITS_PER_SPEED
    }

    /// Applies a command; `Ok(Some(w))` when its completion waits for motion.
    fn execute(&mut self, cmd: Command) -> Result<Option<Waits>, CameraError> {
        let p = &self.profile;
        let pt_speed = |v: u8, w: u8| -> Result<(f64, f64), CameraError> {
            p.check_speeds(v, w).map_err(|_| CameraError::Syntax)?;
            Ok((
                f64::from(v) * PAN_TILT_UNITS_PER_SPEED,
                f64::from(w) * PAN_TILT_UNITS_PER_SPEED,
            ))
        };
        let zoom_speed_ok = |s: Option<u8>| s.is_none_or(|s| p.zoom_speed.contains(&s));
        match cmd {
            Command::Power { on } => {
                self.power = on;
                if !on {
                    self.stop_all();
                }
                Ok(None)
            }
            Command::PanTiltDrive {
                pan_speed,
                tilt_speed,
                pan,
                tilt,
            } => {
                // A stopped axis may carry any speed, 00 included (real cameras accept it, and
                // common controllers send it: `01 06 01 00 00 03 03` to stop, the other axis's
                // speed 00 when driving one).
                let (vs, ws) = pt_speed(
                    if pan == PanDirection::Stop {
                        *p.pan_speed.start()
                    } else {
                        pan_speed
                    },
                    if tilt == TiltDirection::Stop {
                        *p.tilt_speed.start()
                    } else {
                        tilt_speed
                    },
                )?;
                self.pan.drive(match pan {
                    PanDirection::Left => -vs,
                    PanDirection::Right => vs,
                    PanDirection::Stop => 0.0,
                });
                self.tilt.drive(match tilt {
                    TiltDirection::Up => ws,
                    TiltDirection::Down => -ws,
                    TiltDirection::Stop => 0.0,
                });
                Ok(None)
            }
            Command::PanTiltAbsolute {
                pan_speed,
                tilt_speed,
                pan,
                tilt,
            } => {
                let (vs, ws) = pt_speed(pan_speed, tilt_speed)?;
                p.check_position(pan, tilt)
                    .map_err(|_| CameraError::NotExecutable)?;
                self.pan.go_to(f64::from(pan), vs);
                self.tilt.go_to(f64::from(tilt), ws);
                Ok(Some(Waits::PanTilt))
            }
            Command::PanTiltRelative {
                pan_speed,
                tilt_speed,
                pan,
                tilt,
            } => {
                let (vs, ws) = pt_speed(pan_speed, tilt_speed)?;
                let (tp, tt) = (
                    self.pan.pos + f64::from(pan),
                    self.tilt.pos + f64::from(tilt),
                );
                self.pan.go_to(tp, vs);
                self.tilt.go_to(tt, ws);
                Ok(Some(Waits::PanTilt))
            }
            Command::PanTiltHome | Command::PanTiltReset => {
                let top = f64::from(*p.pan_speed.end()) * PAN_TILT_UNITS_PER_SPEED;
                self.pan.go_to(0.0, top);
                self.tilt.go_to(0.0, top);
                Ok(Some(Waits::PanTilt))
            }
            Command::ZoomStop => {
                self.zoom.drive(0.0);
                Ok(None)
            }
            Command::ZoomTele { speed } | Command::ZoomWide { speed } => {
                if !zoom_speed_ok(speed) {
                    return Err(CameraError::Syntax);
                }
                let rate = Self::zoom_rate(speed);
                self.zoom.drive(if matches!(cmd, Command::ZoomTele { .. }) {
                    rate
                } else {
                    -rate
                });
                Ok(None)
            }
            Command::ZoomDirect { position } => {
                if position > p.zoom_max {
                    return Err(CameraError::NotExecutable);
                }
                self.zoom
                    .go_to(f64::from(position), Self::zoom_rate(Some(7)));
                Ok(Some(Waits::Zoom))
            }
            Command::FocusSetMode(m) => {
                self.focus_mode = m;
                Ok(None)
            }
            Command::FocusToggleMode => {
                self.focus_mode = match self.focus_mode {
                    FocusMode::Auto => FocusMode::Manual,
                    FocusMode::Manual => FocusMode::Auto,
                };
                Ok(None)
            }
            Command::FocusOnePush => Ok(None),
            Command::FocusStop
            | Command::FocusFar { .. }
            | Command::FocusNear { .. }
            | Command::FocusDirect { .. }
                if self.focus_mode == FocusMode::Auto =>
            {
                Err(CameraError::NotExecutable)
            }
            Command::FocusStop => {
                self.focus.drive(0.0);
                Ok(None)
            }
            Command::FocusFar { speed } | Command::FocusNear { speed } => {
                if !speed.is_none_or(|s| p.focus_speed.contains(&s)) {
                    return Err(CameraError::Syntax);
                }
                let rate = Self::zoom_rate(speed);
                self.focus
                    .drive(if matches!(cmd, Command::FocusFar { .. }) {
                        rate
                    } else {
                        -rate
                    });
                Ok(None)
            }
            Command::FocusDirect { position } => {
                if !p.focus_limits.contains(&position) {
                    return Err(CameraError::NotExecutable);
                }
                self.focus
                    .go_to(f64::from(position), Self::zoom_rate(Some(7)));
                Ok(Some(Waits::Focus))
            }
            Command::PresetSet { preset }
            | Command::PresetReset { preset }
            | Command::PresetRecall { preset }
                if !p.preset_ok(preset) =>
            {
                Err(CameraError::Syntax)
            }
            Command::PresetSet { preset } => {
                let m = Memory {
                    pan: self.pan.pos,
                    tilt: self.tilt.pos,
                    zoom: self.zoom.pos,
                    focus: self.focus.pos,
                };
                self.presets.insert(preset, m);
                Ok(None)
            }
            Command::PresetReset { preset } => {
                self.presets.remove(&preset);
                Ok(None)
            }
            Command::PresetRecall { preset } => {
                // An unset preset recalls home, as cameras do.
                let m = self.presets.get(&preset).copied().unwrap_or(Memory {
                    pan: 0.0,
                    tilt: 0.0,
                    zoom: 0.0,
                    focus: self.focus.min,
                });
                let top = f64::from(*p.pan_speed.end()) * PAN_TILT_UNITS_PER_SPEED;
                self.pan.go_to(m.pan, top);
                self.tilt.go_to(m.tilt, top);
                self.zoom.go_to(m.zoom, Self::zoom_rate(Some(7)));
                if self.focus_mode == FocusMode::Manual {
                    self.focus.go_to(m.focus, Self::zoom_rate(Some(7)));
                }
                Ok(Some(Waits::PanTiltZoomFocus))
            }
            Command::AddressSet | Command::IfClear | Command::Cancel { .. } => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn cam() -> SimCamera<u32> {
        SimCamera::new(Profile::sony(), 1)
    }

    #[test]
    fn continuous_drive_moves_with_speed_and_stops_at_limits() {
        let mut c = cam();
        let r = c.handle(
            ms(0),
            1,
            Request::Command(Command::PanTiltDrive {
                pan_speed: 0x10,
                tilt_speed: 0x01,
                pan: PanDirection::Right,
                tilt: TiltDirection::Stop,
            }),
        );
        assert_eq!(
            r,
            vec![
                (1, Reply::Ack { socket: 1 }),
                (1, Reply::Completion { socket: 1 })
            ]
        );
        c.advance(ms(1000));
        assert_eq!(c.status().pan, (16.0 * PAN_TILT_UNITS_PER_SPEED) as i16);
        assert!(c.status().moving);
        c.advance(ms(60_000));
        assert_eq!(c.status().pan, *c.profile.pan_limits.end());
        assert!(!c.status().moving, "stops at the limit");
    }

    #[test]
    fn absolute_move_completes_on_arrival_and_sockets_fill_up() {
        let mut c = cam();
        let abs = Command::PanTiltAbsolute {
            pan_speed: 0x10,
            tilt_speed: 0x10,
            pan: 880,
            tilt: -100,
        };
        let r = c.handle(ms(0), 1, Request::Command(abs));
        assert_eq!(r, vec![(1, Reply::Ack { socket: 1 })]);
        // 880 units at 16 × 55 = 880 units/s: one second.
        assert_eq!(c.next_deadline(), Some(ms(1000)));
        let zoom = Command::ZoomDirect { position: 0x4000 };
        assert_eq!(
            c.handle(ms(10), 2, Request::Command(zoom)),
            vec![(2, Reply::Ack { socket: 2 })]
        );
        let r = c.handle(ms(20), 3, Request::Command(Command::PanTiltHome));
        assert_eq!(
            r,
            vec![(
                3,
                Reply::Error {
                    socket: 0,
                    error: CameraError::BufferFull
                }
            )]
        );
        assert!(c.tick(ms(999)).is_empty());
        assert_eq!(c.tick(ms(1000)), vec![(1, Reply::Completion { socket: 1 })]);
        assert_eq!(c.status().pan, 880);
        assert_eq!(c.status().tilt, -100);
        let done = c.tick(ms(10_000));
        assert_eq!(done, vec![(2, Reply::Completion { socket: 2 })]);
        assert_eq!(c.status().zoom, 0x4000);
    }

    #[test]
    fn errors_for_bad_speeds_states_and_cancel() {
        let mut c = cam();
        let bad = Command::PanTiltDrive {
            pan_speed: 0x19,
            tilt_speed: 1,
            pan: PanDirection::Left,
            tilt: TiltDirection::Stop,
        };
        assert_eq!(
            c.handle(ms(0), 1, Request::Command(bad)),
            vec![(
                1,
                Reply::Error {
                    socket: 0,
                    error: CameraError::Syntax
                }
            )]
        );
        // Speed 00 is fine on a stopped axis (stop with `00 00 03 03`, one axis with the
        // other's 00), not on a moving one.
        let drive = |v, w, pan, tilt| {
            Request::Command(Command::PanTiltDrive {
                pan_speed: v,
                tilt_speed: w,
                pan,
                tilt,
            })
        };
        use {PanDirection as P, TiltDirection as T};
        for ok in [
            drive(0, 0, P::Stop, T::Stop),
            drive(0x0A, 0, P::Right, T::Stop),
            drive(0, 5, P::Stop, T::Down),
        ] {
            assert_eq!(
                c.handle(ms(0), 1, ok)[0],
                (1, Reply::Ack { socket: 1 }),
                "speed 00 on a stopped axis"
            );
            c.handle(ms(0), 1, drive(0, 0, P::Stop, T::Stop));
        }
        assert!(matches!(
            c.handle(ms(0), 1, drive(0, 0, P::Left, T::Stop))[0],
            (
                1,
                Reply::Error {
                    error: CameraError::Syntax,
                    ..
                }
            )
        ));
        let manual_only = Command::FocusDirect { position: 0x2000 };
        assert_eq!(
            c.handle(ms(0), 1, Request::Command(manual_only)),
            vec![(
                1,
                Reply::Error {
                    socket: 0,
                    error: CameraError::NotExecutable
                }
            )]
        );
        assert_eq!(
            c.handle(ms(0), 1, Request::Command(Command::Cancel { socket: 1 })),
            vec![(
                1,
                Reply::Error {
                    socket: 1,
                    error: CameraError::NoSocket
                }
            )]
        );
        c.handle(
            ms(0),
            7,
            Request::Command(Command::PanTiltAbsolute {
                pan_speed: 1,
                tilt_speed: 1,
                pan: 2000,
                tilt: 0,
            }),
        );
        assert_eq!(
            c.handle(ms(100), 8, Request::Command(Command::Cancel { socket: 1 })),
            vec![(
                7,
                Reply::Error {
                    socket: 1,
                    error: CameraError::Cancelled
                }
            )]
        );
        assert!(!c.status().moving);
        // Standby refuses everything but power.
        c.handle(ms(200), 1, Request::Command(Command::Power { on: false }));
        c.tick(ms(1000));
        assert_eq!(
            c.handle(ms(1000), 1, Request::Command(Command::PanTiltHome)),
            vec![(
                1,
                Reply::Error {
                    socket: 0,
                    error: CameraError::NotExecutable
                }
            )]
        );
        let r = c.handle(ms(1000), 1, Request::Inquiry(Inquiry::Power));
        assert_eq!(r, vec![(1, Reply::Data(vec![0x03]))]);
    }

    #[test]
    fn presets_remember_and_recall_positions() {
        let mut c = cam();
        c.handle(
            ms(0),
            1,
            Request::Command(Command::PanTiltAbsolute {
                pan_speed: 0x18,
                tilt_speed: 0x17,
                pan: 500,
                tilt: 200,
            }),
        );
        c.tick(ms(2000));
        c.handle(
            ms(2000),
            1,
            Request::Command(Command::PresetSet { preset: 3 }),
        );
        c.handle(ms(2000), 1, Request::Command(Command::PanTiltHome));
        c.tick(ms(4000));
        assert_eq!((c.status().pan, c.status().tilt), (0, 0));
        c.handle(
            ms(4000),
            1,
            Request::Command(Command::PresetRecall { preset: 3 }),
        );
        c.tick(ms(6000));
        assert_eq!((c.status().pan, c.status().tilt), (500, 200));
        let out_of_range = Command::PresetSet { preset: 0x40 };
        assert_eq!(
            c.handle(ms(6000), 1, Request::Command(out_of_range)),
            vec![(
                1,
                Reply::Error {
                    socket: 0,
                    error: CameraError::Syntax
                }
            )]
        );
    }
}
