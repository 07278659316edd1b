"""Property-based fuzzing (hypothesis) of the file readers: BVH, Live Link CSV, TextGrid and .lab.

Arbitrary bytes, arbitrary text and mutations of valid files (spans cut, lines repeated or swapped,
tokens replaced by awkward ones: nan, 1e308, braces, keywords) must give either a sound result or a
UmoError with a message, never another exception type and never a hang. A BVH that reads is also
retargeted (allow_partial), so the role inference and the transfer see the same broken skeletons.

Example counts are modest (each test runs in seconds on 2 cores); no example database is kept (the
checkout is shared; hypothesis prints a failing example anyway).
"""

from __future__ import annotations

import contextlib
import math
import re
import signal
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from umo.animation import Animation
from umo.errors import UmoError
from umo.formats.bvh import read_animation_bvh, read_bvh
from umo.formats.lab import read_lab
from umo.formats.livelink import read_livelink, write_livelink
from umo.formats.retarget import retarget
from umo.formats.textgrid import read_textgrid, read_timing, write_textgrid
from umo.speech.units import Phone, Timing, Word

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HANG_S = 20  # one read taking longer than this is a hang


@contextlib.contextmanager
def no_hang(seconds: int = HANG_S):
    def boom(*_):
        raise TimeoutError(f"the reader ran for more than {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


_DIR = tempfile.TemporaryDirectory(prefix="umo-fuzz-")


def _file(data: bytes, suffix: str) -> Path:
    path = Path(_DIR.name) / f"case{suffix}"
    path.write_bytes(data)
    return path


def _read(fn, data: bytes, suffix: str):
    """fn(path) on the bytes: its result, or None after a UmoError with a message."""
    path = _file(data, suffix)
    with no_hang(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(path)
        except UmoError as e:
            assert str(e).strip(), "a UmoError without a message"
            return None


# --- seeds: valid files ---------------------------------------------------------------------------

_BVH_SMALL = ("HIERARCHY\nROOT Hips\n{\n\tOFFSET 0 0 0\n\tCHANNELS 6 Xposition Yposition Zposition "
              "Zrotation Xrotation Yrotation\n\tJOINT Spine\n\t{\n\t\tOFFSET 0 10 0\n\t\tCHANNELS 3 Zrotation "
              "Xrotation Yrotation\n\t\tEnd Site\n\t\t{\n\t\t\tOFFSET 0 5 0\n\t\t}\n\t}\n}\n"
              "MOTION\nFrames: 2\nFrame Time: 0.0333333\n0 90 0 0 0 0 10 0 0\n0 91 0 0 0 0 20 0 0\n")


def _nested_bvh(tree: list, frames: int = 2) -> str:
    """A BVH from nested (name, offset, children) rows: root 6 channels ZXY, the others 3."""
    lines, count = ["HIERARCHY"], [0]

    def joint(node, depth):
        name, offset, kids = node
        pad = " " * depth
        lines.extend([f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {name}", f"{pad}{{", f"{pad} OFFSET {offset}",
                      f"{pad} CHANNELS {6 if depth == 0 else 3} " + ("Xposition Yposition Zposition " if depth == 0 else "")
                      + "Zrotation Xrotation Yrotation"])
        count[0] += 6 if depth == 0 else 3
        for kid in kids:
            joint(kid, depth + 1)
        if not kids:
            lines.extend([f"{pad} End Site", f"{pad} {{", f"{pad}  OFFSET 0 5 0", f"{pad} }}"])
        lines.append(f"{pad}}}")

    joint(tree, 0)
    lines += ["MOTION", f"Frames: {frames}", "Frame Time: 0.04"]
    lines += [" ".join(["0", "95", "0"] + [str((3 * k + i) % 40 - 20) for i in range(count[0] - 3)]) for k in range(frames)]
    return "\n".join(lines) + "\n"


def _arm(side: str, sign: str) -> tuple:
    return (f"{side}Collar", f"{sign}3 20 0", [(f"{side}Shoulder", f"{sign}12 0 0", [
        (f"{side}Elbow", f"{sign}28 0 0", [(f"{side}Wrist", f"{sign}25 0 0", [])])])])


# Collar/Shoulder/Elbow/Wrist naming: the Shoulder under the Collar is the upper arm.
_BVH_COLLAR = _nested_bvh(("Hips", "0 0 0", [
    ("Chest", "0 20 0", [("Neck", "0 25 0", [("Head", "0 8 1", [])]), _arm("Left", ""), _arm("Right", "-")]),
    ("LeftHip", "9 0 0", [("LeftKnee", "0 -42 0", [("LeftAnkle", "0 -42 0", [])])]),
    ("RightHip", "-9 0 0", [("RightKnee", "0 -42 0", [("RightAnkle", "0 -42 0", [])])]),
]))


def _cmu_head(frames: int = 4) -> str:
    lines = (FIXTURES / "cmu_01_01.bvh").read_text().splitlines()
    motion = next(k for k, line in enumerate(lines) if line.strip() == "MOTION")
    return "\n".join(lines[:motion] + ["MOTION", f"Frames: {frames}", "Frame Time: .0083333"]
                     + lines[motion + 3:motion + 3 + frames]) + "\n"


def _livelink_seed() -> str:
    rng = np.random.default_rng(0)
    anim = Animation(fps=60, face=rng.uniform(0, 1, (5, 52)), head=rng.normal(0, 0.1, (5, 3)),
                     eyes=rng.normal(0, 0.1, (5, 6)))
    path = Path(_DIR.name) / "seed.csv"
    write_livelink(anim, path)
    return path.read_text()


def _textgrid_seed() -> str:
    timing = Timing(phones=[Phone("SIL", 0.0, 0.2), Phone("HH", 0.2, 0.3, 0, 0), Phone("AY", 0.3, 0.5, 1, 0),
                            Phone("SIL", 0.5, 0.7)], words=[Word("hi", 0.2, 0.5)])
    path = Path(_DIR.name) / "seed.TextGrid"
    write_textgrid(path, timing)
    return path.read_text()


_TEXTGRID_SHORT = ('File type = "ooTextFile"\nObject class = "TextGrid"\n\n0\n1.5\n<exists>\n1\n"IntervalTier"\n'
                   '"words"\n0\n1.5\n2\n0\n0.7\n"hello"\n0.7\n1.5\n""\n')
_LAB_SEEDS = [
    "\n".join((FIXTURES / "arctic_a0009_phone.lab").read_text().splitlines()[:8]) + "\n",
    "0.0 0.2 pau\n0.2 0.25 sil\n0.25 0.4 hh\n0.4 0.6 AY1\n0.6 0.9 h#\n",
    "0 2500000 sil\n2500000 4000000 hh\n4000000 6000000 ay\n",
    "separator ;\nnfields 1\n#\n0.2 125 pau\n0.35 125 hh\n0.6 125 ay\n",
]

# Tokens that have broken parsers before, or might.
AWKWARD = ["", " ", "\t", "\n", "\r\n", "{", "}", "nan", "NaN", "-nan", "inf", "-inf", "1e308", "-1e308", "1e-300",
           "0", "-0", "-1", "1e400", "99999999999999999999", "³", "٣", "0x10", "1_000", "JOINT", "ROOT", "End",
           "End Site", "OFFSET", "CHANNELS", "CHANNELS 99", "CHANNELS -3", "MOTION", "HIERARCHY", "Frames:",
           "Frame Time:", "Xposition", "Zrotation", "Wrotation", ",", ",,", '"', '""', "<exists>", "<absent>",
           "item [1]:", "intervals [1]:", "xmin = 5", "xmax = -1", "size = 1000000", "#", "pau", "sil", "zz9",
           "AY9", "h#", "ooTextFile", "TextGrid", "IntervalTier", "TextTier", "Timecode", "BlendshapeCount",
           "00:00:00:00.000", "99:99:99:99.999", "\x00", "\ufeff", "\u2028", "é"]


_TOKEN = re.compile(r"\S+")


@st.composite
def mutated(draw, seeds: list[str]) -> bytes:
    """A valid file with a few random edits: mostly one token or number replaced (the file still has
    its shape, so the edit reaches the checks past the parser), sometimes spans cut or inserted,
    lines repeated or swapped, the end cut off, CRLF line ends."""
    text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["token", "token", "number", "number", "cut", "insert", "dup_line",
                                   "swap_lines", "truncate", "crlf"]))
        n = len(text)
        if op in ("token", "number"):
            spans = [m.span() for m in _TOKEN.finditer(text)]
            if not spans:
                continue
            a, b = draw(st.sampled_from(spans))
            if op == "token":
                new = draw(st.sampled_from(AWKWARD) | st.text(max_size=6))
            else:
                new = repr(draw(st.floats() | st.integers(-10**6, 10**6).map(float)))
            text = text[:a] + new + text[b:]
        elif op in ("cut", "insert") and n:
            a = draw(st.integers(0, n - 1))
            b = min(n, a + draw(st.integers(0, 12)))
            token = draw(st.sampled_from(AWKWARD) | st.text(max_size=6))
            text = text[:a] + ("" if op == "cut" else token) + text[b if op == "cut" else a:]
        elif op in ("dup_line", "swap_lines"):
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if op == "dup_line":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif op == "truncate" and n:
            text = text[:draw(st.integers(0, n))]
        elif op == "crlf":
            text = text.replace("\n", "\r\n")
    return text.encode("utf-8", errors="surrogatepass")


junk = st.binary(max_size=400) | st.text(max_size=300).map(lambda t: t.encode("utf-8"))


# --- BVH ----------------------------------------------------------------------------------------


def _check_bvh(path: Path):
    motion = read_bvh(path)
    assert motion.frames.ndim == 2 and motion.frames.shape[1] == motion.num_channels > 0
    assert np.isfinite(motion.frames).all() and np.isfinite(motion.skeleton.offsets).all()
    assert math.isfinite(motion.fps) and motion.fps > 0
    anim = read_animation_bvh(path)
    assert np.isfinite(anim.body).all() and np.isfinite(anim.root_pos).all()
    out = retarget(anim, allow_partial=True)
    assert out.skeleton.is_canonical() and out.num_frames == anim.num_frames
    assert np.isfinite(out.body).all() and np.isfinite(out.root_pos).all()
    return out


@FUZZ
@given(junk)
def test_bvh_junk(data):
    _read(_check_bvh, data, ".bvh")


@FUZZ
@given(mutated([_BVH_SMALL, _BVH_COLLAR, _cmu_head()]))
def test_bvh_mutated(data):
    _read(_check_bvh, data, ".bvh")


def test_bvh_seeds_read():
    """The seeds themselves read (the mutations start from files that work)."""
    assert _read(_check_bvh, _cmu_head().encode(), ".bvh") is not None
    assert _read(read_bvh, _BVH_SMALL.encode(), ".bvh") is not None
    out = _read(_check_bvh, _BVH_COLLAR.encode(), ".bvh")
    assert out is not None and out.body[:, out.skeleton.index("LeftForeArm")].any()


# --- Live Link CSV --------------------------------------------------------------------------------

_LIVELINK = _livelink_seed()


def _check_livelink(path: Path):
    anim = read_livelink(path)
    assert anim.num_frames > 0 and math.isfinite(anim.fps) and anim.fps > 0
    for a in (anim.face, anim.head, anim.eyes):
        assert np.isfinite(a).all()
    return anim


@FUZZ
@given(junk)
def test_livelink_junk(data):
    _read(_check_livelink, data, ".csv")


@FUZZ
@given(mutated([_LIVELINK, _LIVELINK.replace("BlendshapeCount", "BlendShapeCount")]))
def test_livelink_mutated(data):
    _read(_check_livelink, data, ".csv")


def test_livelink_seed_reads():
    assert _read(_check_livelink, _LIVELINK.encode(), ".csv") is not None


# --- TextGrid -------------------------------------------------------------------------------------

_TEXTGRID = _textgrid_seed()


def _check_textgrid(path: Path):
    tiers = read_textgrid(path)
    for intervals in tiers.values():
        for iv in intervals:
            assert iv.start <= iv.end and isinstance(iv.text, str)
    timing = read_timing(path)
    for item in list(timing.phones) + list(timing.words):
        assert item.start <= item.end
    return timing


@FUZZ
@given(junk)
def test_textgrid_junk(data):
    _read(_check_textgrid, data, ".TextGrid")


@FUZZ
@given(mutated([_TEXTGRID, _TEXTGRID_SHORT]))
def test_textgrid_mutated(data):
    _read(_check_textgrid, data, ".TextGrid")


def test_textgrid_seeds_read():
    assert _read(_check_textgrid, _TEXTGRID.encode(), ".TextGrid") is not None
    assert _read(_check_textgrid, _TEXTGRID_SHORT.encode(), ".TextGrid") is not None


# --- .lab -----------------------------------------------------------------------------------------


def _check_lab(path: Path):
    timing = read_lab(path)
    prev = 0.0
    for p in timing.phones:
        assert math.isfinite(p.start) and math.isfinite(p.end) and p.start <= p.end
        assert p.start >= prev - 1e-6
        prev = p.end
    return timing


@FUZZ
@given(junk)
def test_lab_junk(data):
    _read(_check_lab, data, ".lab")


@FUZZ
@given(mutated(_LAB_SEEDS))
def test_lab_mutated(data):
    _read(_check_lab, data, ".lab")


def test_lab_seeds_read():
    for seed in _LAB_SEEDS:
        assert _read(_check_lab, seed.encode(), ".lab") is not None
