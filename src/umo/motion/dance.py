"""The beat-tracked dance teacher: music features (librosa) and a rule-based dance placed on them.

Music (:func:`analyze_music`): onset strength, beat times and tempo (librosa's dynamic-programming
beat tracker), a downbeat estimate (the beat phase, of 4, with the strongest onsets), RMS energy.

Dance (:func:`dance_plan`): the song is cut into bars of 4 beats from the first downbeat; every two
bars get a move from the style's library (bounce, step-touch, punches, claps, hip sway, a turn at
the end of a 4-bar phrase, kick-step, disco points), mirrored at random. A move gives a key pose on
every beat and half-beat; poses are joined by minimum-jerk segments, so the body decelerates into
each beat (a speed minimum, which is what motion-beat detectors look for) and the feet step between
beats and stay planted on them. Amplitude follows the RMS energy of the bar; the seed picks the
moves, their sides and small variations; ``--style`` picks the move weights and the groove.

Dimension letters: T frames, B beats, F analysis frames.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from umo.animation import Animation
from umo.animator.handshapes import one_hot
from umo.constants import NUM_BLENDSHAPES
from umo.errors import UmoError
from umo.motion.body import ANKLE_HEIGHT, ARM_CFG, REST_WRIST, Plan, key_track, realize, ry, step_track

log = logging.getLogger(__name__)

ANALYSIS_RATE = 22_050  # Hz: librosa's default rate; the music is resampled to it once
HOP = 512  # samples between analysis frames: 22050 / 512 = 43 frames per second
MIN_MUSIC_S = 4.0  # shorter clips hold too few beats for a dance
SHORT_MUSIC_S = 10.0  # shorter than this: a warning (a bar or two)
SILENCE_RMS = 1e-3  # a clip whose loudest RMS frame is below this is silence
BEATS_PER_BAR = 4
MOVES: tuple[str, ...] = ("bounce", "step_touch", "punch", "clap", "sway", "turn", "kick_step", "disco")


@dataclass(frozen=True)
class DanceStyle:
    """A style preset: how often each move is chosen and the groove's sizes."""

    name: str
    moves: dict[str, float]  # move -> weight (turn is only chosen at phrase ends)
    bounce_cm: float  # pelvis drop on each beat at full energy
    knees_cm: float  # the pelvis is held this much lower throughout (bent knees)
    lean_deg: float  # forward lean of the torso
    arm_scale: float  # size of the arm patterns
    step_cm: float  # length of side steps
    stance_cm: float  # half distance between the feet
    turn_prob: float  # chance of a turn in the last bar of a 4-bar phrase
    description: str = ""


STYLES: dict[str, DanceStyle] = {
    "pop": DanceStyle("pop", {"bounce": 1, "step_touch": 3, "punch": 2.5, "clap": 2, "sway": 1, "kick_step": 1.5,
                              "disco": 2}, bounce_cm=5.0, knees_cm=2.0, lean_deg=2.0, arm_scale=1.0, step_cm=30.0,
                      stance_cm=12.0, turn_prob=0.5, description="bright and bouncy: step-touches, punches, claps, disco points"),
    "hiphop": DanceStyle("hiphop", {"bounce": 3, "step_touch": 2, "punch": 2.5, "clap": 0.5, "sway": 1,
                                    "kick_step": 2, "disco": 0.5}, bounce_cm=8.0, knees_cm=5.0, lean_deg=9.0,
                         arm_scale=0.9, step_cm=34.0, stance_cm=16.0, turn_prob=0.3,
                         description="low and heavy: deep bounces on the beat, wide stance, forward lean"),
    "chill": DanceStyle("chill", {"bounce": 1.5, "step_touch": 2, "punch": 0.2, "clap": 1, "sway": 4, "kick_step": 0.2,
                                  "disco": 0.5}, bounce_cm=2.5, knees_cm=1.5, lean_deg=0.0, arm_scale=0.6, step_cm=22.0,
                        stance_cm=11.0, turn_prob=0.15, description="relaxed: hip sway, small steps and bounces"),
}
DEFAULT_STYLE = "pop"


