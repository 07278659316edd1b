"""The procedural action library: rule-based full-body actions on the canonical skeleton, with a
root trajectory, stepping legs and planted feet, composed into sequences.

Each action is a function ``(spec, state, fps, rng) -> (Plan, State)``: it starts from the body's
state (where the root is, which way it faces, where the feet are planted, seated or standing) in the
relaxed pose and ends in it again, with zero velocity at both ends (minimum-jerk keys), so any
sequence joins smoothly. Parameters vary with the seed (amplitudes, timings, step lengths within
about +-10-15 %). :func:`synthesize` composes :class:`ActionSpec` s (as ``umo.motion.captions``
parses them) and realises them (``umo.motion.body``).

Physically: feet are planted exactly during stance (IK to fixed ankle targets), the pelvis is
lowered where a leg could not reach, and no foot joint goes below the floor (the root is raised
where one would). Sitting uses an implied chair (seat height about 45 cm) that is not drawn.

Dimension letters: T frames.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from umo.animation import Animation
from umo.animator.handshapes import one_hot
from umo.constants import NUM_BLENDSHAPES
from umo.errors import UmoError
from umo.motion.body import (
    ANKLE_HEIGHT,
    ARM_CFG,
    REST_WRIST,
    STANCE_HALF_WIDTH,
    Plan,
    heading_vectors,
    key_track,
    realize,
    stance_feet,
    step_track,
)

log = logging.getLogger(__name__)

# The actions, in the order help texts list them.
ACTIONS: tuple[str, ...] = (
    "walk", "turn", "wave", "point", "clap", "bow", "nod", "shrug", "jump", "crouch", "kick", "raise_arms",
    "sit_down", "stand_up", "idle",
)
SPEEDS = {"slow": 0.7, "normal": 1.0, "fast": 1.45}  # tempo factors (durations divide by these)
WALK_SPEED_CM_S = 110.0  # a normal walk (about 1.1 m/s)
WALK_STEP_S = 0.55  # seconds per step at a normal pace
SEAT_PELVIS_Y = -44.0  # root height offset when seated on the implied chair, cm
SEAT_BACK_CM = 20.0  # the seated root is this far behind the feet, cm


@dataclass(frozen=True)
class ActionSpec:
    """One action of a sequence, as parsed from a caption."""

    name: str  # one of ACTIONS
    side: str | None = None  # "right", "left", "both" (hands/legs), or a direction for walk/turn/point
    count: int = 1  # repetitions (units for nod and clap)
    speed: float = 1.0  # tempo factor: > 1 faster
    energy: float = 1.0  # amplitude factor: happily > 1, sadly < 1
    direction: str | None = None  # walk: forward/backward/left/right; turn: left/right/around; point/raise: up/forward/side
    distance_cm: float | None = None  # walk distance
    angle_deg: float | None = None  # turn angle

    def __post_init__(self) -> None:
        if self.name not in ACTIONS:
            raise UmoError(f"unknown action {self.name!r}: the actions are {', '.join(ACTIONS)}")
        if self.count < 1 or self.count > 20:
            raise UmoError(f"{self.name}: a count must be 1 to 20, got {self.count}")

    def describe(self) -> str:
        bits = [self.name]
        for label, value, default in (("side", self.side, None), ("direction", self.direction, None),
                                      ("count", self.count, 1), ("speed", self.speed, 1.0), ("energy", self.energy, 1.0)):
            if value != default:
                bits.append(f"{label}={value:g}" if isinstance(value, float) else f"{label}={value}")
        if self.distance_cm is not None:
            bits.append(f"distance={self.distance_cm / 100:g} m")
        if self.angle_deg is not None:
            bits.append(f"angle={self.angle_deg:g} deg")
        return " ".join(bits)


@dataclass
class State:
    """Where the body is between actions."""

    root_xz: np.ndarray = field(default_factory=lambda: np.zeros(2))
    heading: float = 0.0
    feet: np.ndarray = field(default_factory=lambda: stance_feet(np.zeros(2), 0.0))  # (2, 3)
    foot_yaw: np.ndarray = field(default_factory=lambda: np.zeros(2))
    seated: bool = False


@dataclass
class Segment:
    spec: ActionSpec
    start: int  # first frame
    end: int  # one past the last frame


@dataclass
class Motion:
    """A synthesised sequence: the animation (body, root; face at rest) and where each action is."""

    animation: Animation
    segments: list[Segment]
    plan: Plan


# --- helpers -------------------------------------------------------------------------------------
def _frames(seconds: float, fps: float) -> int:
    return max(2, int(round(seconds * fps)))


def _base(state: State, seconds: float, fps: float) -> Plan:
    """A segment that holds the state (standing, or seated on the implied chair)."""
    p = Plan.standing(_frames(seconds, fps), fps, state.root_xz, state.heading, state.feet, state.foot_yaw)
    if state.seated:
        p.pelvis_y[:] = SEAT_PELVIS_Y
        _seated_arms(p, np.ones(p.num_frames))
    return p


def _seated_arms(plan: Plan, w: np.ndarray) -> None:
    """Hands move onto the thighs as the body sits (w: 0 standing .. 1 seated)."""
    for h in (0, 1):
        plan.wrist[:, h] += w[:, None] * (np.array([17.0, -28.0, 30.0]) - REST_WRIST)
        plan.twist[:, h] += w * (70.0 - ARM_CFG.twist_rest)


def _jit(rng: np.random.Generator, x: float, rel: float = 0.1) -> float:
    return float(x * (1.0 + rel * rng.uniform(-1.0, 1.0)))


def _hands(side: str | None, rng: np.random.Generator, default: str = "right") -> list[int]:
    side = side if side in ("right", "left", "both") else default
    return {"right": [0], "left": [1], "both": [0, 1]}[side]


def _arm_pose(plan: Plan, hand: int, keys: list[tuple[float, tuple[float, float, float]]], twist=None, flex=None,
              shape: str | None = None, shape_keys: tuple[float, float] | None = None) -> None:
    """Wrist keys for one hand (from and back to rest at the first and last key times), optional
    twist/flex keys [(t, deg)] and a hand shape held between shape_keys (t_in, t_out)."""
    kt = np.array([k[0] for k in keys])
    kv = np.array([k[1] for k in keys], dtype=np.float64)
    kv[0] = kv[-1] = plan.wrist[0, hand]  # from and back to where the hand is (at rest, or on the thighs)
    plan.wrist[:, hand] = key_track(plan.times, kt, kv)
    if twist is not None:
        tv = np.array([k[1] for k in twist], dtype=np.float64)
        tv[0] = tv[-1] = plan.twist[0, hand]
        plan.twist[:, hand] = key_track(plan.times, np.array([k[0] for k in twist]), tv)
    if flex is not None:
        plan.flex[:, hand] = key_track(plan.times, np.array([k[0] for k in flex]), np.array([k[1] for k in flex]))
    if shape is not None and shape_keys is not None:
        a, b = shape_keys
        w = key_track(plan.times, np.array([a - 0.2, a, b, b + 0.25]), np.array([0.0, 1.0, 1.0, 0.0]))[:, None]
        plan.shape[:, hand] = (1 - w) * one_hot("relaxed") + w * one_hot(shape)


def _rest_keys(t0: float, t1: float, inner: list[tuple[float, tuple]]) -> list[tuple[float, tuple]]:
    rest = tuple(REST_WRIST)
    return [(t0, rest), *inner, (t1, rest)]


def _end_state(plan: Plan, seated: bool) -> State:
    return State(root_xz=plan.root_xz[-1].copy(), heading=float(plan.heading[-1]), feet=plan.feet[-1].copy(),
                 foot_yaw=plan.foot_yaw[-1].copy(), seated=seated)


# --- locomotion ----------------------------------------------------------------------------------
def _locomotion(state: State, fps: float, rng: np.random.Generator, distance: float, direction: float,
                turn: float, speed: float, energy: float, first: int | None = None) -> Plan:
    """Walking along a straight path (``distance`` cm towards ``direction``, radians relative to the
    heading) while the heading turns by ``turn`` radians; footsteps alternate, each foot planted
    at the path's position at the middle of its stance."""
    v = WALK_SPEED_CM_S * speed * rng.uniform(0.92, 1.08)
    step_s = WALK_STEP_S / np.sqrt(speed) * rng.uniform(0.95, 1.05)  # faster walks: longer and quicker steps
    ramp = 0.5 + 0.2 / speed  # speeding up and slowing down, seconds
    turn_s = abs(turn) / np.radians(110.0) * (1.0 / speed)
    path_s = max(distance / v + ramp, turn_s, 2 * step_s)
    swing_s = 0.7 * step_s
    dt = 1.0 / fps
    # path: distance along the way with smooth speed-up and slow-down, rescaled to the exact distance
    tt = np.arange(0.0, path_s + dt, dt)
    vel = np.minimum(np.clip(tt / ramp, 0, 1), np.clip((path_s - tt) / ramp, 0, 1))
    vel = vel**2 * (3 - 2 * vel)
    s = np.concatenate([[0.0], np.cumsum(vel[1:] * dt)])
    s = s * (distance / s[-1]) if s[-1] > 0 else s
    head = state.heading + turn * (3 * np.clip(tt / path_s, 0, 1) ** 2 - 2 * np.clip(tt / path_s, 0, 1) ** 3)
    way = state.heading + direction
    root = state.root_xz[None] + s[:, None] * np.array([np.sin(way), np.cos(way)])[None]

    def at(t: float) -> tuple[np.ndarray, float]:
        k = int(np.clip(round(t / dt), 0, len(tt) - 1))
        return root[k], float(head[k])

    # footsteps: step k starts at k * step_s and swings one foot for swing_s
    if first is None:
        first = 1 if (turn > 0 or np.sin(direction) > 0.5) else (0 if turn < 0 or np.sin(direction) < -0.5
                                                                else int(rng.integers(2)))
    planted = {0: [(0.0, state.feet[0].copy(), state.foot_yaw[0])], 1: [(0.0, state.feet[1].copy(), state.foot_yaw[1])]}
    lift = 9.0 * energy * np.sqrt(speed)
    k = 0
    while True:
        foot = (first + k) % 2
        t_lift = k * step_s
        t_land = t_lift + swing_s
        mid = min(t_lift + 0.5 * swing_s + step_s, path_s)  # middle of the stance that follows (until its next lift)
        r, h = at(mid)
        target = stance_feet(r, h)[foot]
        last_pos, last_yaw = planted[foot][-1][1], planted[foot][-1][2]
        if np.linalg.norm(target[[0, 2]] - last_pos[[0, 2]]) > 1.0 or abs(h - last_yaw) > np.radians(2):
            planted[foot].append((t_lift, last_pos, last_yaw))
            planted[foot].append((t_land, target, h))
        done = all(
            np.linalg.norm(planted[f][-1][1][[0, 2]] - stance_feet(*at(path_s))[f][[0, 2]]) < 1.0
            and abs(planted[f][-1][2] - head[-1]) < np.radians(2) for f in (0, 1))
        k += 1
        if (done and t_lift + swing_s >= path_s - step_s) or k > 400:
            break
    total = max(path_s, max(planted[f][-1][0] for f in (0, 1))) + 0.25
    plan = _base(state, total, fps)
    times = plan.times
    n = len(tt)
    plan.root_xz[:n] = root[: plan.num_frames]
    plan.root_xz[n:] = root[-1]
    plan.heading[:n] = head[: plan.num_frames]
    plan.heading[n:] = head[-1]
    for f in (0, 1):
        kt = np.array([p[0] for p in planted[f]])
        kp = np.array([p[1] for p in planted[f]])
        ky = np.array([p[2] for p in planted[f]])
        plan.feet[:, f] = step_track(times, kt, kp, lift)
        plan.foot_yaw[:, f] = key_track(times, kt, ky)
    # the pelvis sits a little lower while walking (knees soft), sways over the stance foot
    moving = key_track(times, np.array([0.0, 0.3, total - 0.5, total]), np.array([0.0, 1.0, 1.0, 0.0]))
    plan.pelvis_y[:] = -1.5 * moving * speed
    fwd, left = heading_vectors(plan.heading)
    rel = plan.feet[:, 1, [0, 2]] - plan.feet[:, 0, [0, 2]]  # left foot minus right
    ahead = np.sum(rel * fwd, axis=1)  # > 0: left foot in front
    # arms swing against the legs: the right hand forward when the left foot is
    swing = np.clip(0.22 * energy * ahead, -18, 18)
    plan.wrist[:, 0, 2] += swing
    plan.wrist[:, 1, 2] -= swing
    plan.spine[:, 1] = np.radians(2.5) * np.clip(ahead / 40.0, -1, 1)  # the chest counter-rotates a little
    plan.spine[:, 0] = np.radians(3.0) * moving * (speed - 0.5)  # a slight forward lean, more when fast
    return plan


