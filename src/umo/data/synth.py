"""The synthetic speech-to-motion corpus: espeak speech animated by the rule-based teacher.

Each clip (Ex-Omni's teacher-made corpus, with umo's rule animator as the teacher):

1. text: 1-3 sentences of one language from :mod:`umo.data.sentences`;
2. a voice: a language accent (en-us, en-gb, en-gb-scotland, es, de, fr-fr, cmn, ...) with one of
   espeak's voice variants ("+f2", "+m3", "+klatt4", "+Andy", ...) or none, a rate of 120-260 words
   per minute, a base pitch of 20-80 and a pitch range of 20-90;
3. :func:`umo.speech.tts.synthesize` gives the audio and its exact phone timing; a little silence
   (0-0.4 s) is added before and after, so that the model also sees onsets and rests;
4. :class:`umo.animator.rules.RuleAnimator` (30 fps, a seed of its own) animates face, head, eyes,
   body and fingers; the phones are rasterised per frame.

Determinism. The settings of clip ``j`` depend only on ``(seed, j)``. espeak-ng, though, carries
state from one synthesis to the next inside a process (its output drifts by a few milliseconds
with the history), so clips are made in blocks of BLOCK_CLIPS, each block by a fresh process that
has never synthesised anything, and blocks always start at multiples of the block size. So the
corpus is the same whatever ``workers`` is, and a killed run resumes where it stopped (complete
shards are kept; the block of the first missing clip is made again from its start) with the same
result as an uninterrupted run; a larger ``hours`` extends a corpus the same way.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from umo.constants import FACE_REGION_DIM, MODEL_FPS, SAMPLE_RATE
from umo.errors import UmoError
from umo.speech.units import PHONES, Timing

log = logging.getLogger(__name__)

# language -> (share of clips, espeak accents of that language)
LANGUAGE_MIX: dict[str, tuple[float, tuple[str, ...]]] = {
    "en": (0.70, ("en-us", "en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland", "en-us-nyc", "en-029")),
    "es": (0.075, ("es", "es-419")),
    "de": (0.075, ("de",)),
    "fr": (0.075, ("fr-fr", "fr-be")),
    "cmn": (0.075, ("cmn",)),
}
# espeak voice variants that sound like a person (the robot, whisper and croak ones are left out);
# only those present in the bundled espeak data are used.
VARIANTS: tuple[str, ...] = (
    "f1", "f2", "f3", "f4", "f5", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8",
    "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6",
    "Alex", "Alicia", "Andrea", "Andy", "AnxiousAndy", "Denis", "Diogo", "Gene", "Henrique", "Hugo",
    "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike", "Nguyen", "Reed", "Tweaky", "adam", "anika",
    "announcer", "antonio", "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed", "edward",
    "edward2", "fast", "grandma", "grandpa", "gustave", "ian", "iven", "iven2", "john", "kaukovalta",
    "linda", "marcelo", "max", "michel", "miguel", "mike2", "norbert", "pablo", "paul", "quincy",
    "rob", "robert", "sandro", "shelby", "steph", "steph2", "travis", "victor", "zac",
)
P_NO_VARIANT = 0.25  # share of clips in the accent's own default voice
RATE_WPM = (120, 260)
PITCH = (20, 80)
PITCH_RANGE = (20, 90)
SENTENCES_PER_CLIP = ((1, 0.55), (2, 0.30), (3, 0.15))
EDGE_SILENCE_S = (0.0, 0.4)  # silence added before and after the speech
CLIPS_PER_SHARD = 512  # about 40 minutes of audio per shard (~100 MB)
BLOCK_CLIPS = 32  # clips made by one fresh process (see Determinism above): ~2 min of audio


@lru_cache(maxsize=1)
def available_variants() -> tuple[str, ...]:
    """The members of VARIANTS that the bundled espeak-ng data has (its voices/!v folder)."""
    import os

    import espeakng_loader

    folder = os.path.join(espeakng_loader.get_data_path(), "voices", "!v")
    present = set(os.listdir(folder)) if os.path.isdir(folder) else set()
    return tuple(v for v in VARIANTS if v in present)


def rasterize_phones(timing: Timing, num_frames: int, fps: float = MODEL_FPS) -> np.ndarray:
    """Phone timing -> (T,) int64 PHONES index of the phone sounding at each frame time i / fps.

    Frames outside every phone (before the first, after the last, in gaps) are silence (0).
    """
    out = np.zeros(num_frames, np.int64)
    if not timing.phones or num_frames == 0:
        return out
    starts = np.array([p.start for p in timing.phones])
    ends = np.array([p.end for p in timing.phones])
    ids = np.array([PHONES.index(p.symbol) for p in timing.phones], np.int64)
    order = np.argsort(starts, kind="stable")
    starts, ends, ids = starts[order], ends[order], ids[order]
    t = np.arange(num_frames) / fps
    k = np.searchsorted(starts, t, side="right") - 1
    inside = (k >= 0) & (t < ends[np.clip(k, 0, None)])
    out[inside] = ids[k[inside]]
    return out


@dataclass(frozen=True)
class ClipSpec:
    """Everything that decides one synthetic clip."""

    index: int
    language: str
    voice: str
    rate: int
    pitch: int
    pitch_range: int
    text: str
    lead_s: float  # silence before the speech
    tail_s: float  # silence after it
    animator_seed: int


def clip_spec(seed: int, index: int) -> ClipSpec:
    """The settings of clip ``index`` of the corpus with ``seed`` (pure function of both)."""
    from umo.data.sentences import sample_sentences

    rng = np.random.default_rng([seed, index])
    langs = list(LANGUAGE_MIX)
    shares = np.array([LANGUAGE_MIX[k][0] for k in langs])
    language = langs[int(rng.choice(len(langs), p=shares / shares.sum()))]
    accents = LANGUAGE_MIX[language][1]
    voice = accents[int(rng.integers(len(accents)))]
    variants = available_variants()
    if variants and rng.random() >= P_NO_VARIANT:
        voice = f"{voice}+{variants[int(rng.integers(len(variants)))]}"
    counts, probs = zip(*SENTENCES_PER_CLIP)
    n = int(rng.choice(counts, p=np.array(probs) / sum(probs)))
    text = " ".join(sample_sentences(n, rng, language))
    return ClipSpec(
        index=index, language=language, voice=voice,
        rate=int(rng.integers(RATE_WPM[0], RATE_WPM[1] + 1)),
        pitch=int(rng.integers(PITCH[0], PITCH[1] + 1)),
        pitch_range=int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
        text=text,
        lead_s=float(rng.uniform(*EDGE_SILENCE_S)), tail_s=float(rng.uniform(*EDGE_SILENCE_S)),
        animator_seed=int(rng.integers(2**31 - 1)),
    )


def _seed_espeak(seed: int) -> None:
    """Seed the random generators espeak-ng draws its breath noise from (its own and libc's rand)."""
    import ctypes

    from umo.speech import espeak

    with espeak._LOCK:
        lib = espeak._lib()
        if hasattr(lib, "espeak_ng_SetRandSeed"):
            lib.espeak_ng_SetRandSeed(ctypes.c_long(seed))
        ctypes.CDLL(None).srand(ctypes.c_uint(seed))


def make_clip(spec: ClipSpec) -> dict | None:
    """Synthesise and animate one clip -> the keyword arguments of ShardWriter.add (minus the id).

    None when espeak cannot speak the text (the clip is skipped, deterministically).
    """
    from umo.animator.rules import RuleAnimator, RuleAnimatorConfig
    from umo.data.motion import animation_to_regions
    from umo.speech.tts import synthesize

    try:
        _seed_espeak(spec.animator_seed)
        speech = synthesize(spec.text, spec.voice, spec.rate, spec.pitch, spec.pitch_range)
    except UmoError as e:
        log.warning("clip %d skipped: %s", spec.index, e)
        return None
    lead = int(round(spec.lead_s * SAMPLE_RATE))
    tail = int(round(spec.tail_s * SAMPLE_RATE))
    audio = np.concatenate([np.zeros(lead, np.float32), speech.audio, np.zeros(tail, np.float32)])
    timing = speech.timing.shifted(lead / SAMPLE_RATE)
    anim = RuleAnimator(RuleAnimatorConfig(fps=MODEL_FPS, seed=spec.animator_seed)).animate(audio, timing)
    regions = animation_to_regions(anim)
    return {
        "source": "synth",
        "audio": audio,
        "regions": regions,
        "phones": rasterize_phones(timing, anim.num_frames),
        "face_mask": np.ones(FACE_REGION_DIM, bool),
        "has_body": True,
        "has_hands": True,
        "meta": {"language": spec.language, "speaker": spec.voice, "text": spec.text, "rate": spec.rate,
                 "pitch": spec.pitch, "pitch_range": spec.pitch_range, "animator_seed": spec.animator_seed},
    }


def _make_block(args: tuple[int, int, int]) -> list[tuple[int, dict | None]]:
    """Clips [start, stop) of the corpus with ``seed``, made in this (fresh) process; arrays made
    compact (int16 audio, float16 motion) for the trip back to the writer."""
    seed, start, stop = args
    out = []
    for j in range(start, stop):
        clip = make_clip(clip_spec(seed, j))
        if clip is not None:
            clip["audio"] = np.round(np.clip(clip["audio"], -1, 1) * 32767).astype(np.int16)
            clip["regions"] = {k: v.astype(np.float16) for k, v in clip["regions"].items()}
        out.append((j, clip))
    return out


def _from_compact(clip: dict) -> dict:
    clip["audio"] = clip["audio"].astype(np.float32) / 32767.0
    clip["regions"] = {k: v.astype(np.float32) for k, v in clip["regions"].items()}
    return clip


def _context():
    """Processes that start with espeak never loaded: forked from a clean fork server (cheap), or
    spawned where there is none."""
    import multiprocessing as mp

    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["umo.data.synth", "umo.animator.rules", "umo.data.motion", "umo.speech.tts"])
        return ctx
    return mp.get_context("spawn")