@dataclass
class MusicFeatures:
    duration: float  # seconds
    tempo_bpm: float
    beats: np.ndarray  # (B,) beat times, seconds
    downbeats: np.ndarray  # (D,) the estimated first beats of bars, seconds
    first_downbeat: int  # index into beats of the first downbeat
    times: np.ndarray  # (F,) analysis frame times, seconds
    onset: np.ndarray  # (F,) onset strength
    rms: np.ndarray  # (F,) RMS energy
    energy_at_beats: np.ndarray = field(repr=False)  # (B,) RMS near each beat, 0..1 (1: the loud parts)


def analyze_music(audio: np.ndarray, sample_rate: int = ANALYSIS_RATE) -> MusicFeatures:
    """Beats, downbeats, tempo, onset strength and energy of a mono clip."""
    import librosa

    duration = len(audio) / sample_rate
    if duration < MIN_MUSIC_S:
        raise UmoError(f"the music is {duration:.1f} s long: a dance needs at least {MIN_MUSIC_S:g} s of music")
    rms = librosa.feature.rms(y=audio, frame_length=2048, hop_length=HOP)[0]
    if float(rms.max(initial=0.0)) < SILENCE_RMS:
        raise UmoError("the music is silent (no sound above -60 dBFS): nothing to dance to")
    if duration < SHORT_MUSIC_S:
        log.warning(f"the music is only {duration:.1f} s long: the dance will be a few bars")
    onset = librosa.onset.onset_strength(y=audio, sr=sample_rate, hop_length=HOP)
    tempo, beats = librosa.beat.beat_track(onset_envelope=onset, sr=sample_rate, hop_length=HOP, units="time")
    tempo = float(np.atleast_1d(tempo)[0])
    beats = np.asarray(beats, dtype=np.float64)
    if len(beats) < 2 * BEATS_PER_BAR:
        raise UmoError(f"no steady beat found in the music ({len(beats)} beats in {duration:.1f} s): "
                       "use music with a clear pulse")
    times = librosa.frames_to_time(np.arange(len(onset)), sr=sample_rate, hop_length=HOP)
    n = min(len(rms), len(onset))
    rms, onset, times = rms[:n], onset[:n], times[:n]
    at = np.clip(np.searchsorted(times, beats), 0, n - 1)
    # downbeat: the beat phase (of 4) whose beats carry the strongest onsets and the most energy
    strength = onset[at] / (onset.max() + 1e-9) + rms[at] / (rms.max() + 1e-9)
    phase = int(np.argmax([strength[p::BEATS_PER_BAR].mean() for p in range(BEATS_PER_BAR)]))
    loud = np.percentile(rms, 95) + 1e-9
    window = max(1, int(round(0.25 * sample_rate / HOP)))
    smooth = np.convolve(rms, np.ones(window) / window, mode="same")
    energy = np.clip(smooth[at] / loud, 0.0, 1.0)
    return MusicFeatures(duration=duration, tempo_bpm=tempo, beats=beats, downbeats=beats[phase::BEATS_PER_BAR],
                         first_downbeat=phase, times=times, onset=onset, rms=rms, energy_at_beats=energy)


def load_music(path, sample_rate: int = ANALYSIS_RATE) -> np.ndarray:
    """A music file (wav/flac/ogg/mp3 ...) -> (S,) float32 mono at ``sample_rate`` (umo's audio loader)."""
    from umo.formats.audio import load_audio

    return load_audio(path, sample_rate=sample_rate)


