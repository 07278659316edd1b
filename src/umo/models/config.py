"""ModelConfig: every size and switch of the speech -> face + gesture model, plus named presets.

    cfg = get_config("default")              # a preset
    cfg = get_config("my_model.json")        # a JSON file of field overrides (optionally "preset": name)
    cfg = get_config("tiny", keyframe_stride=4)

Presets: "tiny" (tests, < 0.3 M parameters) and "default" (the bundled model: < 20 MB of float32
weights, a few ms of one CPU thread per 33 ms frame). ``register`` adds more.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from umo.errors import UmoError


def config_from_dict(cls, d: dict[str, Any], what: str):
    """A config dataclass from a dict (a JSON file, a checkpoint's metadata); a field the class does
    not know is an UmoError naming the known ones, not a TypeError."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise UmoError(f"unknown {what} config field(s) {unknown}; known: {sorted(names)}")
    return cls(**d)


@dataclass
class ModelConfig:
    name: str = "default"  # preset this config came from (informational)
    # --- audio front end (features.py) ---
    n_mels: int = 80  # log-mel bins of the 25 ms / 10 ms (100 Hz) causal front end
    audio_dim: int = 128  # width of the causal conv audio encoder
    audio_dilations: tuple[int, ...] = (1, 2, 4, 8, 16)  # receptive field 1 + 2 * 31 = 63 feature frames (0.63 s)
    lookahead_frames: int = 2  # motion frames of future audio every output may see (0, 2 or 4: 0/67/133 ms)
    # --- pretrained speech features through a causal student (student.py); 0 components: none ---
    student_dim: int = 0  # PCA components of the teacher layer the student predicts (fed beside the log-mel)
    student_channels: int = 192  # width of the student's causal conv stack
    student_dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)  # receptive field 1 + 2 * 63 feature frames (1.27 s)
    student_delay: int = 6  # feature frames of future audio the student sees of what it describes (60 ms)
    teacher: str = ""  # the encoder layer it was distilled from, "MODEL:LAYER", e.g. "tiny.en:2"
    teacher_dim: int = 0  # that layer's width
    # --- motion tokenizer (tokenizer.py) ---
    keyframe_stride: int = 2  # motion frames per keyframe token (1, 2 or 4); the interpolator fills the rest
    fsq_levels: tuple[int, ...] = (8, 5, 5, 5)  # FSQ levels per latent dimension: a 1000-entry codebook per region
    tok_dim: int = 64  # width of each region's causal conv encoder
    tok_dilations: tuple[int, ...] = (1, 2, 4)  # encoder receptive field in motion frames: 1 + 2 * 7 = 15
    # --- unified transformer (backbone.py) ---
    d_model: int = 192  # token width
    n_layers: int = 4  # transformer blocks
    n_heads: int = 4  # attention heads (d_model must divide)
    window_steps: int = 32  # keyframe steps a token attends to (sliding window = bounded KV cache): 2.1 s at stride 2
    # --- mixture of experts (moe.py) ---
    moe_experts: int = 6  # experts per MoE layer
    moe_top_k: int = 2  # experts each token is sent to
    expert_hidden: int = 256  # hidden width of one expert MLP
    dense_ffn: bool = False  # ablation: a dense MLP of hidden moe_top_k * expert_hidden (the same active compute)
    moe_type_bias: bool = True  # learned router bias per token type (audio, text, face, body, hands)
    moe_aux_weight: float = 0.01  # Switch/GShard load-balancing loss coefficient (1.0 x this when balanced)
    # --- text (phone) tokens ---
    text_dim: int = 32  # phone embedding width
    text_dropout: float = 0.5  # training: probability that a sequence's phones are all replaced by "unknown"
    # --- interpolation network (interpolate.py) ---
    interp_dim: int = 128  # width of the dense decoder
    interp_dilations: tuple[int, ...] = (1, 2, 4, 8)  # its causal receptive field in motion frames: 31
    interp_audio_dropout: float = 0.1  # training: probability of hiding the dense audio from the decoder (per sequence)
    # --- mouth head (mouth.py): jaw + mouth from the dense audio, not through the keyframe codes; 0: none ---
    mouth_dim: int = 0
    mouth_dilations: tuple[int, ...] = (1, 2, 4, 8)  # causal receptive field 31 motion frames (1 s)
    # feature frames before each frame's lookahead read where the head also reads the log-mel + prosody,
    # e.g. (0, 4, 8, 12, 16): the 160 ms up to the lookahead; empty: the encoder frames only
    mouth_mel_taps: tuple[int, ...] = ()
    # --- sampling ---
    temperature: float = 0.7  # keyframe code sampling temperature (0 = argmax)
    # --- losses ---
    quant_weight: float = 0.1  # FSQ rounding-error (commitment-like) loss weight; FSQ itself needs none
    infonce_dim: int = 64  # shared space of the stage-2 audio/motion contrastive loss
    infonce_temperature: float = 0.07  # its softmax temperature
    soft_recon_weight: float = 1.0  # stage 3: weight of the dense loss decoded from the *predicted* keyframes
    drawn_recon_weight: float = 1.0  # stage 3: ... decoded from keyframes *drawn* as inference draws them
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes carried with checkpoints

    def __post_init__(self) -> None:
        for f in ("audio_dilations", "fsq_levels", "tok_dilations", "interp_dilations", "student_dilations",
                  "mouth_dilations", "mouth_mel_taps"):
            setattr(self, f, tuple(int(v) for v in getattr(self, f)))
        if self.lookahead_frames < 0:
            raise UmoError(f"lookahead_frames must be >= 0 (got {self.lookahead_frames}); 0, 2 or 4 are usual")
        if self.keyframe_stride < 1:
            raise UmoError(f"keyframe_stride must be >= 1 (got {self.keyframe_stride}); 1, 2 or 4 are usual")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise UmoError(f"d_model {self.d_model} must split into {self.n_heads} heads of an even width (RoPE)")
        if not 1 <= self.moe_top_k <= self.moe_experts:
            raise UmoError(f"moe_top_k must be in 1..moe_experts={self.moe_experts} (got {self.moe_top_k})")
        if any(level < 2 for level in self.fsq_levels) or not self.fsq_levels:
            raise UmoError(f"fsq_levels {self.fsq_levels}: every level must be >= 2")
        if any(tap < 0 for tap in self.mouth_mel_taps):
            raise UmoError(f"mouth_mel_taps {self.mouth_mel_taps}: taps count feature frames back, >= 0")
        if self.window_steps < 1:
            raise UmoError("window_steps must be >= 1")
        if self.student_dim < 0 or (self.student_dim and (self.teacher_dim < self.student_dim or not self.teacher)):
            raise UmoError(f"student_dim {self.student_dim}: a student needs teacher (MODEL:LAYER) and "
                           f"teacher_dim >= student_dim (got {self.teacher!r}, {self.teacher_dim})")

    @property
    def codebook_size(self) -> int:
        n = 1
        for level in self.fsq_levels:
            n *= level
        return n

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        return config_from_dict(cls, d, "model")


