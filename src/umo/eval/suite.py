"""Scoring a take: a prediction and/or named animators against the ground truth, beside baselines.

A :class:`Case` names the take's files: its audio, an optional transcript, the ground truth (a face
capture, a body capture, or a file with both), an optional prediction file (any format
umo.convert.read_any reads, so any tool's output can be scored) and animator names to run on the
audio (umo.eval.baselines). :func:`evaluate_case` returns one :class:`Row` per system:

    prediction / candidates   what is being judged
    baselines                 loudness jaw, neutral face, still pose, shifted real (same run)
    capture                   the ground truth's own statistics (what "real" scores)

Every comparison first puts both animations on the ground truth's frame times
(umo.eval.align); the overlap used is kept in each row.

A suite is a folder with ``suite.toml`` or ``suite.json``::

    [[case]]
    name = "take1"
    audio = "take1.wav"            # paths relative to the manifest
    transcript = "take1.TextGrid"  # optional
    gt = "take1_face.csv"          # optional: its parts (face, body) become the references
    face_gt = "..."; body_gt = "..."  # optional: pick the face and body references separately
    pred = "mine/take1.csv"        # optional
    candidates = ["rules"]         # optional animator names

``real`` is the built-in suite of the held-out real clips (see :func:`real_suite`).

Dimension letters: T frames, C channels.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from umo.animation import Animation
from umo.constants import ARKIT_INDEX, ARKIT_NAMES, NUM_BLENDSHAPES, SAMPLE_RATE, lip_aperture
from umo.errors import UmoError
from umo.eval import metrics as M
from umo.eval.align import Overlap, align

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures"
FACEGOOD_TAKE = "1114_3_16"
BEAT_TAKE = "2_scott_0_1_1"

FACE_COLUMNS = ("lve_bs", "mouth_mae", "velocity_l1", "upper_fdd", "sync_r0", "sync_r_best", "sync_lag_ms",
                "env_r0", "env_r_best", "env_lag_ms")
BODY_COLUMNS = ("beat_align", "l1_div", "hand_speed", "hand_jerk", "fd_raw", "fd_latent")


@dataclass
class Case:
    name: str
    audio: Path | None = None
    transcript: Path | None = None
    language: str = "en"
    gt: Path | None = None
    face_gt: Path | None = None
    body_gt: Path | None = None
    pred: Path | None = None
    pred_body: Path | None = None  # a body file to join a face-only prediction
    candidates: tuple[str, ...] = ()
    baselines: bool = True


@dataclass
class Row:
    system: str
    role: str  # "prediction", "candidate", "baseline" or "capture"
    face: dict | None = None  # metrics (FACE_COLUMNS) or None
    body: dict | None = None  # metrics (BODY_COLUMNS) or None
    face_overlap: dict | None = None
    body_overlap: dict | None = None
    note: str = ""


@dataclass
class CaseResult:
    case: str
    face_ref: str | None  # what the face was scored against
    face_channels: list[str]
    body_ref: str | None
    rows: list[Row]
    curves: dict = field(default_factory=dict)  # for the plots
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"case": self.case, "face_ref": self.face_ref, "face_channels": self.face_channels,
                "body_ref": self.body_ref, "notes": self.notes,
                "rows": [r.__dict__ for r in self.rows]}


# --- references ----------------------------------------------------------------------------------------
def valid_face_channels(path: Path) -> list[int]:
    """Indices of the ARKit channels a face file really holds (the others are zero-filled)."""
    s = path.suffix.lower()
    if s == ".npy":  # FACEGOOD: the spreadsheet's valid rows (27 jaw and mouth shapes)
        from umo.formats.facegood import load_facegood_mapping

        m = load_facegood_mapping()
        return [int(k) for k in np.flatnonzero(m.sum(axis=1) > 0)]
    if s == ".npz":  # SMPL-X: only the jaw's opening
        return [ARKIT_INDEX["JawOpen"]]
    if s == ".json":  # BEAT ARKit JSON: 51 shapes, no TongueOut
        return [i for i, n in enumerate(ARKIT_NAMES) if n != "TongueOut"]
    return list(range(NUM_BLENDSHAPES))


def face_ref_label(path: Path) -> str:
    return {".npy": "FACEGOOD capture", ".npz": "SMPL-X jaw", ".json": "ARKit capture",
            ".csv": "Live Link capture"}.get(path.suffix.lower(), "capture")


def _read(path: Path, audio_duration: float | None) -> tuple[Animation, set[str]]:
    from umo.convert import read_any

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_any(path, audio_duration)


def _references(case: Case, duration: float | None) -> tuple[tuple[Animation, Path] | None, tuple[Animation, Path] | None]:
    face = body = None
    if case.gt is not None:
        anim, parts = _read(case.gt, duration)
        if "face" in parts:  # an SMPL-X file's face is its jaw only: valid_face_channels says so
            face = (anim, case.gt)
        if "body" in parts:
            body = (anim, case.gt)
    if case.face_gt is not None:
        anim, parts = _read(case.face_gt, duration)
        if "face" not in parts:
            raise UmoError(f"{case.face_gt}: holds no face animation to score against")
        face = (anim, case.face_gt)
    if case.body_gt is not None:
        anim, parts = _read(case.body_gt, duration)
        if "body" not in parts:
            raise UmoError(f"{case.body_gt}: holds no body motion to score against")
        body = (anim, case.body_gt)
    return face, body


# --- scoring ---------------------------------------------------------------------------------------------
class _Scorer:
    def __init__(self, case: Case) -> None:
        from umo.formats.audio import load_audio

        self.case = case
        self.audio = None if case.audio is None else load_audio(case.audio)
        duration = None if self.audio is None else len(self.audio) / SAMPLE_RATE
        self.face_ref, self.body_ref = _references(case, duration)
        self.channels = valid_face_channels(self.face_ref[1]) if self.face_ref else []
        self.onsets = None if self.audio is None else M.audio_onsets(self.audio)
        self.timing = None
        if case.transcript is not None and self.audio is not None:
            from umo.pipeline import load_timing

            self.timing = load_timing(self.audio, transcript=case.transcript, language=case.language)
        self.curves: dict = {"face": {}, "body": {}, "onsets": self.onsets}
        if self.body_ref is not None:
            anim = self.body_ref[0]
            self.gt_pos = M.normalised_positions(anim.body, anim.skeleton)

    def face(self, name: str, anim: Animation, keep_curve: bool) -> tuple[dict | None, dict | None]:
        out: dict = {}
        ov = None
        if self.face_ref is not None:
            p, g, overlap = align(anim, self.face_ref[0])
            out.update(M.face_metrics(p.face, g.face, p.fps, self.channels))
            ov = overlap.as_dict()
            if keep_curve:
                self.curves["face"][name] = (p.times, lip_aperture(p.face))
                if "capture" not in self.curves["face"]:
                    self.curves["face"]["capture"] = (g.times, M._aperture(g.face, self.channels))
        if self.audio is not None:
            out.update(M.envelope_sync(anim.face, self.audio, anim.fps))
            if ov is None:
                ov = {"fps": anim.fps, "frames": anim.num_frames, "seconds": (anim.num_frames - 1) / anim.fps}
        return (out or None), ov

    def body(self, name: str, anim: Animation, keep_curve: bool) -> tuple[dict | None, dict | None]:
        if self.body_ref is None or anim.body is None:
            return None, None
        p, g, overlap = align(anim, self.body_ref[0])
        pp = M.normalised_positions(p.body, p.skeleton)
        gp = self.gt_pos[: overlap.frames]
        onsets = None if self.onsets is None else self.onsets[self.onsets <= overlap.seconds]
        out = M.body_metrics(pp, gp, p.fps, p.skeleton, g.skeleton, onsets)
        if keep_curve:
            self._keep_speed(name, pp, p.fps, p.skeleton, gp, g.skeleton)
        return out, overlap.as_dict()

    def _keep_speed(self, name, pp, fps, sk_p, gp, sk_g) -> None:
        bj_p = [sk_p.index(n) for n in M.BEAT_JOINTS]
        bj_g = [sk_g.index(n) for n in M.BEAT_JOINTS]
        sp, sg = M.joint_speed(pp[:, bj_p], fps), M.joint_speed(gp[:, bj_g], fps)
        thr = M.BEAT_SPEED_FRACTION * sg.mean(0)
        t = np.arange(len(sp)) / fps
        self.curves["body"][name] = (t, sp.mean(1), M.motion_beats(sp, fps, thr))
        if "capture" not in self.curves["body"]:
            self.curves["body"]["capture"] = (t, sg.mean(1), M.motion_beats(sg, fps, thr))

    def row(self, name: str, role: str, anim: Animation, face: bool = True, body: bool = True,
            keep_curve: bool = False, note: str = "") -> Row:
        f, fo = self.face(name, anim, keep_curve) if face else (None, None)
        b, bo = self.body(name, anim, keep_curve) if body else (None, None)
        return Row(name, role, f, b, fo, bo, note)


def evaluate_case(case: Case) -> CaseResult:
    """Scores the case's prediction, candidates and baselines (see the module docstring)."""
    from umo.eval.baselines import get_animator, neutral_face, shifted_real, still_pose

    s = _Scorer(case)
    if s.face_ref is None and s.body_ref is None and s.audio is None:
        raise UmoError(f"case {case.name}: nothing to score against: give a ground truth or the audio")
    rows: list[Row] = []
    notes: list[str] = []
    if case.pred is not None:
        dur = None if s.audio is None else len(s.audio) / SAMPLE_RATE
        pred, parts = _read(case.pred, dur)
        if case.pred_body is not None:
            from umo.convert import combine

            pred = combine(pred, _read(case.pred_body, dur)[0])
            parts = parts | {"body"}
        rows.append(s.row(f"pred:{case.pred.name}", "prediction", pred, face="face" in parts,
                          body="body" in parts, keep_curve=True))
    for name in case.candidates:
        if s.audio is None:
            rows.append(Row(name, "candidate", note="n/a: no audio"))
            continue
        spec = get_animator(name)
        if spec.needs_transcript and s.timing is None:
            rows.append(Row(name, "candidate", note="n/a: no transcript"))
            continue
        rows.append(s.row(name, "candidate", spec.animate(s.audio, s.timing), keep_curve=True))
    if case.baselines:
        if s.audio is not None:
            loud = get_animator("loudness").animate(s.audio, None)
            rows.append(s.row("loudness", "baseline", loud, keep_curve=True))
        ref = s.face_ref[0] if s.face_ref else (s.body_ref[0] if s.body_ref else None)
        n, fps = (ref.num_frames, ref.fps) if ref is not None else (int(len(s.audio) / SAMPLE_RATE * 30), 30.0)
        rows.append(s.row("neutral face", "baseline", neutral_face(n, fps), body=False))
        if s.body_ref is not None:
            rows.append(s.row("still pose", "baseline", still_pose(s.body_ref[0]), face=False))
        if s.face_ref is not None or s.body_ref is not None:
            f = s.row("shifted real", "baseline", shifted_real(s.face_ref[0]), body=False) if s.face_ref else None
            b = s.row("shifted real", "baseline", shifted_real(s.body_ref[0]), face=False) if s.body_ref else None
            rows.append(Row("shifted real", "baseline", f.face if f else None, b.body if b else None,
                            f.face_overlap if f else None, b.body_overlap if b else None,
                            "the capture shifted by half its length"))
    cap = Row("capture", "capture", note="the ground truth's own values")
    if s.face_ref is not None and s.audio is not None:
        g = s.face_ref[0]
        masked = np.zeros_like(g.face)
        masked[:, s.channels] = g.face[:, s.channels]
        cap.face = M.envelope_sync(masked, s.audio, g.fps)
    if s.body_ref is not None:
        g = s.body_ref[0]
        onsets = None if s.onsets is None else s.onsets[s.onsets <= (g.num_frames - 1) / g.fps]
        cap.body = M.capture_body_stats(s.gt_pos, g.fps, g.skeleton, onsets) | {"fd_latent": 0.0}
    if cap.face or cap.body:
        rows.append(cap)
    if s.face_ref is None and s.audio is not None:
        notes.append("no face capture: face sync is against the audio loudness envelope (a sanity check, not lip sync)")
    return CaseResult(
        case.name,
        face_ref_label(s.face_ref[1]) if s.face_ref else ("audio envelope (sanity)" if s.audio is not None else None),
        [ARKIT_NAMES[c] for c in s.channels],
        None if s.body_ref is None else f"{s.body_ref[1].name} ({s.body_ref[0].fps:g} fps)",
        rows, s.curves, notes,
    )


