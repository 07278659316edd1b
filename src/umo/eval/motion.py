"""Metrics of full-body motion (umo generate, umo dance) and the motion suite behind
``umo eval --suite motion``.

- **Beat alignment score (BAS)**, as AIST++/Bailando compute it: joint positions on a 60 fps grid,
  kinetic velocity = mean over joints of the per-frame displacement, Gaussian-smoothed
  (sigma 5 frames), motion beats = its local minima; BAS = mean over music beats of
  exp(-d^2 / (2 sigma^2)) with d the distance (frames) to the nearest motion beat and sigma = 3
  frames. (BAS rewards any motion with many speed minima; the random-timing baseline shows the
  floor.)
- **Foot contact**: a foot touches when its lowest joint is within 2 cm of the floor; skating is
  the horizontal speed of its ankle in those frames (mean, cm/s) and the share of them faster than
  5 cm/s; penetration is how far any foot joint goes below the floor (cm).
- **Diversity**: mean pairwise distance between dances of different seeds (root-relative joint
  positions, cm, averaged over frames and joints).
- **Action checks**: what a caption promises, measured on the motion (the named hand moves far more
  than the other, walks move the root, bows bend the spine, jumps lift the root ...).

Dimension letters: T frames, J joints, B beats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from umo.constants import JOINT_INDEX

BAS_FPS = 60.0  # AIST++'s frame rate, on which the papers' frame constants are defined
BAS_SMOOTH_FRAMES = 5.0  # Gaussian sigma of the kinetic velocity, frames at BAS_FPS
BAS_SIGMA_FRAMES = 3.0  # tolerance sigma of the score, frames at BAS_FPS (50 ms)
CONTACT_CM = 2.0  # a foot within this of the floor is in contact
SKATE_CM_S = 5.0  # contact frames faster than this count as skating
FLOOR_TOLERANCE_CM = 2.0  # feet may not go below the floor by more than this


def _on_grid(positions: np.ndarray, fps: float, rate: float = BAS_FPS) -> np.ndarray:
    """(T, J, 3) -> (T', J, 3) linearly resampled to ``rate``."""
    t = np.arange(positions.shape[0]) / fps
    grid = np.arange(0.0, t[-1] + 1e-9, 1.0 / rate)
    flat = positions.reshape(len(t), -1)
    out = np.stack([np.interp(grid, t, flat[:, c]) for c in range(flat.shape[1])], axis=1)
    return out.reshape(len(grid), *positions.shape[1:])


def motion_beats(positions: np.ndarray, fps: float) -> np.ndarray:
    """Motion beats (seconds): local minima of the smoothed kinetic velocity."""
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import argrelextrema

    p = _on_grid(positions, fps)
    vel = np.linalg.norm(np.diff(p, axis=0), axis=2).mean(axis=1)  # (T'-1,)
    vel = gaussian_filter1d(vel, BAS_SMOOTH_FRAMES)
    return argrelextrema(vel, np.less)[0] / BAS_FPS


def beat_alignment_score(music_beats: np.ndarray, motion_beat_times: np.ndarray, duration: float | None = None) -> float:
    """BAS: mean over music beats of exp(-d^2 / (2 sigma^2)), d in frames at BAS_FPS to the nearest motion beat."""
    mb = np.asarray(music_beats, dtype=np.float64)
    if duration is not None:
        mb = mb[(mb >= 0) & (mb <= duration)]
    if len(mb) == 0 or len(motion_beat_times) == 0:
        return 0.0
    d = np.min(np.abs(mb[:, None] - np.asarray(motion_beat_times)[None, :]), axis=1) * BAS_FPS
    return float(np.mean(np.exp(-(d**2) / (2 * BAS_SIGMA_FRAMES**2))))


@dataclass
class FootStats:
    skate_cm_s: float  # mean horizontal ankle speed while in contact
    skate_ratio: float  # share of contact frames faster than SKATE_CM_S
    penetration_cm: float  # deepest foot joint below the floor (0 if none)
    contact_share: float  # share of frames with at least one foot in contact


def foot_stats(positions: np.ndarray, fps: float) -> FootStats:
    """Foot contact, skating and floor penetration of canonical-skeleton joint positions (T, 75, 3), cm."""
    from umo.motion.body import foot_joint_indices

    idx = foot_joint_indices()
    speeds, any_contact = [], np.zeros(positions.shape[0] - 1, bool)
    for f in range(2):
        height = positions[:, idx[f], 1].min(axis=1)  # (T,)
        ankle = positions[:, idx[f][0]][:, [0, 2]]
        v = np.linalg.norm(np.diff(ankle, axis=0), axis=1) * fps  # (T-1,)
        contact = (height[1:] < CONTACT_CM) & (height[:-1] < CONTACT_CM)
        speeds.append(v[contact])
        any_contact |= contact
    s = np.concatenate(speeds)
    low = float(positions[:, idx.reshape(-1), 1].min())
    return FootStats(skate_cm_s=float(s.mean()) if len(s) else 0.0,
                     skate_ratio=float((s > SKATE_CM_S).mean()) if len(s) else 0.0,
                     penetration_cm=max(0.0, -low), contact_share=float(any_contact.mean()))


def diversity(position_sets: list[np.ndarray]) -> float:
    """Mean pairwise distance (cm) between motions' root-relative joint positions (cut to the shortest)."""
    n = min(len(p) for p in position_sets)
    rel = [p[:n] - p[:n, :1] for p in position_sets]
    d = [np.linalg.norm(rel[i] - rel[j], axis=-1).mean() for i in range(len(rel)) for j in range(i + 1, len(rel))]
    return float(np.mean(d)) if d else 0.0


# --- action checks -------------------------------------------------------------------------------
def _path(positions: np.ndarray, joint: str) -> float:
    return float(np.linalg.norm(np.diff(positions[:, JOINT_INDEX[joint]], axis=0), axis=1).sum())


def _spine_flex_deg(positions: np.ndarray) -> np.ndarray:
    """(T,) angle of the hips -> neck line from vertical, degrees."""
    v = positions[:, JOINT_INDEX["Neck"]] - positions[:, JOINT_INDEX["Hips"]]
    return np.degrees(np.arccos(np.clip(v[:, 1] / np.linalg.norm(v, axis=1), -1, 1)))


def action_check(name: str, side: str | None, positions: np.ndarray, root: np.ndarray, fps: float) -> tuple[bool, str]:
    """Does the motion do what the action promises? -> (passed, the measured figure)."""
    rest_y = root[0, 1]
    if name in ("wave", "point"):
        r, l = _path(positions, "RightHand"), _path(positions, "LeftHand")
        main, other = (l, r) if side == "left" else (r, l)
        ratio = main / max(other, 1e-6)
        return ratio > 3.0, f"{side or 'right'} wrist path / other = {ratio:.1f} (> 3)"
    if name == "clap":
        d = np.linalg.norm(positions[:, JOINT_INDEX["RightHand"]] - positions[:, JOINT_INDEX["LeftHand"]], axis=1)
        return d.min() < 12.0, f"closest wrists {d.min():.1f} cm (< 12)"
    if name == "walk":
        moved = float(np.linalg.norm(root[-1, [0, 2]] - root[0, [0, 2]]))
        return moved > 100.0, f"root travels {moved / 100:.2f} m (> 1)"
    if name == "turn":
        hips = positions[:, JOINT_INDEX["LeftUpLeg"]] - positions[:, JOINT_INDEX["RightUpLeg"]]
        a = np.degrees(np.arctan2(hips[:, 2], hips[:, 0]))
        change = abs(((a[-1] - a[0]) + 180) % 360 - 180)
        return change > 60.0, f"facing changes by {change:.0f} deg (> 60)"
    if name == "bow":
        flex = _spine_flex_deg(positions)
        return flex.max() - flex[0] > 25.0, f"spine bends {flex.max() - flex[0]:.0f} deg forward (> 25)"
    if name == "nod":
        head = positions[:, JOINT_INDEX["HeadEnd"]] - positions[:, JOINT_INDEX["Neck"]]
        a = np.degrees(np.arctan2(head[:, 2], head[:, 1]))
        return np.ptp(a) > 10.0, f"head pitches {np.ptp(a):.0f} deg (> 10)"
    if name == "shrug":
        rise = max(positions[:, JOINT_INDEX[j], 1].max() - positions[0, JOINT_INDEX[j], 1] for j in ("RightArm", "LeftArm"))
        return rise > 2.0, f"shoulders rise {rise:.1f} cm (> 2)"
    if name == "jump":
        up = root[:, 1].max() - rest_y
        return up > 8.0, f"root rises {up:.1f} cm (> 8)"
    if name in ("crouch", "sit_down", "stand_up"):
        drop = rest_y - root[:, 1].min() if name != "stand_up" else root[:, 1].max() - root[0, 1]
        return drop > 25.0, f"root {'drops' if name != 'stand_up' else 'rises'} {drop:.0f} cm (> 25)"
    if name == "kick":
        from umo.motion.body import foot_joint_indices

        idx = foot_joint_indices()
        k = 1 if side == "left" else 0
        h = positions[:, idx[k], 1].min(axis=1).max()
        return h > 20.0, f"{side or 'right'} foot lifts {h:.0f} cm (> 20)"
    if name == "raise_arms":
        top = positions[:, JOINT_INDEX["HeadEnd"], 1]
        w = np.maximum(positions[:, JOINT_INDEX["RightHand"], 1], positions[:, JOINT_INDEX["LeftHand"], 1])
        above = float((w - positions[:, JOINT_INDEX["Neck"], 1]).max())
        return above > 20.0, f"a wrist {above:.0f} cm above the neck (> 20)"
    if name == "idle":
        moved = float(np.linalg.norm(root[:, [0, 2]] - root[0, [0, 2]], axis=1).max())
        return moved < 10.0, f"root stays within {moved:.1f} cm (< 10)"
    raise ValueError(f"no check for {name}")


# --- music for the suite -------------------------------------------------------------------------
def drum_loop(bpm: float, seconds: float, sample_rate: int = 22_050, seed: int = 0, swing: float = 0.0) -> np.ndarray:
    """(S,) a synthetic drum loop: kick on beats 1 and 3, snare on 2 and 4, hi-hat on the eighths
    (``swing`` delays the off-beat eighths by that share of a beat), a quiet bass note per bar."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    out = np.zeros(n, np.float64)
    beat = 60.0 / bpm

    def hit(t0: float, sound: np.ndarray) -> None:
        i = int(t0 * sample_rate)
        if i < n:
            out[i:i + len(sound)] += sound[: n - i]

    tk = np.arange(int(0.25 * sample_rate)) / sample_rate
    kick = np.sin(2 * np.pi * (50 + 90 * np.exp(-tk * 30)) * tk) * np.exp(-tk * 12)
    snare = rng.normal(0, 0.5, len(tk)) * np.exp(-tk * 25) + 0.3 * np.sin(2 * np.pi * 190 * tk) * np.exp(-tk * 20)
    th = tk[: int(0.05 * sample_rate)]
    hat = np.diff(rng.normal(0, 0.3, len(th) + 1)) * np.exp(-th * 80)
    k = 0
    while k * beat < seconds:
        t = k * beat
        hit(t, kick if k % 2 == 0 else snare)
        hit(t, 0.6 * hat)
        hit(t + beat * (0.5 + swing), 0.4 * hat)
        if k % 4 == 0:
            tb = np.arange(int(4 * beat * sample_rate)) / sample_rate
            hit(t, 0.08 * np.sin(2 * np.pi * 55 * tb) * np.exp(-tb))
        k += 1
    return (0.5 * out / max(np.abs(out).max(), 1e-9)).astype(np.float32)


@dataclass
class DanceRow:
    music: str
    style: str
    tempo_bpm: float
    bas_teacher: float
    bas_quarter_shift: float  # the same dance against the music's beats delayed by a quarter beat
    bas_half_shift: float  # ... by half a beat
    bas_random: float  # the same moves keyed at random times (not on beats)
    motion_beats_per_music_beat: float
    skate_cm_s: float
    skate_ratio: float
    penetration_cm: float
    diversity_cm: float  # across seeds
    same_seed_cm: float  # the same seed twice (0: deterministic)


def dance_rows(music: list[tuple[str, np.ndarray, int]], styles: tuple[str, ...] = ("pop", "hiphop"),
               seeds: tuple[int, ...] = (0, 1, 2), fps: float = 30.0) -> list[DanceRow]:
    """The dance table: for each music (name, audio, rate) and style, the teacher vs its baselines."""
    from umo.animation import Animation
    from umo.motion.body import realize
    from umo.motion.dance import analyze_music, dance_plan, dance_to_music

    rows = []
    for name, audio, sr in music:
        feats = analyze_music(audio, sr)
        period = float(np.median(np.diff(feats.beats)))
        for style in styles:
            dances = [dance_to_music(audio, sr, style, s, fps, features=feats, attach_audio=False) for s in seeds]
            pos = [d.animation.joint_positions() for d in dances]
            again = dance_to_music(audio, sr, style, seeds[0], fps, features=feats, attach_audio=False)
            mb = motion_beats(pos[0], fps)
            dur = feats.duration
            rng = np.random.default_rng(seeds[0])
            span = (feats.beats[0], feats.beats[-1])
            rand_t = np.sort(rng.uniform(*span, len(feats.beats)))
            plan, _ = dance_plan(feats, style, seeds[0], fps, beats=rand_t)
            rot, root = realize(plan)
            t = plan.num_frames
            rand_anim = Animation(fps=fps, face=np.zeros((t, 52)), head=np.zeros((t, 3)), eyes=np.zeros((t, 6)),
                                  body=rot, root_pos=root)
            fs = [foot_stats(p, fps) for p in pos]
            rows.append(DanceRow(
                music=name, style=style, tempo_bpm=feats.tempo_bpm,
                bas_teacher=float(np.mean([beat_alignment_score(feats.beats, motion_beats(p, fps), dur) for p in pos])),
                bas_quarter_shift=beat_alignment_score(feats.beats + period / 4, mb, dur),
                bas_half_shift=beat_alignment_score(feats.beats + period / 2, mb, dur),
                bas_random=beat_alignment_score(feats.beats, motion_beats(rand_anim.joint_positions(), fps), dur),
                motion_beats_per_music_beat=len(mb) / max(len(feats.beats), 1),
                skate_cm_s=float(np.mean([f.skate_cm_s for f in fs])),
                skate_ratio=float(np.mean([f.skate_ratio for f in fs])),
                penetration_cm=max(f.penetration_cm for f in fs),
                diversity_cm=diversity(pos),
                same_seed_cm=diversity([pos[0], again.animation.joint_positions()]),
            ))
    return rows


# The prompt used for each action in the action table (and the side its check expects).
ACTION_PROMPTS: dict[str, str] = {
    "walk": "walks forward", "turn": "turns left", "wave": "waves with the right hand", "point": "points with the left hand",
    "clap": "claps", "bow": "bows", "nod": "nods", "shrug": "shrugs", "jump": "jumps", "crouch": "crouches",
    "kick": "kicks with the left leg", "raise_arms": "raises both arms", "sit_down": "sits down",
    "stand_up": "stands up", "idle": "stands still",
}


@dataclass
class ActionRow:
    action: str
    prompt: str
    passed: bool
    figure: str
    random_clip_passed: float  # share of other actions' clips that pass this check (the baseline)
    seconds: float
    skate_cm_s: float
    penetration_cm: float


def action_rows(seed: int = 0, fps: float = 30.0) -> list[ActionRow]:
    """Each action's check on its own clip vs on clips of the other actions (a random clip from the library)."""
    from umo.motion.actions import synthesize
    from umo.motion.captions import parse_caption

    clips = {}
    for name, prompt in ACTION_PROMPTS.items():
        specs = parse_caption(prompt).specs
        m = synthesize(specs, fps, seed)
        a = m.animation
        clips[name] = (specs[0], a.joint_positions(), a.root_pos, a.duration)
    rows = []
    for name, (spec, pos, root, dur) in clips.items():
        ok, fig = action_check(name, spec.side, pos, root, fps)
        others = [action_check(name, spec.side, p, r, fps)[0] for o, (_, p, r, _) in clips.items() if o != name]
        fs = foot_stats(pos, fps)
        rows.append(ActionRow(name, ACTION_PROMPTS[name], ok, fig, float(np.mean(others)), dur, fs.skate_cm_s,
                              fs.penetration_cm))
    return rows


def format_action_table(rows: list[ActionRow]) -> str:
    head = f"{'action':<11} {'prompt':<27} {'check':<5} {'random clip':>11} {'skate cm/s':>10} {'below cm':>8}  figure"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.action:<11} {r.prompt:<27} {'pass' if r.passed else 'FAIL':<5} {r.random_clip_passed:>10.0%} "
                     f"{r.skate_cm_s:>10.2f} {r.penetration_cm:>8.2f}  {r.figure}")
    return "\n".join(lines)