def clip_id(seed: int, index: int) -> str:
    return f"synth/{seed}/{index:08d}"


@dataclass
class CorpusInfo:
    out_dir: Path
    clips: int  # clips in the corpus
    hours: float  # hours of audio in the corpus
    shards: int
    new_clips: int  # clips made by this call (0 when the corpus was already complete)
    new_hours: float
    compute_s: float  # wall-clock seconds this call spent
    speed: float  # hours of audio made per hour of wall-clock time in this call (0 if none made)


def synthesize_corpus(
    out_dir: str | Path,
    hours: float,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    clips_per_shard: int = CLIPS_PER_SHARD,
) -> CorpusInfo:
    """Write (or continue) a synthetic corpus of at least ``hours`` of audio into ``out_dir``.

    Clips are made in order until the corpus holds ``hours`` of audio; ``workers`` processes make
    them in parallel (the result does not depend on ``workers``). Resumable: run it again with the
    same ``seed`` (and a larger ``hours`` to extend the corpus).
    """
    from tqdm import tqdm

    from umo.data.shards import ShardWriter

    if not hours > 0:
        raise UmoError(f"hours must be positive, got {hours}")
    if workers < 1:
        raise UmoError(f"workers must be at least 1, got {workers}")
    started = time.perf_counter()
    attrs = {"kind": "synth", "seed": int(seed), "clips_per_shard": int(clips_per_shard)}
    writer = ShardWriter(out_dir, clips_per_shard=clips_per_shard, attrs=attrs)
    done = writer.complete_clips
    block = math.gcd(BLOCK_CLIPS, clips_per_shard)
    # restart at the start of the block of the first missing clip: its history is then the same as
    # in an uninterrupted run; clips already in complete shards are made again but not added
    next_index = (int(done[-1]["id"].rsplit("/", 1)[1]) + 1) // block * block if done else 0
    have_s = float(sum(c["duration"] for c in done))
    target_s = hours * 3600.0
    if done:
        log.info("resuming %s: %d clips (%.2f h) already there", out_dir, len(done), have_s / 3600)
    bar = tqdm(total=round(target_s), initial=min(round(have_s), round(target_s)), unit="s",
               desc="synthetic corpus (s of audio)", disable=not progress, smoothing=0.05)
    new_s = 0.0
    new_clips = 0
    pool = _context().Pool(workers, maxtasksperchild=1)  # one fresh process per block
    try:
        while have_s < target_s:
            jobs = [(seed, b, b + block) for b in range(next_index, next_index + 2 * workers * block, block)]
            for results in pool.imap(_make_block, jobs):
                for j, clip in results:
                    next_index = j + 1
                    if clip is None or clip_id(seed, j) in writer:
                        continue
                    writer.add(clip_id(seed, j), **_from_compact(clip))
                    d = len(clip["audio"]) / SAMPLE_RATE
                    have_s += d
                    new_s += d
                    new_clips += 1
                    bar.update(min(round(have_s), round(target_s)) - bar.n)
                    if have_s >= target_s:
                        break
                if have_s >= target_s:
                    break
        writer.close()
    finally:
        bar.close()
        pool.terminate()
    elapsed = time.perf_counter() - started
    return CorpusInfo(
        out_dir=Path(out_dir), clips=len(writer.complete_clips), hours=have_s / 3600.0,
        shards=len(writer.index["shards"]), new_clips=new_clips, new_hours=new_s / 3600.0,
        compute_s=elapsed, speed=(new_s / elapsed) if new_clips else 0.0,
    )