# --- suites -------------------------------------------------------------------------------------------------
def shared_data_dir() -> Path | None:
    import os

    env = os.environ.get("UMO_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


def real_candidates(with_model: bool) -> tuple[str, ...]:
    """What ``umo eval --suite real`` runs besides its baselines: the rules (they need the BEAT
    transcript), the learned model, the continuous body generator (when its weights are bundled), and the log-mel probe where the FACEGOOD takes it fits on exist."""
    from umo.models.body_gen import DEFAULT_BODY_WEIGHTS

    data = shared_data_dir()
    probe = data is not None and (data / "facegood" / "bs_value").is_dir()
    gen = ("gen",) if DEFAULT_BODY_WEIGHTS.is_file() else ()  # the continuous body generator (issue 14)
    return ("rules",) + (("model",) if with_model else ()) + gen + (("probe",) if probe else ())


def real_suite(candidates: tuple[str, ...] = ("rules",)) -> tuple[list[Case], list[str]]:
    """The held-out real clips: FACEGOOD 1114_3_16 (face capture, Mandarin, no transcript; bundled)
    and BEAT 2_scott_0_1_1 (body BVH, SMPL-X jaw, TextGrid; read from ../shared/data, never copied)."""
    fg = FIXTURES / "facegood"
    cases = [Case(f"facegood_{FACEGOOD_TAKE}", audio=fg / f"{FACEGOOD_TAKE}.wav", language="cmn",
                  face_gt=fg / f"bs_value_{FACEGOOD_TAKE}.npy", candidates=candidates)]
    skipped = []
    data = shared_data_dir()
    beat = None if data is None else data / "beat"
    if beat is not None and (beat / f"{BEAT_TAKE}.bvh").is_file():
        cases.append(Case(f"beat_{BEAT_TAKE}", audio=beat / f"{BEAT_TAKE}.wav",
                          transcript=beat / f"{BEAT_TAKE}.TextGrid", body_gt=beat / f"{BEAT_TAKE}.bvh",
                          face_gt=beat / f"{BEAT_TAKE}.npz", candidates=candidates))
    else:
        skipped.append(f"beat_{BEAT_TAKE}: ../shared/data/beat is absent (set UMO_SHARED_DATA)")
    return cases, skipped


def load_suite(folder: Path, candidates: tuple[str, ...] = ()) -> list[Case]:
    """Cases from ``folder/suite.toml`` or ``folder/suite.json`` (see the module docstring)."""
    folder = Path(folder)
    toml_path, json_path = folder / "suite.toml", folder / "suite.json"
    if toml_path.is_file():
        import tomllib

        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    elif json_path.is_file():
        data = json.loads(json_path.read_text(encoding="utf-8"))
    else:
        raise UmoError(f"{folder}: no suite.toml or suite.json (or use --suite real for the built-in suite)")
    entries = data.get("case") or data.get("cases")
    if not entries:
        raise UmoError(f"{folder}: the manifest lists no [[case]] entries")
    cases = []
    paths = ("audio", "transcript", "gt", "face_gt", "body_gt", "pred", "pred_body")
    for i, e in enumerate(entries):
        unknown = set(e) - set(paths) - {"name", "language", "candidates", "baselines"}
        if unknown:
            raise UmoError(f"{folder}: case {i + 1} has unknown keys {sorted(unknown)}")
        kw = {k: (folder / e[k]) for k in paths if k in e}
        for k, p in kw.items():
            if not p.is_file():
                raise UmoError(f"{folder}: case {e.get('name', i + 1)}: {k} file not found: {p}")
        cases.append(Case(name=e.get("name", f"case{i + 1}"), language=e.get("language", "en"),
                          candidates=tuple(e.get("candidates", ())) + tuple(candidates),
                          baselines=bool(e.get("baselines", True)), **kw))
    return cases


# --- output ---------------------------------------------------------------------------------------------------
def _fmt(v, width: int, integer: bool = False) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return f"{'-':>{width}}"
    if integer or (isinstance(v, float) and abs(v) >= 100):
        return f"{v:>{width}.0f}"
    return f"{v:>{width}.3f}"


_SHORT = {"lve_bs": "LVE_bs", "mouth_mae": "mouthMAE", "velocity_l1": "velL1/s", "upper_fdd": "upFDD",
          "sync_r0": "r@0", "sync_r_best": "r_best", "sync_lag_ms": "lag_ms", "env_r0": "env_r@0",
          "env_r_best": "env_best", "env_lag_ms": "env_lag", "beat_align": "BeatAlign", "l1_div": "L1div",
          "hand_speed": "hand_v", "hand_jerk": "hand_jerk", "fd_raw": "FD_raw", "fd_latent": "FD_latent"}


_GENERIC_STEMS = {"weights", "last", "ema", "model", "checkpoint", "best", "final"}


def system_label(name: str) -> str:
    """A short, distinguishing table label: ``model:runs/x/dense/weights.safetensors@60`` -> ``model:dense@60``."""
    if not name.startswith("model:"):
        return name
    from umo.eval.baselines import split_fps

    base, fps = split_fps(name)  # (an invalid @ part raises, as running that animator would)
    path = Path(base[len("model:"):])
    label = path.parent.name if path.stem in _GENERIC_STEMS and path.parent.name else path.stem
    return f"model:{label}" + (f"@{fps}" if fps else "")


def format_tables(results: list[CaseResult]) -> str:
    """Two tables (face, body) over all cases, one line per system."""
    out = []
    width = max([18] + [len(system_label(r.system)) for res in results for r in res.rows])
    for part, cols in (("face", FACE_COLUMNS), ("body", BODY_COLUMNS)):
        lines = []
        for res in results:
            for r in res.rows:
                vals = getattr(r, part)
                if vals is None and not (r.note.startswith("n/a") and (part == "face" or res.body_ref)):
                    continue
                ov = getattr(r, f"{part}_overlap") or {}
                cells = "".join(_fmt((vals or {}).get(c), 10, c.endswith("lag_ms")) for c in cols)
                note = r.note if r.note.startswith("n/a") else ""
                lines.append(f"{res.case[:22]:<22} {system_label(r.system):<{width}} {_fmt(ov.get('seconds'), 7)}{cells}  {note}")
        if lines:
            head = f"{'case':<22} {'system':<{width}} {'ovl_s':>7}" + "".join(f"{_SHORT[c]:>10}" for c in cols)
            out += [f"== {part} ==", head, *lines, ""]
    for res in results:
        ref = f"face vs {res.face_ref}" + (f" ({len(res.face_channels)} channels)" if res.face_channels else "")
        out.append(f"{res.case}: {ref}; body vs {res.body_ref or '-'}")
        out += [f"  note: {n}" for n in res.notes]
    return "\n".join(out)


LEGEND = """\
face: LVE_bs = mean over frames of max over jaw/mouth channels of squared error; mouthMAE; velL1/s =
  mean |velocity error| (weights/s); upFDD = upper-face std deviation; r@0, r_best, lag_ms = lip
  aperture correlation with the capture at lag 0 / best lag within +-300 ms (positive: late);
  env_* = the same against the audio loudness envelope (sanity check only: loudness-driven jaws win it)
body: BeatAlign = BEAT/EMAGE beat consistency (sigma 0.3 s, speed minima above 0.1 x the capture's
  mean joint speed); L1div = mean |p - mean p| (shoulder widths); hand_v (sw/s), hand_jerk (sw/s^3);
  FD_raw / FD_latent = Frechet distance of 2.1 s windows, hand-crafted / motion-AE features
held out? rules: gesture placement is calibrated BEAT-wide (speaker 2's mean pose, on other takes), but
  their timing (speeds, beat rate) on BEAT 2_scott_0_1_1's capture: for timing that take is not held
  out. gen (the continuous body generator) and model never saw BEAT motion (synthetic corpus only)."""


def run(cases: list[Case], out_dir: Path | None = None, plots: bool = True, log=None) -> list[CaseResult]:
    """Evaluates cases; writes results.json and PNG plots into out_dir when given."""
    from umo.eval.motion_ae import VERSION

    results = []
    for case in cases:
        if log:
            log(f"eval: {case.name}")
        results.append(evaluate_case(case))
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        doc = {"motion_ae": VERSION, "definitions": LEGEND, "cases": [r.as_dict() for r in results]}
        (out_dir / "results.json").write_text(json.dumps(doc, indent=1, default=_json_default), encoding="utf-8")
        if plots:
            from umo.eval.plots import plot_case

            for r in results:
                plot_case(r, out_dir)
    return results


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Overlap):
        return o.as_dict()
    raise TypeError(type(o))
