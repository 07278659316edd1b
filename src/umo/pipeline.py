"""The jobs a user runs, as library calls: the CLI and the server call these, nothing else.

- :func:`load_timing`: a transcript file (TextGrid, .lab, .txt) or text -> phones and words on the
  audio's clock;
- :func:`animate_file`: an audio file (+ transcript) -> Animation;
- :func:`say`: text -> synthetic speech + Animation;
- :func:`write_outputs`: an Animation -> ``face.csv``, ``body.bvh``, ``preview.html`` (+ ``speech.wav``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from umo.animation import Animation
from umo.animator.rules import RuleAnimator, RuleAnimatorConfig
from umo.constants import BODIES, DEFAULT_BODY, SAMPLE_RATE
from umo.errors import UmoError
from umo.speech.units import Timing

TRANSCRIPT_SUFFIXES = (".textgrid", ".lab", ".txt")
FACE_FILE = "face.csv"
BODY_FILE = "body.bvh"
PREVIEW_FILE = "preview.html"
SPEECH_FILE = "speech.wav"

OUTPUT_FILES = (FACE_FILE, BODY_FILE, PREVIEW_FILE, SPEECH_FILE)

Log = Callable[[str], None]
Progress = Callable[[int, int], None]  # (frames done, frames in all) of a long stage


def _quiet(_: str) -> None:
    pass


def load_timing(
    audio: np.ndarray,
    transcript: str | Path | None = None,
    text: str | None = None,
    language: str = "en",
    sample_rate: int = SAMPLE_RATE,
) -> Timing | None:
    """Phones and words on the audio's clock from a transcript file or plain text; None if neither.

    - ``.TextGrid``: its word tier gives word times; each word's phones come from espeak's
      phonemizer in ``language``, spread over the word.
    - ``.lab``: phone labels with times (CMU ARCTIC / HTS), used as they are.
    - ``.txt`` or ``text``: aligned to the audio (English: pocketsphinx forced alignment; other
      languages: synthesis + DTW).
    """
    if transcript is not None and text is not None:
        raise UmoError("give either a transcript file or text, not both")
    if transcript is not None:
        path = Path(transcript)
        if not path.is_file():
            raise UmoError(f"transcript not found: {path}")
        suffix = path.suffix.lower()
        if suffix == ".textgrid":
            from umo.formats.textgrid import read_words
            from umo.speech.phonemes import timing_from_words

            words = read_words(path)
            if not words:
                raise UmoError(f"{path}: the TextGrid has no words")
            return timing_from_words(words, voice=_voice_for(language))
        if suffix == ".lab":
            from umo.formats.lab import read_lab

            return read_lab(path)
        if suffix == ".txt":
            text = path.read_text(encoding="utf-8")
        else:
            raise UmoError(f"{path}: unknown transcript type {suffix!r}; use .TextGrid, .lab or .txt")
    if text is None:
        return None
    if not text.strip():
        raise UmoError("the transcript is empty")
    from umo.speech.align import align_transcript

    return align_transcript(audio, text, sample_rate=sample_rate, language=language)


def _voice_for(language: str) -> str:
    return "en-us" if language == "en" else language


@dataclass
class Result:
    animation: Animation
    timing: Timing | None
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each stage


ANIMATORS = ("auto", "rules", "model")


def choose_animator(animator: str, timing: Timing | None, weights: str | Path | None) -> str:
    """"auto": the learned model for audio alone, the rule-based animator when phone timing is known
    (it is the model's teacher and has exact timing); "rules" or "model" when asked."""
    from umo.inference import default_weights_available

    if animator not in ANIMATORS:
        raise UmoError(f"unknown animator {animator!r}: use one of {', '.join(ANIMATORS)}")
    if animator != "auto":
        return animator
    if timing is not None:
        return "rules"
    return "model" if weights is not None or default_weights_available() else "rules"


def run_animator(
    which: str, audio: np.ndarray, timing: Timing | None, config: RuleAnimatorConfig | None,
    weights: str | Path | None = None, progress: Progress | None = None, engine: str = "auto",
    graph: str | Path | None = None, log: Log | None = None,
) -> Animation:
    """The chosen animator on 16 kHz audio. config.emotion: the rules apply it as their last stage;
    on the learned model's output it is an overlay (umo.emotion), not something the model learned.
    engine, graph: what runs the learned model's keyframe steps (``umo.inference.keyframe_graph``)."""
    config = config or RuleAnimatorConfig()
    if which == "rules":
        return RuleAnimator(config).animate(audio, timing)
    from umo.emotion import apply_emotion
    from umo.inference import ModelAnimator

    model = ModelAnimator(weights, fps=config.fps, seed=config.seed, engine=engine, graph=graph)
    if log is not None:
        log("keyframe steps: " + ("onnxruntime" if model.engine == "onnx" else "PyTorch"))
    anim = model.animate(audio, timing, progress=progress)
    anim = apply_emotion(anim, config.emotion)
    return anim if config.body else anim.copy(body=None, root_pos=None)


def _log_emotion(log: Log, which: str, config: RuleAnimatorConfig | None) -> None:
    if config is None or config.emotion.is_neutral:
        return
    how = "the rules' expression layer" if which == "rules" else "an overlay on the learned model's output, not learned"
    log(f"emotion: {config.emotion} ({how})")


def animate_file(
    audio_path: str | Path,
    transcript: str | Path | None = None,
    text: str | None = None,
    language: str = "en",
    config: RuleAnimatorConfig | None = None,
    log: Log = _quiet,
    animator: str = "auto",
    weights: str | Path | None = None,
    progress: Progress | None = None,
    body: str = DEFAULT_BODY,
    body_weights: str | Path | None = None,
    engine: str = "auto",
    graph: str | Path | None = None,
) -> Result:
    """An audio file (wav/flac/ogg/mp3, any rate) + optional transcript -> Animation.

    animator: "auto" (the learned model without a transcript, the rules with one), "rules", "model".
    progress: called as the learned model advances through the clip (frames done, frames in all).
    body: "animator" (the animator's own body) or "gen" (the continuous body generator; body_weights:
    its file, default the bundled one). engine ("auto", "torch", "onnx") and graph (an ONNX file of
    the weights): what runs the learned model's keyframe steps (``umo.inference.keyframe_graph``).
    """
    if body not in BODIES:
        raise UmoError(f"unknown body {body!r}: use one of {', '.join(BODIES)}")
    from umo.formats.audio import load_audio

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    audio = load_audio(audio_path)
    seconds["load"] = time.perf_counter() - t0
    log(f"loaded {audio_path} ({audio.size / SAMPLE_RATE:.2f} s)")
    t0 = time.perf_counter()
    timing = load_timing(audio, transcript=transcript, text=text, language=language)
    seconds["timing"] = time.perf_counter() - t0
    if timing is not None:
        log(f"timing: {len(timing.words)} words, {len(timing.phones)} phones ({seconds['timing']:.2f} s)")
    which = choose_animator(animator, timing, weights)
    if which == "model":
        log("animator: the learned model" + (" (audio alone)" if timing is None else " (audio + phones)"))
    elif timing is None:
        log("no transcript and no learned model: the mouth follows loudness only "
            "(pass --text or --transcript for lip sync)")
    else:
        log("animator: rule-based (visemes from the phone timing)")
    _log_emotion(log, which, config)
    t0 = time.perf_counter()
    anim = run_animator(which, audio, timing, config, weights, progress, engine, graph, log)
    seconds["animate"] = time.perf_counter() - t0
    if body == "gen" and anim.body is not None:
        from umo.models.body_gen import default_body_generator, with_generated_body

        t0 = time.perf_counter()
        anim = with_generated_body(anim, audio, default_body_generator(body_weights),
                                   seed=(config or RuleAnimatorConfig()).seed)
        seconds["body"] = time.perf_counter() - t0
        log(f"body: the continuous body generator ({seconds['body']:.2f} s)")
    log(f"animated {anim.num_frames} frames at {anim.fps} fps ({seconds['animate']:.2f} s)")
    return Result(anim, timing, seconds)


def say(
    text: str,
    voice: str = "en-us",
    rate: int = 175,
    pitch: int = 50,
    config: RuleAnimatorConfig | None = None,
    log: Log = _quiet,
    animator: str = "rules",
    weights: str | Path | None = None,
    engine: str = "auto",
    graph: str | Path | None = None,
) -> Result:
    """Text -> offline synthetic speech with its phone timing -> Animation (audio attached).

    The synthesiser's phone timing is exact, so the rule-based animator is the default here.
    """
    from umo.speech.tts import synthesize

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    speech = synthesize(text, voice=voice, rate=rate, pitch=pitch)
    seconds["tts"] = time.perf_counter() - t0
    from umo.speech.espeak import find_voice

    log(f"synthesised {speech.audio.size / speech.sample_rate:.2f} s of speech with voice {voice} "
        f"({find_voice(voice).name})")
    t0 = time.perf_counter()
    which = choose_animator(animator, speech.timing, weights)
    _log_emotion(log, which, config)
    anim = run_animator(which, speech.audio, speech.timing, config, weights, engine=engine, graph=graph)
    seconds["animate"] = time.perf_counter() - t0
    log(f"animated {anim.num_frames} frames at {anim.fps} fps ({seconds['animate']:.2f} s)")
    return Result(anim, speech.timing, seconds)


def write_outputs(
    anim: Animation, outdir: str | Path, speech: bool = False, preview: bool = True, title: str | None = None,
    log: Log = _quiet, character: str | Path | None = None, face: bool = True,
) -> dict[str, Path]:
    """Writes face.csv, body.bvh, preview.html (and speech.wav) into outdir; returns their paths.
    character: a .glb / .vrm the preview shows instead of umo's character (``umo.avatar``).
    face: False writes no face.csv (umo generate and umo dance: body motion only).

    Every file is first written under a temporary name; only when all are written are they renamed
    into place, so an interrupted or failed run never leaves a half-written file, nor a new face.csv
    beside an old preview.html. Output files of an earlier run that this run does not write (e.g.
    body.bvh under --no-body) would not match the new take: ``log`` says so (they are not deleted,
    since the folder and the file are the user's).
    """
    from umo.formats.audio import save_wav
    from umo.formats.bvh import write_animation_bvh
    from umo.formats.livelink import write_livelink
    from umo.preview.html import write_preview

    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise UmoError(f"output path {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UmoError(f"cannot create the output folder {out}: {e.strerror or e}") from None
    jobs: list[tuple[str, Callable[[Path], object]]] = [(FACE_FILE, lambda p: write_livelink(anim, p))] if face else []
    if anim.body is not None:
        jobs.append((BODY_FILE, lambda p: write_animation_bvh(anim, p)))
    if speech:
        if anim.audio is None:
            raise UmoError("no audio to write")
        jobs.append((SPEECH_FILE, lambda p: save_wav(p, anim.audio, anim.sample_rate)))
    if preview:
        jobs.append((PREVIEW_FILE, lambda p: write_preview(anim, p, title=title, character=character)))
    temps: dict[str, Path] = {}
    try:
        for name, write in jobs:
            final = out / name
            temps[name] = final.with_name(f".{final.stem}.partial{final.suffix}")
            try:
                write(temps[name])
            except OSError as e:
                raise UmoError(f"cannot write {final}: {e.strerror or e}") from None
        paths: dict[str, Path] = {}
        for name, tmp in temps.items():
            tmp.replace(out / name)
            paths[name] = out / name
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    stale = [str(out / name) for name in OUTPUT_FILES if name not in paths and (out / name).is_file()]
    if stale:
        log(f"warning: {', '.join(stale)} {'is' if len(stale) == 1 else 'are'} not from this run and "
            "do not match this take (delete or move them)")
    return paths


def read_take(take: str | Path) -> Animation:
    """A take folder as :func:`write_outputs` writes it -> Animation: face, head and eyes from
    face.csv, the body from body.bvh when there is one (retargeted onto the canonical skeleton if it
    is on another; its Frame Time gives the take's frame rate, else face.csv's timecodes do). A folder
    with body.bvh alone (umo generate, umo dance) gives the body with a still, neutral face."""
    from umo.convert import combine, read_any
    from umo.formats.livelink import read_livelink

    folder = Path(take)
    if not folder.exists():
        raise UmoError(f"take folder not found: {folder}")
    if not folder.is_dir():
        raise UmoError(f"{folder} is not a folder: give the folder that umo say or umo animate wrote "
                       f"({FACE_FILE}, {BODY_FILE})")
    body = read_any(folder / BODY_FILE)[0] if (folder / BODY_FILE).is_file() else None
    if not (folder / FACE_FILE).is_file():
        if body is None:
            raise UmoError(f"{folder} holds no {FACE_FILE} nor {BODY_FILE}: give the folder that umo say, "
                           "animate, generate or dance wrote")
        return body
    face = read_livelink(folder / FACE_FILE, fps=None if body is None else body.fps)
    return face if body is None else combine(face, body)
