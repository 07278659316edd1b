"""``umo generate`` and ``umo dance`` as library calls (the CLI is a thin layer over these).

- :func:`generate`: a caption -> a full-body Motion from the rule-based action library;
- :func:`dance_file`: a music file -> a Dance from the beat-tracked teacher (the music attached);
- :func:`write_motion`: body.bvh + preview.html into a folder (no face.csv: the face stays at rest).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from umo.errors import UmoError

Log = Callable[[str], None]
MAX_SECONDS = 600.0  # --seconds above this is a mistake, not a take


def _quiet(_: str) -> None:
    pass


def generate(prompt: str, seconds: float | None = None, seed: int = 0, fps: float = 30.0, log: Log = _quiet):
    """A caption -> Motion (umo.motion.actions). Unknown words are logged as a warning naming them."""
    import logging

    from umo.motion.actions import fit_duration, synthesize
    from umo.motion.captions import parse_caption

    if seconds is not None and not 0.5 <= seconds <= MAX_SECONDS:
        raise UmoError(f"--seconds must be 0.5 to {MAX_SECONDS:g}, got {seconds:g}")
    parsed = parse_caption(prompt)
    if parsed.unknown:
        logging.getLogger("umo").warning(f"ignored words not understood: {', '.join(parsed.unknown)}")
    for clause in parsed.clauses_without_action:
        if not set(clause.lower().split()) <= set(parsed.unknown):
            logging.getLogger("umo").warning(f"no action in {clause!r}: ignored")
    log("actions (rule-based library): " + "; ".join(s.describe() for s in parsed.specs))
    t0 = time.perf_counter()
    motion = synthesize(parsed.specs, fps, seed)
    if seconds is not None:
        motion, how = fit_duration(motion, seconds)
        log(how)
    log(f"synthesised {motion.animation.num_frames} frames at {fps:g} fps ({motion.animation.duration:.1f} s) "
        f"in {time.perf_counter() - t0:.2f} s")
    return motion


def dance_file(music: str | Path, style: str = "pop", seed: int = 0, fps: float = 30.0, log: Log = _quiet):
    """A music file (wav/flac/ogg/mp3) -> Dance as long as the music, the music attached."""
    from umo.motion.dance import STYLES, analyze_music, dance_to_music, load_music

    if style not in STYLES:
        raise UmoError(f"unknown dance style {style!r}: choose one of {', '.join(STYLES)}")
    t0 = time.perf_counter()
    audio = load_music(music)
    log(f"loaded {music} ({len(audio) / 22050:.1f} s)")
    feats = analyze_music(audio)
    log(f"music: {feats.tempo_bpm:.0f} bpm, {len(feats.beats)} beats, {len(feats.downbeats)} bars "
        f"({time.perf_counter() - t0:.1f} s)")
    d = dance_to_music(audio, style=style, seed=seed, fps=fps, features=feats)
    counts: dict[str, int] = {}
    for _, m in d.moves:
        counts[m] = counts.get(m, 0) + 1
    log(f"dance ({style}, rule-based teacher): " + ", ".join(f"{m} x{n}" for m, n in counts.items()))
    return d


def write_motion(anim, outdir: str | Path, title: str, log: Log = _quiet) -> dict[str, Path]:
    """body.bvh + preview.html (the music in it when the animation carries audio)."""
    from umo.pipeline import write_outputs

    return write_outputs(anim, outdir, speech=False, preview=True, title=title, log=log, face=False)