def _walk(spec: ActionSpec, state: State, fps: float, rng: np.random.Generator) -> tuple[Plan, State]:
    direction = {"forward": 0.0, None: 0.0, "backward": np.pi, "left": np.pi / 2, "right": -np.pi / 2}.get(spec.direction, 0.0)
    dist = spec.distance_cm if spec.distance_cm is not None else _jit(rng, 300.0 if spec.speed >= 1 else 220.0, 0.15)
    if spec.direction in ("backward", "left", "right") and spec.distance_cm is None:
        dist = _jit(rng, 120.0, 0.15)  # backwards and sideways: a few steps
    speed = spec.speed * (0.6 if spec.direction in ("backward", "left", "right") else 1.0)
    plan = _locomotion(state, fps, rng, dist * spec.count, direction, 0.0, speed, spec.energy)
    return plan, _end_state(plan, False)


def _turn(spec: ActionSpec, state: State, fps: float, rng: np.random.Generator) -> tuple[Plan, State]:
    angle = spec.angle_deg if spec.angle_deg is not None else (180.0 if spec.direction == "around" else 90.0)
    sign = -1.0 if spec.direction == "right" else 1.0
    plan = _locomotion(state, fps, rng, 0.0, 0.0, sign * np.radians(angle) * spec.count, 0.8 * spec.speed, spec.energy)
    return plan, _end_state(plan, False)


