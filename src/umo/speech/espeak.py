"""A minimal ctypes binding of libespeak-ng (the copy bundled by ``espeakng-loader``).

Only what umo needs: synchronous synthesis into memory with word and phoneme events, voice
selection and listing, and text-to-phoneme conversion. espeak-ng keeps its state in globals, so
every call into the library goes through one process-wide lock, and the library is initialised
once, lazily, on first use.

The struct layouts and constants follow ``espeak-ng/speak_lib.h`` (API revision 12).
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from umo.errors import UmoError

# --- constants from speak_lib.h -----------------------------------------------------------------
AUDIO_OUTPUT_SYNCHRONOUS = 2  # synthesise into the callback, return when done
INITIALIZE_PHONEME_EVENTS = 0x0001  # emit espeakEVENT_PHONEME (mnemonics in ASCII)
INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of calling exit() on failure
CHARS_AUTO = 0  # input encoding: UTF-8 if valid, else 8-bit
POS_CHARACTER = 1

EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
EVENT_SENTENCE = 2
EVENT_END = 5
EVENT_MSG_TERMINATED = 6
EVENT_PHONEME = 7
EVENT_SAMPLERATE = 8

PARAM_RATE = 1  # words per minute, 80..450
PARAM_VOLUME = 2
PARAM_PITCH = 3  # base pitch, 0..100
PARAM_RANGE = 4  # pitch range, 0..100 (0 = monotone)

EE_OK = 0

# Parameter ranges accepted by espeak-ng (outside them it clamps silently, which we refuse).
RATE_RANGE = (80, 450)
PITCH_RANGE = (0, 100)


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character position in the input
        ("length", ctypes.c_int),  # characters, for word events
        ("audio_position", ctypes.c_int),  # ms from the start of the synthesis
        ("sample", ctypes.c_int),  # the same instant in samples (exact)
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-terminated string)*, then a NUL
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class VoiceInfo:
    name: str  # human name, e.g. "English_(America)"
    identifier: str  # file under espeak-ng-data/voices, e.g. "gmw/en-US"
    language: str  # first language code, e.g. "en-us"; pass this as ``voice``
    languages: tuple[str, ...]  # every language code the voice declares


@dataclass(frozen=True)
class RawEvent:
    """One espeak event: ``kind`` is "word" or "phoneme"."""

    kind: str
    sample: int  # position in the synthesised audio, samples at the engine's rate
    text_position: int  # 0-based character offset into the input (word events)
    length: int  # characters (word events)
    phoneme: str  # espeak mnemonic (phoneme events)


@dataclass
class RawSynthesis:
    audio: np.ndarray  # (S,) int16 at sample_rate
    sample_rate: int
    events: list[RawEvent]


_LOCK = threading.RLock()
_LIB: ctypes.CDLL | None = None
_RATE: int = 0
_STATE: dict = {}  # the callback's buffers for the synthesis in progress (guarded by _LOCK)


@_CALLBACK
def _on_synth(wav, numsamples, events):
    if numsamples > 0 and wav:
        _STATE["chunks"].append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
    i = 0
    while events[i].type != EVENT_LIST_TERMINATED:
        ev = events[i]
        if ev.type == EVENT_WORD:
            _STATE["events"].append(RawEvent("word", ev.sample, ev.text_position - 1, ev.length, ""))
        elif ev.type == EVENT_PHONEME:
            name = ev.id.string.decode("ascii", "replace")
            _STATE["events"].append(RawEvent("phoneme", ev.sample, ev.text_position - 1, 0, name))
        i += 1
    return 0  # 0: continue synthesis


def _lib() -> ctypes.CDLL:
    """Load and initialise libespeak-ng once (call with _LOCK held)."""
    global _LIB, _RATE
    if _LIB is not None:
        return _LIB
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
        ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.argtypes = []
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p

    data = espeakng_loader.get_data_path().encode()
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data, INITIALIZE_PHONEME_EVENTS | INITIALIZE_DONT_EXIT)
    if rate <= 0:
        raise UmoError(f"could not initialise espeak-ng with data at {data.decode()}: reinstall espeakng-loader")
    lib.espeak_SetSynthCallback(_on_synth)
    _LIB, _RATE = lib, rate
    return lib


def _parse_languages(ptr: int | None) -> tuple[str, ...]:
    """Decode espeak_VOICE.languages: (priority byte, NUL-terminated name) repeated, ending in 0."""
    out: list[str] = []
    if not ptr:
        return ()
    offset = 0
    while ctypes.string_at(ptr + offset, 1) != b"\x00":
        name = ctypes.string_at(ptr + offset + 1)
        out.append(name.decode("utf-8", "replace"))
        offset += len(name) + 2
    return tuple(out)


_VOICES: list[VoiceInfo] | None = None


def list_voices() -> list[VoiceInfo]:
    """Every voice in the bundled espeak-ng data, sorted by language code."""
    global _VOICES
    if _VOICES is not None:  # no lock once listed: a synthesis holding it never delays a voice check
        return list(_VOICES)
    with _LOCK:
        if _VOICES is None:
            arr = _lib().espeak_ListVoices(None)
            voices = []
            i = 0
            while arr[i]:
                v = arr[i].contents
                langs = _parse_languages(v.languages)
                voices.append(
                    VoiceInfo(
                        name=(v.name or b"").decode("utf-8", "replace"),
                        identifier=(v.identifier or b"").decode("utf-8", "replace"),
                        language=langs[0] if langs else "",
                        languages=langs,
                    )
                )
                i += 1
            _VOICES = sorted(voices, key=lambda v: v.language)
        return list(_VOICES)


def _check_range(what: str, value: int, lo: int, hi: int) -> None:
    if not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise UmoError(f"{what} must be an integer in [{lo}, {hi}], got {value!r}")


# Common names that are not espeak language codes.
_ALIASES = {"zh": "cmn", "zh-cn": "cmn", "mandarin": "cmn"}


def canonical_voice(voice: str) -> str:
    """Voice aliases -> espeak names ("zh" -> "cmn"), keeping a "+variant" suffix."""
    if not isinstance(voice, str) or not voice.strip():
        raise UmoError("voice is empty: give a language code such as en-us, es, de or cmn")
    base, _, variant = voice.strip().partition("+")
    base = _ALIASES.get(base.lower(), base)
    return f"{base}+{variant}" if variant else base


def voices_for_language(language: str) -> list[VoiceInfo]:
    """Voices that speak ``language`` (a code or its start, aliases included: "zh" finds cmn, "en"
    every English), by any language code they declare; UmoError if none does."""
    key = canonical_voice(language).partition("+")[0].lower()
    found = [v for v in list_voices() if any(lang.lower().startswith(key) for lang in v.languages)]
    if not found:
        raise UmoError(f"no voice speaks {language!r}: `umo voices` lists every language code")
    return found


def voice_variants() -> tuple[str, ...]:
    """The variant names a voice may take after "+" (espeak-ng-data/voices/!v), e.g. f3, m2, klatt."""
    import espeakng_loader

    folder = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    return tuple(sorted(p.name for p in folder.iterdir() if p.is_file())) if folder.is_dir() else ()


def find_voice(voice: str) -> VoiceInfo:
    """The installed voice a language code or name selects ("en-us", "en-gb", "cmn", "zh", "German");
    UmoError naming close matches for anything else. espeak itself falls back to a default voice for
    an unknown name, so a typo would silently speak in the wrong language: umo checks first."""
    import difflib

    base, _, variant = canonical_voice(voice).partition("+")
    key = base.lower()
    voices = list_voices()
    # best first: the voice's own language, then its name or file, then a language it also declares
    ranked = [(0 if v.language.lower() == key else 1 if key in (v.name.lower(), v.identifier.lower(),
               v.identifier.rsplit("/", 1)[-1].lower()) else 2 if key in (x.lower() for x in v.languages) else 3, v)
              for v in voices]
    rank, v = min(ranked, key=lambda rv: rv[0]) if ranked else (3, None)
    if rank == 3:
        codes = sorted({lang.lower() for v in voices for lang in v.languages})
        close = difflib.get_close_matches(key, codes, n=4, cutoff=0.6)
        raise UmoError(
            f"unknown voice {voice!r}" + (f" (did you mean {', '.join(close)}?)" if close else "")
            + ": use a language code such as en-us, en-gb, es, de, fr, cmn; `umo voices` lists them all"
        )
    if variant:
        variants = voice_variants()
        if variants and variant not in variants:
            close = difflib.get_close_matches(variant, variants, n=4, cutoff=0.5)
            raise UmoError(
                f"unknown voice variant {variant!r} in {voice!r}"
                + (f" (did you mean {', '.join(close)}?)" if close else "")
                + f": variants are {', '.join(variants[:40])}, ..."
            )
    return v


def set_voice(voice: str) -> None:
    """Select a voice by language code or name, with an optional variant: "en-us", "en-us+f3".

    Call with _LOCK held (synth() does).
    """
    lib = _lib()
    voice = canonical_voice(voice)
    info = find_voice(voice)  # refuses what espeak would silently replace by its default voice
    if lib.espeak_SetVoiceByName(voice.encode("utf-8")) == EE_OK:
        return
    # Some language codes are not voice names ("en-gb" is the voice file gmw/en): select the file
    # of the voice that declares the language, keeping the variant.
    _, _, variant = voice.partition("+")
    if lib.espeak_SetVoiceByName((info.identifier + (f"+{variant}" if variant else "")).encode("utf-8")) != EE_OK:
        raise UmoError(f"espeak-ng could not select voice {voice!r} ({info.identifier}): reinstall espeakng-loader")


def synth(text: str, voice: str, rate: int, pitch: int, pitch_range: int) -> RawSynthesis:
    """Synthesise ``text`` with word and phoneme events; audio at the engine's own rate."""
    _check_range("rate (words per minute)", rate, *RATE_RANGE)
    _check_range("pitch", pitch, *PITCH_RANGE)
    _check_range("pitch_range", pitch_range, *PITCH_RANGE)
    with _LOCK:
        lib = _lib()
        set_voice(voice)
        # SetVoiceByName resets parameters to the voice's defaults, so set them after it.
        lib.espeak_SetParameter(PARAM_RATE, int(rate), 0)
        lib.espeak_SetParameter(PARAM_PITCH, int(pitch), 0)
        lib.espeak_SetParameter(PARAM_RANGE, int(pitch_range), 0)
        _STATE["chunks"], _STATE["events"] = [], []
        data = text.encode("utf-8")
        buf = ctypes.create_string_buffer(data)
        err = lib.espeak_Synth(buf, len(data) + 1, 0, POS_CHARACTER, 0, CHARS_AUTO, None, None)
        lib.espeak_Synchronize()
        chunks, events = _STATE.pop("chunks"), _STATE.pop("events")
        if err != EE_OK:
            raise UmoError(f"espeak-ng failed to synthesise {text[:40]!r} (error {err})")
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    # Word text positions are character offsets; convert from the encoded bytes if they differ.
    return RawSynthesis(audio.astype(np.int16), _RATE, events)


def text_to_phonemes(text: str, voice: str) -> list[str]:
    """espeak's phoneme string (ASCII mnemonics with stress marks) per clause of ``text``.

    Words are separated by spaces within a clause; no audio is produced.
    """
    with _LOCK:
        lib = _lib()
        set_voice(voice)
        buf = ctypes.create_string_buffer(text.encode("utf-8"))
        ptr = ctypes.c_void_p(ctypes.addressof(buf))
        clauses = []
        # espeak_TextToPhonemes handles one clause per call and advances the pointer (NULL at end).
        # phonememode 0: ASCII mnemonics, no separator between phonemes of a word.
        while ptr.value:
            out = lib.espeak_TextToPhonemes(ctypes.byref(ptr), CHARS_AUTO, 0)
            if out:
                clauses.append(out.decode("utf-8", "replace"))
        return clauses
