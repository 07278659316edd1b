"""Forced alignment of a known transcript to real speech: words and phones with times.

Two methods:

* ``pocketsphinx`` (English): HMM forced alignment with the US-English acoustic model bundled in
  the pocketsphinx wheel, at 100 frames/s. Words missing from its dictionary get espeak's
  pronunciation; stress comes from espeak's phonemization of each word.
* ``dtw`` (any espeak language, and the fallback when pocketsphinx fails): synthesise the text
  with espeak, whose phone timing is exact, and warp that timing onto the real audio by dynamic
  time warping of MFCCs. Coarser (espeak does not sound like the speaker), but language-agnostic.

Dimension letters: S samples, N real frames, M synthetic frames, F features.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.fft
import soxr

from umo.constants import FEATURE_RATE, HOP_LENGTH, SAMPLE_RATE
from umo.errors import UmoError
from umo.formats.audio import prepare_audio
from umo.speech import espeak
from umo.speech.phonemes import _word_text, language_of, phonemize_words, require_text, timing_from_events
from umo.speech.units import SILENCE, VOWELS, Phone, Timing, Word

log = logging.getLogger(__name__)

METHODS = ("auto", "pocketsphinx", "dtw")
# pocketsphinx scores each frame against the best state of that frame (log base 1.0001, <= 0), so the
# forced alignment's mean score per frame says how well the transcript explains the audio. Measured
# on real English (JFK, ARCTIC a0007/a0009, four BEAT takes in 10 s windows): the right transcript
# -9 to -22 per frame, another clip's transcript -36 to -65 (or no alignment at all).
MISMATCH_SCORE_PER_FRAME = -30.0
# pocketsphinx's HMMs have 3 emitting states and no skips: a phone needs at least 3 frames (30 ms).
MIN_SECONDS_PER_PHONE = 0.03
_SIL_WORDS = {"<sil>", "<s>", "</s>", "[noise]", "++noise++", "[laughter]"}

# MFCC front end for DTW (the usual speech-recognition settings at umo's 100 Hz feature rate).
_WIN = 400  # 25 ms at 16 kHz
_N_FFT = 512
_N_MELS = 40
_N_CEPS = 13
_FLOOR_DB = 45.0
_EDGE_SILENCE_S = 0.2  # silence added around the synthetic speech before warping  # c1..c12 kept; c0 (loudness) dropped so level differences do not matter


def _tokens(text: str) -> list[str]:
    """Whitespace words of the transcript without surrounding punctuation (empty ones dropped)."""
    out = []
    for raw in text.split():
        w = _word_text(raw, 0, len(raw))
        if w and any(ch.isalnum() for ch in w):
            out.append(w)
    return out


def align_transcript(
    audio: np.ndarray,
    text: str,
    sample_rate: int = SAMPLE_RATE,
    language: str = "en",
    method: str = "auto",
) -> Timing:
    """Times of the words of ``text`` and their phones in ``audio``.

    audio: (S,) mono at sample_rate; language: an espeak language code ("en", "es", "de", "cmn");
    method: "auto" (pocketsphinx for English, DTW otherwise or if pocketsphinx fails),
    "pocketsphinx" or "dtw".
    """
    require_text(text)
    if method not in METHODS:
        raise UmoError(f"unknown alignment method {method!r}: use one of {', '.join(METHODS)}")
    audio = prepare_audio(audio, sample_rate)  # (S,) float32 mono at SAMPLE_RATE
    voice = "en-us" if language.lower() in ("en", "en-us", "english") else espeak.canonical_voice(language)
    words = _tokens(text)
    if not words:
        raise UmoError(f"the transcript {text[:60]!r} has no words to align")
    pron = phonemize_words(words, voice)
    n_phones = sum(len(p) for p in pron)
    duration = len(audio) / SAMPLE_RATE
    if duration < n_phones * MIN_SECONDS_PER_PHONE:
        raise UmoError(
            f"the audio ({duration:.2f} s) is far too short for the transcript ({len(words)} words, "
            f"{n_phones} phones need at least {n_phones * MIN_SECONDS_PER_PHONE:.2f} s): check that "
            "the text belongs to this audio"
        )
    english = voice.startswith("en")
    if method == "pocketsphinx" and not english:
        raise UmoError(f"pocketsphinx alignment only has an English model; use method='dtw' for {language!r}")
    if method == "pocketsphinx" or (method == "auto" and english):
        try:
            return _align_pocketsphinx(audio, words, pron)
        except RuntimeError:
            if method == "pocketsphinx":
                raise UmoError(
                    "pocketsphinx could not align this transcript to the audio: check the text matches "
                    "the speech, or use method='dtw'"
                ) from None
            log.warning("pocketsphinx could not align the transcript to the audio (does the text match "
                        "the speech?): falling back to the coarser DTW alignment")
    else:
        log.info("aligned by synthesis + DTW: coarse, and it cannot check that the text matches the speech")
    return _align_dtw(audio, text, voice)


# --- pocketsphinx ------------------------------------------------------------------------------
_DECODER = None


def _decoder():
    """One Decoder with the bundled en-us model, made on first use (loading takes ~0.1 s)."""
    global _DECODER
    if _DECODER is None:
        from pocketsphinx import Decoder

        # lm=None: no language model is needed for alignment; samprate matches umo's audio.
        _DECODER = Decoder(lm=None, samprate=SAMPLE_RATE, loglevel="FATAL")
    return _DECODER


def _align_pocketsphinx(audio: np.ndarray, words: list[str], pron: list[list[tuple[str, int]]]) -> Timing:
    """English forced alignment. RuntimeError where pocketsphinx cannot align."""
    with espeak._LOCK:  # the decoder is shared too; one alignment at a time
        dec = _decoder()
        keys = []
        for i, (w, ps) in enumerate(zip(words, pron)):
            key = w.lower()
            if dec.lookup_word(key) is None:
                if not ps:
                    raise RuntimeError(f"no pronunciation for {w!r}")
                dec.add_word(key, " ".join(p for p, _ in ps), True)
            keys.append(key)
        pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16).tobytes()
        dec.set_align_text(" ".join(keys))
        for second_pass in (False, True):
            if second_pass:
                dec.set_alignment()
            dec.start_utt()
            dec.process_raw(pcm, full_utt=True)
            dec.end_utt()
        alignment = dec.get_alignment()
        if alignment is None:
            raise RuntimeError("no alignment")
        segments = [(w.name, [(p.name, p.start, p.duration) for p in w]) for w in alignment]
        score = sum(w.score for w in alignment) / max(1, sum(w.duration for w in alignment))
    if not any(name.lower() not in _SIL_WORDS for name, _ in segments):
        raise RuntimeError("alignment has no words")
    if score < MISMATCH_SCORE_PER_FRAME:
        log.warning(f"the transcript does not seem to match the audio (alignment score {score:.0f} per frame; "
                    f"a matching one scores above {MISMATCH_SCORE_PER_FRAME:.0f}): the lip sync will be wrong "
                    "where they differ; check the text, or animate from the audio alone")

    duration = len(audio) / SAMPLE_RATE
    phones: list[Phone] = []
    out_words: list[Word] = []
    k = 0
    for name, segs in segments:
        is_sil = name.lower() in _SIL_WORDS or k >= len(words)
        if not is_sil:
            # Stress of the dictionary's vowels from espeak's vowels of the same word, in order.
            stresses = [st for p, st in pron[k] if p in VOWELS]
            vowel = 0
        for ph, start, dur in segs:
            t0, t1 = start / FEATURE_RATE, (start + dur) / FEATURE_RATE
            sym = ph.upper()
            if is_sil or sym not in VOWELS and sym not in _ARPA_CONSONANTS:
                _extend_or_add_silence(phones, t0, t1)
                continue
            stress = 0
            if sym in VOWELS:
                stress = stresses[vowel] if vowel < len(stresses) else 0
                vowel += 1
            phones.append(Phone(sym, t0, t1, stress, len(out_words)))
        if not is_sil:
            word_phones = [p for p in phones if p.word == len(out_words)]
            if word_phones:
                out_words.append(Word(words[k], word_phones[0].start, word_phones[-1].end))
            k += 1
    if phones and phones[-1].end < duration:
        _extend_or_add_silence(phones, phones[-1].end, duration)
    return Timing(phones, out_words, "en")


_ARPA_CONSONANTS = frozenset(
    ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T",
     "TH", "V", "W", "Y", "Z", "ZH")
)


def _extend_or_add_silence(phones: list[Phone], t0: float, t1: float) -> None:
    if phones and phones[-1].symbol == SILENCE and phones[-1].end >= t0:
        phones[-1] = Phone(SILENCE, phones[-1].start, max(t1, phones[-1].end))
    elif t1 > t0:
        phones.append(Phone(SILENCE, t0, t1))


# --- DTW ---------------------------------------------------------------------------------------
def _mel_filterbank(n_mels: int, n_fft: int, sample_rate: int) -> np.ndarray:
    """(n_mels, n_fft//2+1) triangular filters on the HTK mel scale, 0 Hz to Nyquist."""
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    mels = np.linspace(0.0, hz_to_mel(sample_rate / 2), n_mels + 2)
    hz = 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)  # (K,)
    lo, mid, hi = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    up = (bins[None, :] - lo) / (mid - lo)
    down = (hi - bins[None, :]) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down))