# --- gestures and whole-body actions --------------------------------------------------------------
def _wave(spec, state, fps, rng):
    sp, e = spec.speed, spec.energy
    cycles = 3 * spec.count
    rise, per, back = 0.65 / sp, _jit(rng, 0.45) / sp, 0.7 / sp
    total = rise + cycles * per + back + 0.3
    plan = _base(state, total, fps)
    up = (_jit(rng, 28.0), _jit(rng, 28.0 * min(e, 1.3)), _jit(rng, 14.0))
    via = (38.0, -8.0, 26.0)  # out in front on the way up and down, not past the shoulder
    for h in _hands(spec.side, rng):
        keys = [(0.5 * rise, via), (rise, up)]
        for c in range(cycles):
            keys.append((rise + (c + 0.5) * per, (up[0] + 11 * e, up[1] + 1.0, up[2])))
            keys.append((rise + (c + 1.0) * per, (up[0] - 7 * e, up[1], up[2])))
        keys.append((rise + cycles * per + 0.05, up))
        keys.append((rise + cycles * per + 0.05 + 0.5 * (total - 0.3 - rise - cycles * per - 0.05), via))
        _arm_pose(plan, h, _rest_keys(0.0, total - 0.3, keys),
                  twist=[(0.0, ARM_CFG.twist_rest), (rise, -70.0), (rise + cycles * per, -70.0), (total - 0.3, ARM_CFG.twist_rest)],
                  shape="open", shape_keys=(rise, rise + cycles * per))
    plan.head[:, 0] = key_track(plan.times, np.array([0, rise, total - 0.3, total]),
                                np.array([0.0, 1.0, 1.0, 0.0])) * np.radians(8) * (1 if _hands(spec.side, rng)[0] == 1 else -1) * (len(_hands(spec.side, rng)) == 1)
    return plan, _end_state(plan, state.seated)


