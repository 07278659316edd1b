"""The keyframe step in ONNX: export, and an onnxruntime twin of :class:`KeyframeStepper`.

The keyframe step (one backbone pass over a wave of 5-token steps, the keyframe head, the code draw)
is nearly all of the model's compute per frame, and at one stream it is small matrices behind many
PyTorch calls: the call overhead costs more than the arithmetic. :class:`KeyframeCore` writes the
step as one pure function of tensors, which ``torch.onnx.export`` turns into a graph;
:class:`OnnxKeyframeStepper` runs that graph in onnxruntime behind the same interface as
``KeyframeStepper`` (``new_key``, ``release``, ``keyframe_step``), so ``Stepper`` (offline, live,
the server's batch) takes either. The audio front (features, encoder) and the interpolator stay in
PyTorch: they are a few percent of the time.

What stays outside the graph, on purpose:
- the uniforms of the code draw (``draw_uniforms``: a generator seeded per (seed, keyframe)), and
- the RoPE angles, computed in float64 as ``rope_rotation`` does (a position of a long clip times an
  inverse frequency loses 0.03 rad in float32), passed in as cos/sin.

Difference from the PyTorch step: attention reads the ring as it was before this step (the entries
this step overwrites masked out) and the step's own 5 keys beside it, instead of writing first and
reading the ring in place; the same keys, the same softmax up to float rounding. The caller writes
the step's keys into the ring afterwards.

Dimension letters: B streams in the wave, L layers, H heads, K ring tokens (window_steps * 5), c head
width, d model width, R regions, q code dims per region, C codebook size, E experts, h expert hidden.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from umo.constants import REGION_DIMS
from umo.errors import UmoError
from umo.models.backbone import TOKENS_PER_STEP
from umo.models.keyframes import draw_uniforms
from umo.models.moe import MoE
from umo.models.stepper import KeyframeStepper

REGIONS = tuple(REGION_DIMS)
N = TOKENS_PER_STEP
INPUTS = ("audio", "text", "code_vec", "first", "cos", "sin", "ring_bias", "u")  # then k0..k{L-1}, v0..v{L-1}
OUTPUTS = ("vecs", "k_new", "v_new")
OPSET = 18
# streams in a wave up to which the graph runs it; larger waves go to PyTorch's sparse MoE (one wave, one
# thread: 12 streams 21 vs 31 ms, 16: 27 vs 36, 24: 41 vs 42)
ONNX_MAX_WAVE = 20
FORMAT = "umo-keyframe-step"  # the graph's metadata: what it is, and which weights it was made from
FORMAT_VERSION = 2  # 2: RoPE factors (B, 5, d) and rearranged weights


class KeyframeCore(nn.Module):
    """One keyframe step as a pure function (for export):

    audio (B, a), text (B, 2 t), code_vec (B, R q) the previous keyframe's codes, first (B,) 1.0 where
    this is the stream's first keyframe (it reads BOS), cos/sin (B, 5, d) the RoPE factors of the
    step's 5 positions (``rope_factors``), ring_bias (B, K) 0 where a ring entry may be read and -inf
    where not, u (B, R) uniforms of the draw, k_caches/v_caches per layer (B, H, K, c) the rings before
    this step (read in place: scores against the ring and against the step's own keys are computed
    apart and share one softmax, so no ring is copied)
    -> vecs (B, R q) the drawn codes as vectors, k_new/v_new (B, L, H, 5, c) the step's keys and values.

    The weights are rearranged once so that the graph has few nodes (at one stream the per-node cost
    rivals the arithmetic): every RMSNorm gain folded into the matrix that reads it, the query scale
    and the sampling temperature into theirs, the token-type embeddings into the token biases, and RoPE
    as x * cos + x_swapped * sin with the pair-swapped projection computed by the same matmul as q, k, v
    (``_swap_pairs``). The same function as ``KeyframeStepper.keyframe_step`` up to float rounding.
    """

    def __init__(self, model) -> None:
        super().__init__()
        m = model
        cfg = m.cfg
        bb = m.backbone
        d = cfg.d_model
        self.d, self.heads = d, bb.blocks[0].attn.n_heads
        self.c = d // self.heads
        self.eps = bb.norm.eps
        self.temperature = float(cfg.temperature)
        r = len(REGIONS)
        fsq = m.tokenizer.fsq
        t = 1.0 / self.temperature if self.temperature > 0 else 1.0
        with torch.no_grad():
            te = m.type_emb.detach()  # (5, d)
            self.register_buffer("basis", fsq.basis.clone().long())
            self.register_buffer("levels", fsq.levels.clone().long())
            self.register_buffer("half_width", fsq.half_width.clone().float())
            self.register_buffer("audio_w", m.audio_tok.weight.t().contiguous())  # (a, d)
            self.register_buffer("audio_b", m.audio_tok.bias + te[0])
            self.register_buffer("text_w", m.text_tok.weight.t().contiguous())  # (2 t, d)
            self.register_buffer("text_b", m.text_tok.bias + te[1])
            self.register_buffer("code_w", torch.block_diag(*[m.code_tok[g].weight for g in REGIONS]).t().contiguous())
            self.register_buffer("code_b", (torch.cat([m.code_tok[g].bias for g in REGIONS]).view(r, d) + te[2:]))
            self.register_buffer("bos", m.bos.detach() + te[2:])  # (R, d)
            self.register_buffer("step_bias", torch.zeros(N, N).masked_fill_(
                ~torch.ones(N, N, dtype=torch.bool).tril(), float("-inf")))
            self.layers = []
            for li, blk in enumerate(bb.blocks):
                w = blk.attn.qkv.weight.t() * blk.norm1.weight[:, None]  # (d, 3 d), the gain folded in
                wq, wk, wv = w[:, :d] * self.c ** -0.5, w[:, d:2 * d], w[:, 2 * d:]
                qkv = torch.cat([wq, wk, wv, _swap_pairs(wq), _swap_pairs(wk)], 1).contiguous()  # (d, 5 d)
                self.register_buffer(f"qkv{li}", qkv)
                self.register_buffer(f"proj{li}", blk.attn.proj.weight.t().contiguous())
                g2 = blk.norm2.weight[:, None]
                ffn = blk.ffn
                if isinstance(ffn, MoE):
                    w1, b1, w2 = ffn._packed()
                    tb = ffn.type_bias if ffn.type_bias is not None else torch.zeros(N, ffn.n_experts)
                    self.register_buffer(f"router{li}", (ffn.router.weight.t() * g2).contiguous())  # (d, E)
                    self.register_buffer(f"tbias{li}", tb.detach().clone())  # (5, E), per token position
                    self.register_buffer(f"w1_{li}", (w1 * g2).contiguous())  # (d, E h)
                    self.register_buffer(f"b1_{li}", b1.clone())
                    self.register_buffer(f"w2_{li}", w2.clone())  # (E h, d)
                    self.register_buffer(f"b2_{li}", ffn.b2.detach().clone())  # (E, d)
                    self.layers.append(("moe", ffn.n_experts, ffn.hidden, ffn.top_k))
                else:
                    self.register_buffer(f"w1_{li}", (ffn.fc1.weight.t() * g2).contiguous())
                    self.register_buffer(f"b1_{li}", ffn.fc1.bias.detach().clone())
                    self.register_buffer(f"w2_{li}", ffn.fc2.weight.t().contiguous())
                    self.register_buffer(f"b2_{li}", ffn.fc2.bias.detach().clone())
                    self.layers.append(("dense", 0, 0, 0))
            gf = bb.norm.weight[:, None]
            self.register_buffer("head_w", torch.stack([(m.head.heads[g].weight.t() * gf) * t for g in REGIONS]))  # (R, d, C)
            self.register_buffer("head_b", torch.stack([m.head.heads[g].bias * t for g in REGIONS])[:, None])  # (R, 1, C)

    def _norm(self, x: Tensor) -> Tensor:
        """RMSNorm without its gain (folded into the next matrix)."""
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + self.eps)

    def _ffn(self, li: int, x: Tensor, first: int) -> Tensor:
        """x (B, n, d) normalised, tokens first..4 of the step -> (B, n, d)."""
        kind, e, hid, k = self.layers[li]
        w1, b1, w2, b2 = (getattr(self, f"{n}{li}") for n in ("w1_", "b1_", "w2_", "b2_"))
        if kind == "dense":
            return F.gelu(x @ w1 + b1) @ w2 + b2
        b, n, _ = x.shape
        probs = torch.softmax(x @ getattr(self, f"router{li}") + getattr(self, f"tbias{li}")[first:], dim=-1)  # (B, n, E)
        top_p, top_i = probs.topk(k, dim=-1)
        g = torch.zeros_like(probs).scatter(-1, top_i, top_p / top_p.sum(-1, keepdim=True))  # (B, n, E), 0 = not routed
        h = F.gelu(x @ w1 + b1).view(b, n, e, hid) * g[..., None]  # every expert on every token, gated
        return h.view(b, n, e * hid) @ w2 + g @ b2

    def forward(self, audio: Tensor, text: Tensor, code_vec: Tensor, first: Tensor, cos: Tensor, sin: Tensor,
                ring_bias: Tensor, u: Tensor, k_caches: list[Tensor], v_caches: list[Tensor]
                ) -> tuple[Tensor, Tensor, Tensor]:
        b = audio.shape[0]
        d, hh, c = self.d, self.heads, self.c
        r = len(REGIONS)
        f = first.view(b, 1, 1)
        codes = (code_vec @ self.code_w).view(b, r, d) + self.code_b
        codes = codes * (1.0 - f) + self.bos * f  # BOS before a stream's first keyframe
        x = torch.cat([(audio @ self.audio_w + self.audio_b)[:, None], (text @ self.text_w + self.text_b)[:, None],
                       codes], 1)  # (B, 5, d), type embeddings included
        ring_bias = ring_bias[:, None, None]  # (B, 1, 1, K)
        keep = k_caches[0].shape[2]
        k_out, v_out = [], []
        last = len(self.layers) - 1
        for li in range(len(self.layers)):
            y = self._norm(x) @ getattr(self, f"qkv{li}")  # (B, 5, 5 d)
            q, k, v, qs, ks = y.split(d, dim=-1)
            q, k = q * cos + qs * sin, k * cos + ks * sin  # RoPE (q pre-scaled by c^-1/2)
            k = k.view(b, N, hh, c).transpose(1, 2)  # (B, H, 5, c)
            v = v.view(b, N, hh, c).transpose(1, 2)
            k_out.append(k)
            v_out.append(v)
            lo, sb = (2, self.step_bias[2:]) if li == last else (0, self.step_bias)  # the last layer: region tokens only
            if lo:
                x, q = x[:, lo:], q[:, lo:]
            nq = x.shape[1]
            q = q.view(b, nq, hh, c).transpose(1, 2)  # (B, H, nq, c)
            s = torch.cat([q @ k_caches[li].transpose(-1, -2) + ring_bias, q @ k.transpose(-1, -2) + sb], -1)
            p_ring, p_new = torch.softmax(s, dim=-1).split([keep, N], dim=-1)  # (B, H, nq, K), (B, H, nq, 5)
            att = p_ring @ v_caches[li] + p_new @ v  # (B, H, nq, c)
            x = x + att.transpose(1, 2).reshape(b, nq, d) @ getattr(self, f"proj{li}")
            x = x + self._ffn(li, self._norm(x), lo)
        logits = (self._norm(x)[:, :, None, :] @ self.head_w).squeeze(2) + self.head_b.squeeze(1)  # (B, R, C) / T
        cbs = logits.shape[-1]
        if self.temperature <= 0:
            drawn = logits.argmax(-1)
        else:  # sample_codes' inverse CDF: the first index whose cumulative mass exceeds u * total
            cdf = torch.softmax(logits, dim=-1).cumsum(-1)  # (B, R, C)
            drawn = (cdf <= u[..., None] * cdf[..., -1:]).sum(-1).clamp(max=cbs - 1)  # (B, R)
        digits = torch.div(drawn[..., None], self.basis, rounding_mode="floor") % self.levels  # (B, R, q)
        vecs = (digits.float() - self.half_width) / self.half_width
        return vecs.reshape(b, -1), torch.stack(k_out, 1), torch.stack(v_out, 1)


def _rows(pk: list[np.ndarray], pv: list[np.ndarray], slots: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every layer's rings (slots, H, K, c) of these slots (B,) -> ([k (B, H, K, c)] * L, [v] * L):
    views when the slots are consecutive and ascending, copies otherwise."""
    lo, n = int(slots[0]), len(slots)
    if n == 1 or np.array_equal(slots, np.arange(lo, lo + n)):
        return [t[lo:lo + n] for t in pk], [t[lo:lo + n] for t in pv]
    return [t[slots] for t in pk], [t[slots] for t in pv]