_MEL = _mel_filterbank(_N_MELS, _N_FFT, SAMPLE_RATE)


def mfcc(audio: np.ndarray) -> np.ndarray:
    """(S,) at SAMPLE_RATE -> (N, _N_CEPS-1) MFCCs c1..c12, mean/variance normalised.

    Frame i is centred on sample i * HOP_LENGTH (100 frames/s).
    """
    half = _WIN // 2
    padded = np.pad(audio.astype(np.float32), (half, half + _WIN))
    n = len(audio) // HOP_LENGTH + 1
    idx = np.arange(n)[:, None] * HOP_LENGTH + np.arange(_WIN)[None, :]  # (N, WIN)
    frames = padded[idx] * np.hanning(_WIN).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, _N_FFT, axis=1)) ** 2  # (N, K)
    mel = power @ _MEL.T  # (N, MELS)
    # A noise floor 45 dB under the loudest frame: espeak's digital silence and a recording's
    # room noise then look alike, instead of log(0) against log(noise).
    logmel = np.log(mel + mel.sum(1).max() * 10 ** (-_FLOOR_DB / 10) / _N_MELS + 1e-10)
    ceps = scipy.fft.dct(logmel, type=2, norm="ortho", axis=1)[:, 1:_N_CEPS]  # (N, 12)
    # No deltas: tried on ARCTIC a0009, they made the warp jump into espeak's comma pause.
    return (ceps - ceps.mean(0)) / (ceps.std(0) + 1e-8)