def format_dance_table(rows: list[DanceRow]) -> str:
    head = (f"{'music':<30} {'style':<7} {'bpm':>5} {'BAS':>5} {'+1/4b':>6} {'+1/2b':>6} {'random':>6} {'mb/b':>5} "
            f"{'skate':>6} {'skate%':>6} {'below':>6} {'divers':>7} {'same':>5}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.music:<30} {r.style:<7} {r.tempo_bpm:>5.0f} {r.bas_teacher:>5.3f} {r.bas_quarter_shift:>6.3f} "
                     f"{r.bas_half_shift:>6.3f} {r.bas_random:>6.3f} {r.motion_beats_per_music_beat:>5.2f} "
                     f"{r.skate_cm_s:>6.2f} {r.skate_ratio:>6.1%} {r.penetration_cm:>6.2f} {r.diversity_cm:>7.1f} "
                     f"{r.same_seed_cm:>5.1f}")
    return "\n".join(lines)


MOTION_LEGEND = """\
Actions: 'check' is the action's own test on its clip (rule-based library, seed 0); 'random clip' the share
of the other actions' clips that pass the same test (the baseline: a check that passes them too tells nothing).
skate: mean horizontal ankle speed while the foot is within 2 cm of the floor; below: deepest foot joint below
the floor, cm. Dance: BAS (AIST++/Bailando: 60 fps, velocity minima, sigma 3 frames) of the teacher, mean of
seeds; +1/4b, +1/2b: the same dance scored against the music's beats shifted by a quarter / half beat; random:
the same moves keyed at random times; mb/b: motion beats per music beat (BAS favours many); skate: cm/s,
skate%: contact frames faster than 5 cm/s; divers: mean distance between seeds' poses, cm; same: one seed
twice (0 = deterministic). The motion is rule-based; no learned generator is scored here."""