def _point(spec, state, fps, rng):
    sp = spec.speed
    reach, hold, back = 0.55 / sp, _jit(rng, 1.1) / sp * spec.count, 0.6 / sp
    total = reach + hold + back + 0.2
    plan = _base(state, total, fps)
    target = {"up": (20.0, 55.0, 22.0), "side": (58.0, 12.0, 12.0), "down": (20.0, -25.0, 40.0)}.get(
        spec.direction or "", (14.0, 8.0, 52.0))
    target = tuple(_jit(rng, v, 0.06) for v in target)
    for h in _hands(spec.side, rng):
        _arm_pose(plan, h, _rest_keys(0.0, total - 0.2, [(reach, target), (reach + hold, target)]),
                  twist=[(0.0, ARM_CFG.twist_rest), (reach, 60.0), (reach + hold, 60.0), (total - 0.2, ARM_CFG.twist_rest)],
                  shape="point", shape_keys=(reach, reach + hold))
        yaw = {0: -1.0, 1: 1.0}[h] * (0.5 if spec.direction == "side" else 0.1)
        plan.head[:, 0] += key_track(plan.times, np.array([0, reach, reach + hold, total]), np.array([0, yaw, yaw, 0]))
    return plan, _end_state(plan, state.seated)


def _clap(spec, state, fps, rng):
    sp, e = spec.speed, spec.energy
    claps = max(1, spec.count if spec.count > 1 else int(rng.integers(4, 7)))
    per = _jit(rng, 0.42) / sp / np.sqrt(e)
    rise = 0.45 / sp
    total = rise + claps * per + 0.6 / sp
    plan = _base(state, total, fps)
    open_ = (_jit(rng, 21.0) * e, -8.0, 28.0)
    shut = (4.0, -6.0, 30.0)
    for h in (0, 1):
        keys = [(rise, open_)]
        for c in range(claps):
            keys += [(rise + (c + 0.5) * per, shut), (rise + (c + 1.0) * per, open_)]
        _arm_pose(plan, h, _rest_keys(0.0, total - 0.1, keys), twist=[(0.0, ARM_CFG.twist_rest), (rise, 0.0), (total - 0.5, 0.0), (total - 0.1, ARM_CFG.twist_rest)],
                  shape="open", shape_keys=(rise, rise + claps * per))
    return plan, _end_state(plan, state.seated)