def dtw_path(cost: np.ndarray, max_jump: int = 3, stall_penalty: float = 0.5) -> np.ndarray:
    """Monotone alignment of every real frame to a synthetic frame.

    cost: (N, M) local distances -> (N,) synthetic frame index of each real frame, non-decreasing,
    from ~0 to M-1. Each step from one real frame to the next moves 0..max_jump synthetic frames:
    a slope constraint that lets the real speech be up to max_jump times faster and arbitrarily
    slower (pauses), and lets each row be computed from the previous one in a vectorised step.
    Every path has exactly N cells, so no normalisation is needed; moving 0 or >1 frames costs
    ``stall_penalty`` times the mean local cost, which prefers the diagonal when it is a tie.
    """
    n, m = cost.shape
    pen = stall_penalty * float(cost.mean())
    inf = np.float64(np.inf)
    acc = np.full(m, inf)
    acc[: max_jump + 1] = cost[0, : max_jump + 1]  # start within the first few synthetic frames
    back = np.zeros((n, m), dtype=np.int8)  # the jump taken to reach (i, j)
    for i in range(1, n):
        best = acc + pen  # jump 0
        arg = np.zeros(m, dtype=np.int8)
        for d in range(1, max_jump + 1):
            cand = np.full(m, inf)
            cand[d:] = acc[:-d] + (0.0 if d == 1 else pen)
            better = cand < best
            best = np.where(better, cand, best)
            arg[better] = d
        acc = best + cost[i]
        back[i] = arg
    path = np.empty(n, dtype=np.int64)
    j = m - 1 if np.isfinite(acc[m - 1]) else int(np.argmin(acc))
    for i in range(n - 1, -1, -1):
        path[i] = j
        j -= int(back[i, j])
    return path


def _align_dtw(audio: np.ndarray, text: str, voice: str) -> Timing:
    duration = len(audio) / SAMPLE_RATE
    raw = espeak.synth(text, voice, 175, 50, 50)
    synth_s = len(raw.audio) / raw.sample_rate
    # Match espeak's speaking rate to the speaker's, so the slope constraint has room both ways.
    rate = int(np.clip(round(175 * synth_s / max(duration, 1e-3)), espeak.RATE_RANGE[0], espeak.RATE_RANGE[1]))
    if abs(rate - 175) > 20:
        raw = espeak.synth(text, voice, rate, 50, 50)
    synthetic = timing_from_events(raw, text, language_of(voice)).timing
    syn_audio = soxr.resample(raw.audio.astype(np.float32) / 32768.0, raw.sample_rate, SAMPLE_RATE)
    # espeak starts speaking at once; pad both ends with silence so the recording's leading and
    # trailing silence has synthetic silence to map to.
    pad = np.zeros(int(_EDGE_SILENCE_S * SAMPLE_RATE), np.float32)
    syn_audio = np.concatenate([pad, syn_audio, pad])
    synthetic = synthetic.shifted(_EDGE_SILENCE_S)
    lead = [Phone(SILENCE, 0.0, _EDGE_SILENCE_S)] if synthetic.phones and synthetic.phones[0].symbol != SILENCE else []
    synthetic.phones = lead + synthetic.phones
    a, b = mfcc(audio), mfcc(syn_audio)  # (N, F), (M, F)
    # Squared Euclidean distance through one matrix product: |a|^2 + |b|^2 - 2 a.b
    cost = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * (a @ b.T)  # (N, M)
    path = dtw_path(np.maximum(cost, 0.0))

    def warp(t: float) -> float:
        """Synthetic time -> real time: the first real frame mapped at or after it."""
        frame = int(round(t * FEATURE_RATE))
        return min(float(np.searchsorted(path, frame, side="left")) / FEATURE_RATE, duration)

    phones = []
    for p in synthetic.phones:
        phones.append((p, warp(p.start)))
    out: list[Phone] = []
    for k, (p, t0) in enumerate(phones):
        t1 = phones[k + 1][1] if k + 1 < len(phones) else duration
        out.append(Phone(p.symbol, t0, max(t0, t1), p.stress, p.word))
    if out:
        out[0] = Phone(out[0].symbol, 0.0, out[0].end, out[0].stress, out[0].word)
    words = []
    for i, w in enumerate(synthetic.words):
        ps = [p for p in out if p.word == i]
        words.append(Word(w.text, ps[0].start, ps[-1].end) if ps else Word(w.text, warp(w.start), warp(w.end)))
    return Timing(out, words, synthetic.language)