PRESETS: dict[str, Callable[[], ModelConfig]] = {}


def register(name: str) -> Callable[[Callable[[], ModelConfig]], Callable[[], ModelConfig]]:
    """Decorator: add a preset factory under ``name``."""

    def deco(fn: Callable[[], ModelConfig]) -> Callable[[], ModelConfig]:
        PRESETS[name] = fn
        return fn

    return deco


@register("default")
def default() -> ModelConfig:
    return ModelConfig(name="default")


@register("tiny")
def tiny() -> ModelConfig:
    return ModelConfig(
        name="tiny", audio_dim=32, audio_dilations=(1, 2, 4), fsq_levels=(5, 5, 3), tok_dim=24,
        tok_dilations=(1, 2), d_model=48, n_layers=2, n_heads=2, window_steps=8, moe_experts=4,
        moe_top_k=2, expert_hidden=48, text_dim=16, interp_dim=48, interp_dilations=(1, 2, 4),
        infonce_dim=16,
    )


def get_config(name_or_path: str | Path = "default", **overrides: Any) -> ModelConfig:
    """A preset by name, or a JSON file of fields (``"preset"`` picks the base), then ``overrides``."""
    key = str(name_or_path)
    if key in PRESETS:
        cfg = PRESETS[key]()
    elif key.endswith(".json") or Path(key).is_file():
        path = Path(key)
        if not path.is_file():
            raise UmoError(f"model config file {path} does not exist")
        d = json.loads(path.read_text())
        base = d.pop("preset", "default")
        if base not in PRESETS:
            raise UmoError(f"{path}: unknown preset {base!r}; known: {sorted(PRESETS)}")
        merged = PRESETS[base]().to_dict() | d
        cfg = ModelConfig.from_dict(merged)
    else:
        raise UmoError(f"unknown model preset {key!r}: choose one of {sorted(PRESETS)} or give a .json file")
    if overrides:
        cfg = ModelConfig.from_dict(cfg.to_dict() | overrides)
    return cfg