def _bow(spec, state, fps, rng):
    sp, e = spec.speed, spec.energy
    depth = np.radians(min(_jit(rng, 50.0) * e, 75.0))
    down, hold, up = 0.8 / sp, _jit(rng, 0.5) / sp, 0.9 / sp
    unit = down + hold + up + 0.15
    plan = _base(state, unit * spec.count, fps)
    kt, kv = [0.0], [0.0]
    for c in range(spec.count):
        t0 = c * unit
        kt += [t0 + down, t0 + down + hold, t0 + down + hold + up]
        kv += [1.0, 1.0, 0.0]
    w = key_track(plan.times, np.array(kt), np.array(kv))
    plan.spine[:, 0] += 0.75 * depth * w
    plan.pelvis_rot[:, 0] += 0.25 * depth * w  # the hips flex too
    fwd, _ = heading_vectors(plan.heading)
    plan.root_xz -= fwd * (8.0 * depth / np.radians(40) * w)[:, None]  # hips go back to keep balance
    plan.head[:, 1] += np.radians(12) * w
    return plan, _end_state(plan, state.seated)


def _nod(spec, state, fps, rng):
    nods = max(2, spec.count) if spec.count == 1 else spec.count
    per = _jit(rng, 0.5) / spec.speed
    total = nods * per + 0.4
    plan = _base(state, total, fps)
    amp = np.radians(_jit(rng, 20.0) * spec.energy)
    kt, kv = [0.0], [0.0]
    for c in range(nods):
        kt += [0.15 + (c + 0.45) * per, 0.15 + (c + 1.0) * per]
        kv += [amp, 0.0 if c == nods - 1 else 0.15 * amp]
    plan.head[:, 1] = key_track(plan.times, np.array(kt), np.array(kv))
    return plan, _end_state(plan, state.seated)


def _shrug(spec, state, fps, rng):
    sp = spec.speed
    up, hold, down = 0.35 / sp, _jit(rng, 0.5) / sp, 0.5 / sp
    unit = up + hold + down + 0.1
    plan = _base(state, unit * spec.count, fps)
    for c in range(spec.count):
        t0 = c * unit
        pose = (_jit(rng, 30.0), -30.0, _jit(rng, 22.0))
        for h in (0, 1):
            w = key_track(plan.times, np.array([t0, t0 + up, t0 + up + hold, t0 + up + hold + down]),
                          np.array([0.0, 1.0, 1.0, 0.0]))
            plan.wrist[:, h] += w[:, None] * (np.array(pose) - REST_WRIST)
            plan.twist[:, h] += w * (-75.0 - ARM_CFG.twist_rest)
            plan.shoulder_lift[:, h] += w * 14.0 * spec.energy
            plan.shape[:, h] = (1 - w[:, None]) * plan.shape[:, h] + w[:, None] * one_hot("open")
        plan.head[:, 2] += np.radians(8) * key_track(plan.times, np.array([t0, t0 + up, t0 + up + hold, t0 + unit]),
                                                     np.array([0.0, 1.0, 1.0, 0.0]))
    return plan, _end_state(plan, state.seated)


def _jump(spec, state, fps, rng):
    sp, e = spec.speed, spec.energy
    height = min(_jit(rng, 14.0) * e, 30.0)  # apex of the root above standing, cm
    flight = 2 * np.sqrt(2 * height / 981.0)  # ballistic: up and down under gravity
    prep, push, land, rec = 0.45 / sp, 0.12, 0.3, 0.45 / sp
    unit = prep + push + flight + land + rec
    plan = _base(state, unit * spec.count + 0.1, fps)
    t = plan.times
    fwd_dist = 30.0 if spec.direction == "forward" else 0.0
    fwd, _ = heading_vectors(plan.heading)
    for c in range(spec.count):
        t0 = c * unit
        t_off = t0 + prep + push  # feet leave the floor
        t_on = t_off + flight
        crouch = key_track(t, np.array([t0, t0 + prep, t_off, t_on, t_on + land, t_on + land + rec]),
                           np.array([0.0, -16.0 * e, 0.0, 0.0, -12.0 * e, 0.0]))
        inside = (t > t_off) & (t < t_on)
        tau = t - t_off
        rise = np.where(inside, height * 4 * (tau / flight) * (1 - tau / flight), 0.0)
        tuck = np.where(inside, 8.0 * np.sin(np.pi * np.clip(tau / flight, 0, 1)), 0.0)
        plan.pelvis_y += crouch + rise
        plan.feet[:, :, 1] += (rise + tuck)[:, None]
        if fwd_dist:
            adv = fwd_dist * np.clip(tau / flight, 0, 1)[:, None] * (t > t_off)[:, None]
            adv = adv * fwd
            plan.root_xz += adv
            plan.feet[:, :, [0, 2]] += adv[:, None]
        bend = key_track(t, np.array([t0, t0 + prep, t_off, t_on, t_on + land, t_on + land + rec]),
                         np.array([0.0, 1.0, -0.2, 0.0, 0.8, 0.0]))
        plan.spine[:, 0] += np.radians(18) * bend
        arms = key_track(t, np.array([t0, t0 + 0.8 * prep, t_off + 0.5 * flight, t_on + land, t_on + land + rec]),
                         np.array([0.0, -1.0, 1.0, 0.2, 0.0]))
        back = np.array([25.0, -40.0, -6.0]) - REST_WRIST  # arms swing back in the crouch ...
        front = np.array([26.0, -18.0 + 10.0 * min(e, 1.3), 36.0]) - REST_WRIST  # ... and forward-up on take-off
        for h in (0, 1):
            plan.wrist[:, h] += np.where(arms < 0, -arms, 0.0)[:, None] * back + np.where(arms > 0, arms, 0.0)[:, None] * front
    return plan, _end_state(plan, state.seated)