# --- poses ---------------------------------------------------------------------------------------
@dataclass
class _Pose:
    """A key pose in the dancer's own frame (x to the dancer's left, z forward), cm / radians / degrees."""

    feet: np.ndarray  # (2, 2) local (x, z) of right and left ankle
    foot_y: np.ndarray  # (2,) ankle heights above the flat-foot height
    turn: float  # heading offset accumulated by turns, radians
    hip: np.ndarray  # (2,) pelvis shift from the feet's midpoint, local (x, z)
    pelvis_y: float
    pelvis_rot: np.ndarray  # (3,)
    spine: np.ndarray  # (3,)
    head: np.ndarray  # (3,)
    wrist: np.ndarray  # (2, 3) lateral coords per hand
    twist: np.ndarray  # (2,)
    shape: np.ndarray  # (2, S)
    hold: tuple[int, ...] = ()  # feet that keep their place in the world at this key (a turn's pivot foot)


def _home(style: DanceStyle) -> _Pose:
    w = style.stance_cm
    return _Pose(feet=np.array([[-w, 0.0], [w, 0.0]]), foot_y=np.zeros(2), turn=0.0, hip=np.zeros(2),
                 pelvis_y=-style.knees_cm, pelvis_rot=np.zeros(3), spine=np.array([np.radians(style.lean_deg), 0, 0]),
                 head=np.zeros(3), wrist=np.tile(REST_WRIST, (2, 1)), twist=np.full(2, ARM_CFG.twist_rest),
                 shape=np.tile(one_hot("relaxed"), (2, 1)))


def _copy(p: _Pose) -> _Pose:
    return _Pose(**{k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v) for k, v in p.__dict__.items()})


def _arm(p: _Pose, hand: int, wrist, twist: float | None = None, shape: str | None = None) -> None:
    p.wrist[hand] = wrist
    if twist is not None:
        p.twist[hand] = twist
    if shape is not None:
        p.shape[hand] = one_hot(shape)