def graph_path_for(weights: str | Path) -> Path:
    """Where the keyframe graph of a weights file lives beside it: NAME.safetensors -> NAME.keyframes.onnx."""
    weights = Path(weights)
    return weights.with_name(weights.stem + ".keyframes.onnx")


def input_names(layers: int) -> list[str]:
    """The graph's inputs in order: ``INPUTS``, then each layer's key ring, then each layer's value ring."""
    return [*INPUTS, *(f"k{i}" for i in range(layers)), *(f"v{i}" for i in range(layers))]


def _swap_pairs(w: Tensor) -> Tensor:
    """Columns (2i, 2i + 1) of w (d_in, d_out) swapped: x @ _swap_pairs(w) is x @ w with each channel
    pair swapped, so that RoPE's (x_e cos - x_o sin, x_e sin + x_o cos) is x * cos + swapped * sin with
    sin's even entries negated (``rope_factors``)."""
    return w.reshape(w.shape[0], -1, 2).flip(-1).reshape(w.shape)


def rope_factors(pos: np.ndarray, c: int, heads: int) -> tuple[np.ndarray, np.ndarray]:
    """positions (B, 5) -> cos, sin (B, 5, heads c) float32: per channel pair (2i, 2i + 1) of each head
    the angle pos * 10000^(-2i/c) in float64 (as ``stepper.rope_rotation``), cos on both channels of the
    pair, sin negated on the first."""
    inv, sign = _rope_channels(c, heads)
    ang = pos.astype(np.float64)[..., None] * inv  # (B, 5, heads c)
    return np.cos(ang).astype(np.float32), (np.sin(ang) * sign).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _rope_channels(c: int, heads: int) -> tuple[np.ndarray, np.ndarray]:
    """Per channel of the heads c wide rows: its pair's inverse frequency, and -1 / +1 (first / second of the pair)."""
    inv = np.repeat(10000.0 ** (-np.arange(0, c, 2, dtype=np.float64) / c), 2)
    sign = np.tile([-1.0, 1.0], c // 2)
    return np.tile(inv, heads), np.tile(sign, heads)


# ------------------------------------------------------------------------------------ export
# what a graph holds: these weights, and these config fields baked in beside them (the other sizes follow
# from the weights' shapes; the rest of the config is not the graph's concern)
GRAPH_WEIGHTS = ("backbone.", "audio_tok.", "text_tok.", "code_tok.", "head.", "bos", "type_emb")
GRAPH_CONFIG = ("temperature", "window_steps", "n_heads", "moe_top_k", "fsq_levels")


def model_fingerprint(model) -> str:
    """sha256 over the weights the graph holds (``GRAPH_WEIGHTS``: a new mouth head or decoder does not
    make a graph stale) as float32 and the config fields it bakes in (``GRAPH_CONFIG``)."""
    cfg = {k: getattr(model.cfg, k) for k in GRAPH_CONFIG}
    h = hashlib.sha256(json.dumps(cfg, sort_keys=True, default=list).encode())
    for name, t in sorted(model.state_dict().items()):
        if name.startswith(GRAPH_WEIGHTS):
            h.update(name.encode())
            h.update(t.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def export_keyframes(model, path: str | Path) -> Path:
    """Write the model's keyframe step as an ONNX graph (``KeyframeCore``, the batch size dynamic),
    its weights stored as float16 where that is exact (the bundled weights are float16: all of them)
    and cast back to float32 once when onnxruntime loads it. Metadata: the format, the weights'
    fingerprint, the config. Needs the ``onnx`` and ``onnxscript`` packages (umo's dependencies)."""
    import onnx

    path = Path(path)
    cfg = model.cfg
    core = KeyframeCore(model).eval()
    layers, heads = len(model.backbone.blocks), model.backbone.blocks[0].attn.n_heads
    c, keep = cfg.d_model // heads, cfg.window_steps * N
    b = 2
    args = (torch.zeros(b, cfg.audio_dim), torch.zeros(b, 2 * cfg.text_dim),
            torch.zeros(b, len(REGIONS) * len(cfg.fsq_levels)), torch.zeros(b), torch.zeros(b, N, cfg.d_model),
            torch.zeros(b, N, cfg.d_model), torch.zeros(b, keep), torch.full((b, len(REGIONS)), 0.5),
            [torch.zeros(b, heads, keep, c) for _ in range(layers)], [torch.zeros(b, heads, keep, c) for _ in range(layers)])
    batch = torch.export.Dim("B", min=1, max=65536)
    dims = tuple({0: batch} for _ in INPUTS) + ([{0: batch}] * layers, [{0: batch}] * layers)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the exporter's notes on packages it does not need (torchvision) and its API
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prog = torch.onnx.export(core, args, dynamo=True, dynamic_shapes=dims,
                                     input_names=input_names(layers), output_names=list(OUTPUTS), opset_version=OPSET,
                                     verbose=False)
    except ImportError as e:
        raise UmoError(f"ONNX export needs the onnx and onnxscript packages ({e}): pip install onnx onnxscript") from None
    finally:
        quiet.setLevel(level)
    proto = _float16_initializers(prog.model_proto)
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "fingerprint": model_fingerprint(model),
            "config": json.dumps(dataclasses.asdict(cfg), default=list)}
    del proto.metadata_props[:]
    for k, v in meta.items():
        proto.metadata_props.add(key=k, value=str(v))
    tmp = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(tmp))
    tmp.replace(path)
    return path