def _crouch(spec, state, fps, rng):
    sp = spec.speed
    down, hold, up = 0.8 / sp, _jit(rng, 1.0) / sp, 0.8 / sp
    unit = down + hold + up + 0.1
    plan = _base(state, unit * spec.count, fps)
    depth = min(_jit(rng, 40.0) * spec.energy, 48.0)
    kt, kv = [0.0], [0.0]
    for c in range(spec.count):
        t0 = c * unit
        kt += [t0 + down, t0 + down + hold, t0 + down + hold + up]
        kv += [1.0, 1.0, 0.0]
    w = key_track(plan.times, np.array(kt), np.array(kv))
    fwd, _ = heading_vectors(plan.heading)
    plan.pelvis_y -= depth * w
    plan.root_xz -= fwd * (10.0 * w)[:, None]
    plan.spine[:, 0] += np.radians(28) * w
    plan.head[:, 1] -= np.radians(15) * w  # look ahead, not at the floor
    for h in (0, 1):  # arms forward for balance
        plan.wrist[:, h] += w[:, None] * (np.array([18.0, -14.0, 32.0]) - REST_WRIST)
    return plan, _end_state(plan, state.seated)


def _kick(spec, state, fps, rng):
    sp, e = spec.speed, spec.energy
    side = spec.side if spec.side in ("left", "right") else ("right" if rng.uniform() < 0.7 else "left")
    foot = 0 if side == "right" else 1
    other = 1 - foot
    shift, chamber, extend, retract, place, settle = 0.4 / sp, 0.25 / sp, 0.18 / sp, 0.25 / sp, 0.3 / sp, 0.35 / sp
    unit = shift + chamber + extend + retract + place + settle
    plan = _base(state, unit * spec.count, fps)
    t = plan.times
    fwd, left = heading_vectors(plan.heading)
    lateral = 1.0 if foot == 1 else -1.0  # towards the kicking foot's side
    sideways = spec.direction == "side"
    for c in range(spec.count):
        t0 = c * unit
        kt = np.cumsum([t0, shift, chamber, extend, retract, place, settle])
        w_shift = key_track(t, kt[[0, 1, 5, 6]], np.array([0.0, 1.0, 1.0, 0.0]))
        # weight over the support foot
        sup = plan.feet[:, other, [0, 2]] - plan.root_xz
        plan.root_xz += 0.75 * sup * w_shift[:, None]
        plan.pelvis_rot[:, 2] += np.radians(4.0) * lateral * w_shift
        height = min(_jit(rng, 42.0) * e, 60.0)
        reach = _jit(rng, 50.0) * e
        if sideways:
            ext = np.array([lateral * reach, height, 5.0])
            plan.spine[:, 2] += np.radians(14.0) * lateral * key_track(t, kt[[0, 2, 3, 4, 6]], np.array([0, 0.6, 1, 0.6, 0]))
        else:
            ext = np.array([0.0, height, reach])
            plan.spine[:, 0] -= np.radians(8.0) * key_track(t, kt[[0, 2, 3, 4, 6]], np.array([0, 0.6, 1, 0.6, 0]))
        cham = np.array([0.3 * ext[0], 0.7 * height, 0.35 * ext[2] + 8.0])
        offs = key_track(t, kt[[0, 1, 2, 3, 4, 5]], np.stack([np.zeros(3), np.zeros(3), cham, ext, cham, np.zeros(3)]))
        # local (lateral-to-left, up, forward) -> world
        world = offs[:, 0:1] * np.stack([left[:, 0], np.zeros_like(t), left[:, 1]], -1) \
            + offs[:, 1:2] * np.array([0.0, 1.0, 0.0]) + offs[:, 2:3] * np.stack([fwd[:, 0], np.zeros_like(t), fwd[:, 1]], -1)
        plan.feet[:, foot] += world
        plan.foot_pitch[:, foot] += np.radians(30.0) * key_track(t, kt[[0, 2, 3, 4, 5]], np.array([0, 0.3, 1, 0, 0]))
        guard = key_track(t, kt[[0, 2, 4, 6]], np.array([0.0, 1.0, 1.0, 0.0]))
        for h in (0, 1):
            plan.wrist[:, h] += guard[:, None] * (np.array([16.0, -10.0, 22.0]) - REST_WRIST)
    return plan, _end_state(plan, state.seated)