def _move_pose(move: str, j: int, half: bool, amp: float, mirror: int, style: DanceStyle, prev: _Pose,
               rng: np.random.Generator) -> _Pose:
    """The key pose of ``move`` on beat j (0..3) of its bar (half: the half-beat after it).
    mirror: +1 or -1 swaps sides. prev: the last beat's pose (feet and turn carry over)."""
    home = _home(style)
    p = _copy(home)
    p.turn = prev.turn
    p.feet = prev.feet.copy() if half else home.feet.copy()
    a = amp * style.arm_scale
    r, l = (0, 1) if mirror > 0 else (1, 0)  # the "leading" hand / foot
    side = -1.0 if r == 0 else 1.0  # lateral direction of the leading side (right is -x)
    down = style.bounce_cm * amp
    p.pelvis_y = home.pelvis_y - (0.15 * down if half else down)
    p.spine = home.spine + np.array([np.radians(2.5 * amp) * (not half), 0.0, 0.0])
    if move == "bounce":
        fwd = 14.0 * a * (1 if j % 2 == 0 else -1)
        _arm(p, 0, (22.0, -24.0, 14.0 + fwd), shape="fist")
        _arm(p, 1, (22.0, -24.0, 14.0 - fwd), shape="fist")
        if half:
            _arm(p, 0, (22.0, -20.0, 14.0), shape="fist")
            _arm(p, 1, (22.0, -20.0, 14.0), shape="fist")
        p.head[1] = np.radians(6.0 * amp) * (not half)
    elif move == "step_touch":
        s = style.step_cm * min(amp, 1.2)
        if not half:
            feet = home.feet.copy()
            if j in (0, 1):
                feet[r, 0] += side * s
            if j == 1:
                feet[l, 0] += side * s
            p.feet = feet
            p.hip = np.array([side * s * (0.5 if j == 0 else 1.0 if j == 1 else 0.5 if j == 2 else 0.0), 0.0])
        else:
            p.hip = prev.hip.copy()
        touch = j in (1, 3) and not half
        for h in (0, 1):
            _arm(p, h, (5.0, -4.0, 28.0) if touch else (24.0, -12.0, 22.0), twist=0.0, shape="open")
    elif move == "punch":
        hand = r if j % 2 == 0 else l
        for h in (0, 1):
            _arm(p, h, (14.0, -6.0, 20.0), twist=20.0, shape="fist")
        if not half:
            _arm(p, hand, (16.0, 12.0 + 45.0 * a, 18.0), twist=0.0, shape="fist")
            p.spine[2] = np.radians(4.0 * amp) * (1 if hand == 0 else -1)
    elif move == "clap":
        shut = j % 2 == 1 and not half
        for h in (0, 1):
            _arm(p, h, (4.0, -2.0, 30.0) if shut else (26.0 * a + 4, -8.0, 24.0), twist=0.0, shape="open")
        p.head[1] = np.radians(5.0) * shut
    elif move == "sway":
        s = (1 if j % 2 == 0 else -1) * mirror
        if not half:
            p.hip = np.array([5.0 * amp * s, 0.0])
            p.pelvis_rot = np.array([0.0, 0.0, -np.radians(5.0 * amp) * s])
            p.spine = home.spine + np.array([0.0, 0.0, np.radians(6.0 * amp) * s])
            p.head = np.array([0.0, 0.0, np.radians(4.0 * amp) * s])
        # the half-beat passes through the centre (a hold there would put the speed minimum off the beat)
        lift = 30.0 * a
        for h in (0, 1):
            _arm(p, h, (20.0 + 10.0 * s * (not half) * (1 if h == 1 else -1), -10.0 + lift * (0.8 if half else 1.0), 12.0),
                 twist=-20.0, shape="open")
    elif move == "turn":
        # a quarter turn per beat: the leading foot steps round on the beat, the other on the half-beat
        p.turn = prev.turn + (0.0 if half else mirror * np.pi / 2)
        p.feet = home.feet.copy()
        p.hold = () if half else (l,)
        for h in (0, 1):
            _arm(p, h, (40.0 * a, 0.0, 10.0), twist=60.0, shape="open")
    elif move == "kick_step":
        if j == 1 and not half:
            p.feet = home.feet.copy()
            p.feet[r, 1] += 32.0 * min(amp, 1.2)
            p.foot_y[r] = 16.0 * min(amp, 1.2)
            p.hip = np.array([-side * 4.0, 0.0])
        for h in (0, 1):
            _arm(p, h, (18.0, -8.0, 22.0), twist=20.0, shape="fist")
        if j == 1 and not half:
            _arm(p, l, (18.0, 20.0 * a, 30.0), shape="fist")
    elif move == "disco":
        up = j % 2 == 0 and not half
        _arm(p, r, (34.0, 52.0 * a, 22.0) if up else (-2.0, -26.0, 26.0), twist=60.0, shape="point")
        _arm(p, l, (24.0, -22.0, -4.0), twist=30.0, shape="fist")  # hand on the hip
        if not half:
            s = 1 if up else -1
            p.hip = np.array([3.0 * amp * s * side, 0.0])
            p.head = np.array([np.radians(10.0) * s * (-side), 0.0, 0.0])
    else:  # pragma: no cover - MOVES lists every branch
        raise ValueError(move)
    return p


@dataclass
class Dance:
    animation: Animation  # body + root at fps; audio attached when given
    features: MusicFeatures
    moves: list[tuple[float, str]]  # (start time, move) per bar
    plan: Plan


def _choose_moves(n_bars: int, energy_bars: np.ndarray, style: DanceStyle, rng: np.random.Generator) -> list[tuple[str, int]]:
    names = [m for m in style.moves]
    w = np.array([style.moves[m] for m in names], dtype=float)
    calm = {"bounce", "step_touch", "sway", "clap"}
    out: list[tuple[str, int]] = []
    for b in range(n_bars):
        if b % 2 == 0:
            ww = w * np.array([1.0 if (energy_bars[b] >= 0.3 or m in calm) else 0.05 for m in names])
            if out:  # a different move from the last unit
                ww = ww * np.array([0.25 if m == out[-1][0] else 1.0 for m in names])
            move = names[int(rng.choice(len(names), p=ww / ww.sum()))]
            mirror = int(rng.choice([-1, 1]))
        else:
            move, mirror = out[-1]
            if move == "turn":
                move = names[int(rng.choice(len(names), p=w / w.sum()))]
            mirror = -mirror if move in ("step_touch", "kick_step", "disco", "punch") else mirror
        if b % 4 == 3 and rng.uniform() < style.turn_prob and energy_bars[b] >= 0.3:
            move = "turn"
        out.append((move, mirror))
    return out