def _float16_initializers(proto):
    """Large float32 initializers whose values float16 holds exactly -> float16 + a Cast node (half the
    file; onnxruntime folds the casts when it loads the graph)."""
    from onnx import TensorProto, helper, numpy_helper

    g = proto.graph
    casts = []
    for init in list(g.initializer):
        if init.data_type != TensorProto.FLOAT:
            continue
        w = numpy_helper.to_array(init)
        if w.size < 1024:
            continue
        h = w.astype(np.float16)
        if not np.array_equal(h.astype(np.float32), w):
            continue
        name = init.name
        half = numpy_helper.from_array(h, name + "__f16")
        g.initializer.remove(init)
        g.initializer.append(half)
        casts.append(helper.make_node("Cast", [name + "__f16"], [name], to=TensorProto.FLOAT, name=name + "__cast"))
    for node in reversed(casts):
        g.node.insert(0, node)
    return proto


# ------------------------------------------------------------------------------------ runtime
class KeyframeGraph:
    """A keyframe-step graph loaded in onnxruntime, shared by every stepper of one model (the live
    server's batch, the offline clip, each live stream): load once, step many.

    Checks on load that the graph is umo's keyframe step, of a version this umo reads, exported from
    the very weights of ``model`` (its fingerprint), unless ``check`` is False."""

    def __init__(self, path: str | Path, model=None, threads: int = 1, check: bool = True) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise UmoError("the ONNX engine needs onnxruntime (pip install onnxruntime), or use --engine torch") from None
        self.path = Path(path)
        if not self.path.is_file():
            raise UmoError(f"ONNX file not found: {self.path}")
        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, int(threads))
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own error types: a file it cannot read
            raise UmoError(f"{self.path} is not an ONNX model onnxruntime can load ({str(e).splitlines()[0]})") from None
        self.meta = dict(self.session.get_modelmeta().custom_metadata_map)
        if self.meta.get("format") != FORMAT:
            raise UmoError(f"{self.path} is an ONNX file but not umo's keyframe step (write one with "
                           "`umo export WEIGHTS --format onnx -o FILE.onnx`)")
        if int(self.meta.get("version", 0)) != FORMAT_VERSION:
            raise UmoError(f"{self.path} was exported by another umo version (graph version {self.meta.get('version')}, "
                           f"this umo reads {FORMAT_VERSION}): export it again (umo export WEIGHTS --format onnx -o FILE.onnx)")
        if check and model is not None and self.meta.get("fingerprint") != model_fingerprint(model):
            raise UmoError(f"{self.path} was exported from other weights than the model loaded: export it "
                           "again (umo export WEIGHTS --format onnx -o FILE.onnx) or use --engine torch")

    def run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, feed)