def _raise_arms(spec, state, fps, rng):
    sp, e = spec.speed, spec.energy
    rise, hold, back = 0.8 / sp, _jit(rng, 1.0) / sp, 0.8 / sp
    unit = rise + hold + back + 0.1
    plan = _base(state, unit * spec.count, fps)
    target = {"side": (62.0, 12.0, 2.0), "forward": (16.0, 10.0, 55.0)}.get(spec.direction or "", (19.0, 60.0, 6.0))
    target = np.array([_jit(rng, v, 0.05) for v in target])
    if e < 1:  # half-hearted: not as high
        target = REST_WRIST + e * (target - REST_WRIST)
    for h in _hands(spec.side, rng, default="both"):
        for c in range(spec.count):
            t0 = c * unit
            w = key_track(plan.times, np.array([t0, t0 + rise, t0 + rise + hold, t0 + rise + hold + back]),
                          np.array([0.0, 1.0, 1.0, 0.0]))
            # the wrist goes round, out in front, not past the shoulder (where the elbow's IK folds)
            via = np.array([max(target[0], 34.0), 0.5 * (REST_WRIST[1] + target[1]), max(target[2], 42.0)])
            path = key_track(plan.times, np.array([t0, t0 + 0.5 * rise, t0 + rise, t0 + rise + hold,
                                                   t0 + rise + hold + 0.5 * back, t0 + rise + hold + back]),
                             np.stack([REST_WRIST, via, target, target, via, REST_WRIST]))
            plan.wrist[:, h] += path - REST_WRIST
            plan.twist[:, h] += w * (0.0 - ARM_CFG.twist_rest)
            plan.shape[:, h] = (1 - w[:, None]) * plan.shape[:, h] + w[:, None] * one_hot("open")
    return plan, _end_state(plan, state.seated)


def _sit(plan: Plan, w: np.ndarray) -> None:
    """Move between standing (w = 0) and seated on the implied chair (w = 1)."""
    fwd, _ = heading_vectors(plan.heading)
    plan.pelvis_y += SEAT_PELVIS_Y * w
    plan.root_xz -= fwd * (SEAT_BACK_CM * w)[:, None]
    _seated_arms(plan, w)


def _sit_down(spec, state, fps, rng):
    if state.seated:
        log.warning("sit down: already seated, holding")
        return _idle(spec, state, fps, rng)
    sp = spec.speed
    dur = _jit(rng, 1.4) / sp
    plan = _base(state, dur + 0.6, fps)
    t = plan.times
    _sit(plan, key_track(t, np.array([0.0, 0.2, dur]), np.array([0.0, 0.05, 1.0])))
    plan.spine[:, 0] += np.radians(32) * key_track(t, np.array([0.0, 0.55 * dur, dur + 0.4]), np.array([0.0, 1.0, 0.0]))
    end = _end_state(plan, True)
    end.root_xz = end.root_xz  # the seated root; stand_up goes back from here
    return plan, end


def _stand_up(spec, state, fps, rng):
    if not state.seated:  # standing already: nothing to rise from
        log.warning("stand up: already standing")
        return _idle(replace(spec, count=1), state, fps, rng)
    sp = spec.speed
    dur = _jit(rng, 1.3) / sp
    plan = _base(state, dur + 0.5, fps)
    t = plan.times
    fwd, _ = heading_vectors(plan.heading)
    plan.root_xz += fwd * SEAT_BACK_CM  # back to the standing reference; _sit puts it on the seat
    plan.pelvis_y[:] = 0.0
    _seated_arms(plan, -np.ones(plan.num_frames))  # undo _base's seated arms: _sit sets them by w
    _sit(plan, key_track(t, np.array([0.0, 0.3, dur]), np.array([1.0, 0.95, 0.0])))
    plan.spine[:, 0] += np.radians(35) * key_track(t, np.array([0.0, 0.4 * dur, dur + 0.3]), np.array([0.0, 1.0, 0.0]))
    return plan, _end_state(plan, False)


def _idle(spec, state, fps, rng):
    dur = _jit(rng, 2.0) * spec.count / max(spec.speed, 0.5)
    plan = _base(state, dur, fps)
    _, left = heading_vectors(plan.heading)
    if not state.seated:  # a slow weight shift onto one foot and back
        side = rng.choice([-1.0, 1.0])
        w = key_track(plan.times, np.array([0.0, 0.4 * dur, 0.7 * dur, dur]), np.array([0.0, 1.0, 1.0, 0.0]))
        plan.root_xz += left * (side * 2.5 * w)[:, None]
        plan.pelvis_rot[:, 2] -= np.radians(2.0) * side * w
    return plan, _end_state(plan, state.seated)