def dance_plan(features: MusicFeatures, style: DanceStyle | str = DEFAULT_STYLE, seed: int = 0, fps: float = 30.0,
               beats: np.ndarray | None = None) -> tuple[Plan, list[tuple[float, str]]]:
    """The dance's plan for the music. beats: key times to dance on (default: the music's beats;
    the random-timing baseline passes others)."""
    if isinstance(style, str):
        if style not in STYLES:
            raise UmoError(f"unknown dance style {style!r}: choose one of {', '.join(STYLES)}")
        style = STYLES[style]
    rng = np.random.default_rng(seed)
    beats = features.beats if beats is None else np.asarray(beats, dtype=np.float64)
    first = features.first_downbeat if beats is features.beats else 0
    nf = max(2, int(np.ceil(features.duration * fps)))
    times = np.arange(nf) / fps
    # beats before the first downbeat: a pick-up bar of bounces
    bar_starts = list(range(first, len(beats), BEATS_PER_BAR))
    e_beats = np.interp(beats, features.beats, features.energy_at_beats)
    energy_bars = np.array([e_beats[s:s + BEATS_PER_BAR].mean() for s in bar_starts]) if bar_starts else np.zeros(0)
    choice = _choose_moves(len(bar_starts), energy_bars, style, rng)
    move_of_beat = ["bounce"] * len(beats)
    mirror_of_beat = [1] * len(beats)
    j_of_beat = [(i - first) % BEATS_PER_BAR for i in range(len(beats))]
    for (move, mirror), s in zip(choice, bar_starts):
        for i in range(s, min(s + BEATS_PER_BAR, len(beats))):
            move_of_beat[i], mirror_of_beat[i] = move, mirror
    home = _home(style)
    key_t: list[float] = [0.0]
    poses: list[_Pose] = [_copy(home)]
    poses[0].pelvis_y = 0.0
    poses[0].spine = np.zeros(3)
    foot_keys: list[tuple] = []  # (t, feet local (2, 2), turn, heights (2,), feet held)
    prev = _copy(home)
    end = features.duration
    for i, bt in enumerate(beats):
        if bt <= key_t[-1] + 1e-3 or bt >= end:
            continue
        amp = 0.45 + 0.8 * float(np.clip(e_beats[i], 0, 1))
        amp *= rng.uniform(0.9, 1.1)
        p = _move_pose(move_of_beat[i], j_of_beat[i], False, amp, mirror_of_beat[i], style, prev, rng)
        key_t.append(float(bt))
        poses.append(p)
        foot_keys.append((float(bt), p.feet.copy(), p.turn, p.foot_y.copy(), p.hold))
        nxt = beats[i + 1] if i + 1 < len(beats) else bt + 60.0 / max(features.tempo_bpm, 1.0)
        mid = 0.5 * (bt + nxt)
        if mid < end:
            h = _move_pose(move_of_beat[i], j_of_beat[i], True, amp, mirror_of_beat[i], style, p, rng)
            key_t.append(float(mid))
            poses.append(h)
            if move_of_beat[i] == "turn":
                foot_keys.append((float(mid), h.feet.copy(), h.turn, h.foot_y.copy(), h.hold))
        prev = p
    # settle back to the relaxed stance after the music
    last = _copy(home)
    last.turn = prev.turn
    last.pelvis_y, last.spine = 0.0, np.zeros(3)
    t_end = max(end - 0.05, key_t[-1] + 0.3)
    key_t.append(t_end)
    poses.append(last)
    foot_keys.append((t_end, home.feet.copy(), prev.turn, np.zeros(2), ()))
    kt = np.array(key_t)

    def track(getter) -> np.ndarray:
        return key_track(times, kt, np.array([getter(p) for p in poses]))

    plan = Plan.standing(nf, fps)
    turn = track(lambda p: p.turn)
    plan.heading[:] = turn
    # feet: planted on the beats, stepping between them; local -> world by the heading at each key
    fk_t = np.array([0.0] + [f[0] for f in foot_keys])
    fk_feet = [home.feet] + [f[1] for f in foot_keys]
    fk_turn = np.array([0.0] + [f[2] for f in foot_keys])
    fk_y = [np.zeros(2)] + [f[3] for f in foot_keys]
    fk_hold = [()] + [f[4] for f in foot_keys]
    for foot in (0, 1):
        world = np.zeros((len(fk_t), 3))
        yaw = np.zeros(len(fk_t))
        for k in range(len(fk_t)):
            same = (np.allclose(fk_feet[k][foot], fk_feet[k - 1][foot]) and fk_y[k][foot] == 0
                    and fk_y[k - 1][foot] == 0 and fk_turn[k] == fk_turn[k - 1]) if k > 0 else False
            if k > 0 and (same or foot in fk_hold[k]):
                world[k], yaw[k] = world[k - 1], yaw[k - 1]  # planted: stays where it is in the world
                continue
            rot = ry(np.array(fk_turn[k]))
            x, z = fk_feet[k][foot]
            world[k] = rot @ np.array([x, 0.0, z])
            world[k, 1] = ANKLE_HEIGHT + fk_y[k][foot]
            yaw[k] = fk_turn[k]
        plan.feet[:, foot] = step_track(times, fk_t, world, 6.0)
        plan.foot_yaw[:, foot] = key_track(times, fk_t, yaw)
    hip = track(lambda p: p.hip)  # (T, 2) local
    c, s = np.cos(turn), np.sin(turn)
    hip_world = np.stack([c * hip[:, 0] + s * hip[:, 1], -s * hip[:, 0] + c * hip[:, 1]], axis=-1)
    plan.root_xz[:] = 0.5 * (plan.feet[:, 0, [0, 2]] + plan.feet[:, 1, [0, 2]]) + hip_world
    plan.pelvis_y[:] = track(lambda p: p.pelvis_y)
    plan.pelvis_rot[:] = track(lambda p: p.pelvis_rot)
    plan.spine[:] = track(lambda p: p.spine)
    plan.head[:] = track(lambda p: p.head)
    plan.wrist[:] = track(lambda p: p.wrist)
    plan.twist[:] = track(lambda p: p.twist)
    plan.shape[:] = track(lambda p: p.shape)
    moves = [(float(beats[s]), m) for (m, _), s in zip(choice, bar_starts)]
    return plan, moves


def dance_to_music(audio: np.ndarray, sample_rate: int = ANALYSIS_RATE, style: str = DEFAULT_STYLE, seed: int = 0,
                   fps: float = 30.0, features: MusicFeatures | None = None, attach_audio: bool = True) -> Dance:
    """Music (S,) mono -> a Dance as long as the music (the music attached for the preview)."""
    if style not in STYLES:
        raise UmoError(f"unknown dance style {style!r}: choose one of {', '.join(STYLES)}")
    features = features or analyze_music(audio, sample_rate)
    plan, moves = dance_plan(features, style, seed, fps)
    rot, root = realize(plan)
    t = plan.num_frames
    anim = Animation(fps=fps, face=np.zeros((t, NUM_BLENDSHAPES)), head=np.zeros((t, 3)), eyes=np.zeros((t, 6)),
                     body=rot, root_pos=root, audio=np.asarray(audio, dtype=np.float32) if attach_audio else None,
                     sample_rate=sample_rate)
    return Dance(anim, features, moves, plan)