class OnnxKeyframeStepper:
    """:class:`umo.models.stepper.KeyframeStepper` with the step in onnxruntime: the same interface
    and state (``KeyState``), the same codes up to float rounding (the tests hold them equal)."""

    def __init__(self, model, graph: KeyframeGraph) -> None:
        self.graph = graph
        self.model = model
        # the PyTorch stepper on the same KV pool: it takes the waves of more than ONNX_MAX_WAVE streams,
        # where its sparse MoE (each token through its 2 experts) beats the graph's dense form; its state
        # (new_key, release), ring size and "unknown" text are this stepper's too
        self.torch = KeyframeStepper(model)
        self.pool, self.keep, self.text, self.code_dim = self.torch.pool, self.torch.keep, self.torch.text, self.torch.code_dim
        self.new_key, self.release = self.torch.new_key, self.torch.release
        self.ring = model.cfg.window_steps
        layers, heads = len(model.backbone.blocks), model.backbone.blocks[0].attn.n_heads
        self.heads, self.head_dim = heads, model.cfg.d_model // heads
        self.names = input_names(layers)
        self._arrays = None  # (the pool's first tensor, its numpy views): see _pool_arrays
        self._text_np = self.text.numpy()[None]

    def _pool_arrays(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The KV pool's per-layer tensors as numpy arrays on the same memory (renewed when the pool grew)."""
        if self._arrays is None or self._arrays[0] is not self.pool.k[0]:
            self._arrays = (self.pool.k[0], [t.numpy() for t in self.pool.k], [t.numpy() for t in self.pool.v])
        return self._arrays[1], self._arrays[2]

    def keyframe_step(self, rows: list[tuple]) -> Tensor:
        """rows: (key state, audio (a,), text (2 text_dim,) or None, keyframe index k) -> codes as
        vectors (B, R q); advances each row's ring and ``code_vec`` (as ``KeyframeStepper``)."""
        b = len(rows)
        if b > ONNX_MAX_WAVE:
            return self.torch.keyframe_step(rows)
        keys = [r[0] for r in rows]
        for key in keys:
            if key.slot is None:
                key.slot = self.pool.acquire()
        audio = torch.stack([r[1] for r in rows]).numpy()
        if all(r[2] is None for r in rows):
            text = np.repeat(self._text_np, b, axis=0)
        else:
            text = torch.stack([self.text if r[2] is None else r[2] for r in rows]).numpy()
        code = torch.stack([key.code_vec for key in keys]).numpy()
        steps = np.array([key.steps for key in keys])
        first = (steps == 0).astype(np.float32)
        pos = np.array([key.pos for key in keys])[:, None] + np.arange(N)  # (B, 5)
        cos, sin = rope_factors(pos, self.head_dim, self.heads)
        col = (steps % self.ring) * N  # where this step's keys go in each ring
        filled = np.minimum(steps, self.ring) * N  # ring entries written before this step
        ar = np.arange(self.keep)
        ok = (ar < filled[:, None]) & ~((ar >= col[:, None]) & (ar < col[:, None] + N))
        ring_bias = np.where(ok, np.float32(0.0), np.float32(-np.inf)).astype(np.float32)
        u = draw_uniforms([(key.seed, r[3]) for key, r in zip(keys, rows)], len(REGIONS)).numpy().astype(np.float32)
        slots = np.array([key.slot for key in keys])
        order = np.argsort(slots, kind="stable")  # the wave in slot order: consecutive slots are one view
        kc, vc = _rows(*self._pool_arrays(), slots[order])
        feed = dict(zip(INPUTS, (audio, text, code, first, cos, sin, ring_bias, u)))
        for name, arr in zip(self.names[len(INPUTS):], kc + vc):
            feed[name] = arr
        if not np.array_equal(order, np.arange(b)):
            for name in INPUTS:
                feed[name] = feed[name][order]
        vecs, k_new, v_new = self.graph.run(feed)  # rows in slot order
        pk, pv = self._pool_arrays()
        if b == 1:  # the step's keys and values into its stream's ring
            s0, c0 = int(slots[0]), int(col[0])
            for li in range(len(pk)):
                pk[li][s0, :, c0:c0 + N] = k_new[0, li]
                pv[li][s0, :, c0:c0 + N] = v_new[0, li]
        else:
            cols = col[order][:, None] + np.arange(N)  # (B, 5) ring entries of this step
            at = slots[order][:, None]
            for li in range(len(pk)):
                pk[li][at, :, cols] = k_new[:, li].transpose(0, 2, 1, 3)  # (B, 5, H, c)
                pv[li][at, :, cols] = v_new[:, li].transpose(0, 2, 1, 3)
        for key in keys:
            key.pos += N
            key.steps += 1
        vecs = vecs[np.argsort(order)]  # back to the rows' order
        out = torch.from_numpy(vecs)
        for key, vec in zip(keys, out):
            key.code_vec = vec
        return out