_ACTION_FUNCS = {
    "walk": _walk, "turn": _turn, "wave": _wave, "point": _point, "clap": _clap, "bow": _bow, "nod": _nod,
    "shrug": _shrug, "jump": _jump, "crouch": _crouch, "kick": _kick, "raise_arms": _raise_arms,
    "sit_down": _sit_down, "stand_up": _stand_up, "idle": _idle,
}
assert set(_ACTION_FUNCS) == set(ACTIONS)


# --- composition ---------------------------------------------------------------------------------
def plan_actions(specs: list[ActionSpec], fps: float = 30.0, seed: int = 0) -> tuple[Plan, list[Segment]]:
    """Plans the actions one after the other. Standing actions after a sit get a stand-up first;
    a sequence that starts with stand-up starts seated."""
    if not specs:
        raise UmoError(f"no actions to synthesise: the actions are {', '.join(ACTIONS)}")
    rng = np.random.default_rng(seed)
    state = State(seated=specs[0].name == "stand_up")
    if state.seated:
        state.root_xz = state.root_xz - np.array([0.0, SEAT_BACK_CM])
    lead = ActionSpec("idle", speed=2.5)  # a short still start
    plans, segments, frame = [], [], 0
    seq = [lead, *specs]
    for i, spec in enumerate(seq):
        seated_ok = spec.name in ("stand_up", "nod", "wave", "point", "clap", "shrug", "raise_arms", "idle", "sit_down")
        if state.seated and not seated_ok:
            log.info(f"{spec.name}: standing up first (the body was seated)")
            p, state = _stand_up(ActionSpec("stand_up"), state, fps, rng)
            plans.append(p)
            frame += p.num_frames
        p, state = _ACTION_FUNCS[spec.name](spec, state, fps, rng)
        plans.append(p)
        if i > 0:
            segments.append(Segment(spec, frame, frame + p.num_frames))
        frame += p.num_frames
    tail, _ = _idle(ActionSpec("idle", speed=2.5), state, fps, rng)
    plans.append(tail)
    return Plan.concat(plans), segments


def animation_from_plan(plan: Plan) -> Animation:
    rot, root = realize(plan)
    t = plan.num_frames
    return Animation(fps=plan.fps, face=np.zeros((t, NUM_BLENDSHAPES)), head=np.zeros((t, 3)), eyes=np.zeros((t, 6)),
                     body=rot, root_pos=root)


def synthesize(specs: list[ActionSpec], fps: float = 30.0, seed: int = 0) -> Motion:
    """Actions -> a full-body Motion (the realised animation, where each action is, the plan)."""
    plan, segments = plan_actions(specs, fps, seed)
    return Motion(animation_from_plan(plan), segments, plan)


def fit_duration(motion: Motion, seconds: float) -> tuple[Motion, str]:
    """The motion made ``seconds`` long: padded with standing idle when shorter (the last pose
    held, with the weight shift of an idle), time-scaled (every action faster) when longer.
    Returns the motion and what was done, for the log."""
    from umo.animation import interp_frames, slerp_frames

    anim = motion.animation
    fps = anim.fps
    target = max(2, int(round(seconds * fps)))
    n = anim.num_frames
    if target == n:
        return motion, "the actions fill the time exactly"
    if target > n:
        extra = target - n
        state = _end_state(motion.plan, False)
        seated = motion.plan.pelvis_y[-1] < SEAT_PELVIS_Y / 2
        state.seated = seated
        pad = _base(state, extra / fps, fps)
        pad = Plan(fps=fps, **{f: getattr(pad, f)[:extra] for f in pad.fields()})
        if len(pad.heading) < extra:  # _frames rounds to at least 2
            pad = Plan(fps=fps, **{f: np.concatenate([getattr(pad, f)] + [getattr(pad, f)[-1:]] * (extra - len(pad.heading)))
                                   for f in pad.fields()})
        plan = Plan.concat([motion.plan, pad])
        return (Motion(animation_from_plan(plan), motion.segments, plan),
                f"padded with {extra / fps:.1f} s of standing still after the actions ({n / fps:.1f} s)")
    scale = n / target
    times = np.arange(target) / fps * scale
    times = np.minimum(times, (n - 1) / fps)
    body = slerp_frames(anim.body, fps, times)
    root = interp_frames(anim.root_pos, fps, times)
    new = Animation(fps=fps, face=np.zeros((target, NUM_BLENDSHAPES)), head=np.zeros((target, 3)),
                    eyes=np.zeros((target, 6)), body=body, root_pos=root)
    segs = [Segment(s.spec, int(s.start / scale), int(s.end / scale)) for s in motion.segments]
    return (Motion(new, segs, motion.plan),
            f"time-scaled by {scale:.2f}x (every action faster) to fit {n / fps:.1f} s of actions into {seconds:g} s")