def default_music() -> list[tuple[str, np.ndarray, int]]:
    """The bundled track (when ../shared/data/music holds it) and synthetic drum loops at other tempos
    (music never used while writing the teacher)."""
    from pathlib import Path

    from umo.motion.dance import ANALYSIS_RATE, load_music

    music = []
    for root in (Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "music",
                 Path.cwd() / ".." / "shared" / "data" / "music"):
        track = root / "Kevin_MacLeod_-_Vibe_Ace.ogg"
        if track.is_file():
            music.append(("Vibe Ace (bundled, tuned on)", load_music(track), ANALYSIS_RATE))
            break
    music.append(("drums 96 bpm (synthetic)", drum_loop(96, 30, ANALYSIS_RATE, seed=1), ANALYSIS_RATE))
    music.append(("drums 138 bpm swing (synth.)", drum_loop(138, 30, ANALYSIS_RATE, seed=2, swing=0.12), ANALYSIS_RATE))
    return music


def motion_report(seed: int = 0, log=lambda _m: None) -> str:
    log("motion suite: action checks")
    actions = action_rows(seed)
    log("motion suite: dances (librosa's first call compiles for ~20 s)")
    dances = dance_rows(default_music())
    return "\n\n".join([format_action_table(actions), format_dance_table(dances), MOTION_LEGEND])
