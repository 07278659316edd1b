"""Many live streams, one model: the streaming step of ``UmoModel`` batched across sessions.

``umo.models.streaming.StreamingSession`` advances one stream (batch 1). A server with dozens of
sessions would pay PyTorch's per-call overhead once per session and per chunk; here every pending
session advances in the same forward passes:

    round(items):                       # items: (session, new samples, flush?) of every busy session
      prepare (BatchedStepper.prepare)
        features   one STFT over the sessions' right-padded sample buffers
        encoder    one causal-conv step over right-padded feature frames (per-session conv tails)
      keyframes (KeyframeStepper)
                   wave w = the w-th due keyframe of every session: one backbone step over a batch
                   of 5-token steps, each session's KV cache a ring in one pooled tensor, masked
                   where not yet filled, RoPE per session
      finish (BatchedStepper.finish)
        interp     one causal-conv step over right-padded motion frames

Padding never leaks into a result: the convs are causal, so right padding only adds outputs that are
dropped, and each session's new conv tail is cut from its own valid frames; unfilled ring entries
are masked out of attention. The numbers therefore equal ``StreamingSession`` (and so ``UmoModel.generate``)
up to float rounding, which the tests check on real speech.

State per session is bounded like ``StreamingSession``'s: a < 400-sample feature tail, conv tails,
a few encoder frames, a KV cache of the last ``window_steps - 1`` steps, and two code vectors.

:class:`Engine` runs rounds in one worker thread (PyTorch releases the GIL), so an asyncio server
stays responsive: callers ``submit`` audio, ``finish`` a stream, and get frames by callback.

Dimension letters: B sessions in a round, M new feature frames, N new motion frames, H heads,
L cached keys, c head width, d model width.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from umo.constants import HOP_LENGTH, MODEL_FPS, REGION_DIMS, SAMPLE_RATE
from umo.errors import UmoError
from umo.inference import Frames, frames_from_regions, frames_from_regions_many
from umo.models.backbone import TOKENS_PER_STEP
from umo.models.features import (
    WIN_LENGTH,
    feature_index,
    num_motion_frames,
    samples_needed,
)
from umo.models.keyframes import sample_codes
from umo.models.streaming import PhoneTrack, phone_features, phone_ids
from umo.models.layers import CausalConvStack

REGIONS = tuple(REGION_DIMS)
GATHER_S = 0.03  # default Engine.gather_s (umo serve --gather-ms)
MAX_GATHER_S = 0.5  # the longest gather_s a server accepts
LOAD_WINDOW_S = 5.0  # RoundStats.load: the model's busy share over this many seconds
LIVE_S = 0.25  # a stream that sent audio this recently is expected to send more soon (see Engine.wait_s)


def lookahead_seconds(cfg) -> float:
    """How far past a frame's time its audio must reach: the model's lookahead plus one feature hop."""
    return cfg.lookahead_frames / MODEL_FPS + HOP_LENGTH / SAMPLE_RATE


# ----------------------------------------------------------------------------------------- state
@dataclass
class KeyState:
    """One stream's keyframe state: the autoregressive half (the backbone's KV ring and the codes it
    feeds back), owned by :class:`KeyframeStepper`."""

    seed: int
    code_vec: Tensor  # (R q,) codes of its latest keyframe (zeros before the first, which reads BOS)
    slot: int | None = None  # its rows in the KVPool (taken at its first keyframe)
    steps: int = 0  # keyframe steps taken (the KV ring holds the last min(steps, W))
    pos: int = 0  # next token index (RoPE position)


@dataclass
class StreamState:
    """One stream's carried state: the batched twin of ``StreamingSession``'s fields. The audio front
    (features, encoder) and the motion back (interpolator) live here; ``key`` is the keyframe half."""

    feat_tail: Tensor  # (tail,) samples not yet framed (starts as the 240-sample left pad)
    enc_state: list[Tensor]  # per encoder conv: (pad, audio_dim)
    interp_state: list[Tensor]  # per interpolator conv: (pad, interp_dim)
    key: KeyState
    phones: PhoneTrack | None = None  # timed phones sent with the audio (None: none, the "unknown" text)
    n_samples: int = 0
    enc_frames: Tensor | None = None  # (f, audio_dim) encoder outputs not yet read
    enc_start: int = 0  # feature index of enc_frames[0]
    n_frames: int = 0  # motion frames made final (by prepare; their motion comes in finish)
    zq_cur_vec: Tensor | None = None  # (R q,) the latest keyframe's codes, as the interpolator pairs them
    zq_prev_vec: Tensor | None = None


@dataclass
class RoundPlan:
    """What ``BatchedStepper.prepare`` decided for a round: per stream, the motion frames that become
    final, the encoder frame each reads (a,), and which of them are keyframes (positions in frames).
    The keyframe stage answers with each stream's codes in that order; ``finish`` takes them."""

    frames: list[list[int]]
    audio: list[list[Tensor]]
    key_pos: list[list[int]]
    stride: int
    text: Tensor | None = None  # (sum n, 2 text_dim) every frame's text features, streams in order; None: all unknown

    @functools.cached_property
    def waves(self) -> list[list[tuple[int, Tensor, Tensor | None, int]]]:
        """Wave w: the w-th due keyframe of every stream that has one, as (stream index, audio (a,),
        text features (2 text_dim,) or None for "unknown", keyframe index k). A stream's keyframes
        depend on each other in order; streams do not."""
        n = max((len(k) for k in self.key_pos), default=0)
        first = np.cumsum([0] + [len(f) for f in self.frames])  # each stream's first row in text
        return [[(s, self.audio[s][kp[w]], None if self.text is None else self.text[first[s] + kp[w]],
                  self.frames[s][kp[w]] // self.stride)
                 for s, kp in enumerate(self.key_pos) if w < len(kp)] for w in range(n)]


class KVPool:
    """Every stream's KV cache in one preallocated tensor per layer, a ring of W steps per slot.

    k[layer]: (slots, H, W * 5, c), keys after RoPE, so their order in the ring does not matter to
    attention. A step first writes its 5 keys over the oldest step of its stream's ring (one indexed
    store per layer for the whole wave), then attends over the ring in place: the W - 1 steps before
    it and itself (causal within the step), exactly the model's attention window. A stream's ring
    fills in order, then wraps: its first min(steps, W) * 5 entries are valid. No per-stream
    concatenation, and no concatenation of the new step's keys to the cache either.

    Slots are taken and given back by the thread that runs the keyframe steps, so a slot never
    changes hands in the middle of a wave.
    """

    def __init__(self, n_layers: int, heads: int, keep: int, head_dim: int, slots: int = 8) -> None:
        self.shape = (heads, keep, head_dim)
        self.k = [torch.zeros(slots, *self.shape) for _ in range(n_layers)]
        self.v = [torch.zeros(slots, *self.shape) for _ in range(n_layers)]
        self.free = list(range(slots - 1, -1, -1))

    @property
    def slots(self) -> int:
        return self.k[0].shape[0]

    def acquire(self) -> int:
        if not self.free:  # grow: twice the slots (bounded by the server's session limit)
            n = self.slots
            self.k = [torch.cat([t, torch.zeros_like(t)]) for t in self.k]
            self.v = [torch.cat([t, torch.zeros_like(t)]) for t in self.v]
            self.free = list(range(2 * n - 1, n - 1, -1))
        return self.free.pop()

    def release(self, slot: int) -> None:
        self.free.append(slot)

    def in_use(self) -> int:
        return self.slots - len(self.free)


class KeyframeStepper:
    """The keyframe half of the batched step: one backbone step for a wave of streams (the batched
    ``UmoModel.keyframe_step``), their KV caches in a :class:`KVPool`. It needs nothing of a stream
    but its :class:`KeyState`, its encoder frame at the keyframe and the keyframe's index."""

    def __init__(self, model) -> None:
        self.model = model.eval()
        cfg = model.cfg
        self.keep = cfg.window_steps * TOKENS_PER_STEP  # ring tokens per stream: the W steps of a window
        self.code_dim = len(REGIONS) * len(cfg.fsq_levels)
        with torch.no_grad():
            self.text = model.text_frames(None, 1, 1, model.bos.device)[0, 0]  # "unknown" phones, (2 text_dim,)
            self.text_tok = model.text_tok(self.text)  # (d,), the same for every step without phones
            # the regions' code-token linears as one block-diagonal (R d, R q) matrix
            self.code_w = torch.block_diag(*[model.code_tok[r].weight for r in REGIONS])
            self.code_b = torch.cat([model.code_tok[r].bias for r in REGIONS])
        self.step_bias = torch.zeros(TOKENS_PER_STEP, TOKENS_PER_STEP).masked_fill_(
            ~torch.ones(TOKENS_PER_STEP, TOKENS_PER_STEP, dtype=torch.bool).tril(), float("-inf"))  # (5, 5) causal
        bb = model.backbone
        att = bb.blocks[0].attn
        self.pool = KVPool(len(bb.blocks), att.n_heads, self.keep, cfg.d_model // att.n_heads)

    def new_key(self, seed: int = 0) -> KeyState:
        return KeyState(seed=int(seed), code_vec=torch.zeros(self.code_dim))

    def release(self, key: KeyState) -> None:
        """The stream is over: its KV slot may serve another (between waves, in the waves' thread)."""
        if key.slot is not None:
            self.pool.release(key.slot)
            key.slot = None

    @torch.no_grad()
    def keyframe_step(self, rows: list[tuple[KeyState, Tensor, Tensor | None, int]]) -> Tensor:
        """rows: (key state, audio at the keyframe (a,), its text features (2 text_dim,) or None for
        "unknown" phones, keyframe index k) -> the rows' codes as vectors (B, R q), regions in
        ``REGIONS`` order; advances each row's KV cache and ``code_vec``."""
        m = self.model
        bb = m.backbone
        b = len(rows)
        d = m.cfg.d_model
        n = TOKENS_PER_STEP
        keys = [r[0] for r in rows]
        a_tok = m.audio_tok(torch.stack([r[1] for r in rows]))  # (B, d)
        # the three regions' previous-code tokens in one matmul (block-diagonal weight), BOS before the first step
        codes = F.linear(torch.stack([key.code_vec for key in keys]), self.code_w, self.code_b)
        codes = codes.view(b, len(REGIONS), d)
        if any(key.steps == 0 for key in keys):
            first = torch.tensor([key.steps == 0 for key in keys])
            codes = torch.where(first[:, None, None], m.bos, codes)
        if all(r[2] is None for r in rows):
            t_tok = self.text_tok.expand(b, d)
        else:  # timed phones on some rows: their own text tokens
            t_tok = m.text_tok(torch.stack([self.text if r[2] is None else r[2] for r in rows]))
        x = torch.cat([torch.stack([a_tok, t_tok], 1), codes], 1) + m.type_emb  # (B, 5, d)
        pos = torch.tensor([key.pos for key in keys])[:, None] + torch.arange(n)[None]  # (B, 5)
        keep, ring = self.keep, self.keep // n  # ring tokens, ring steps (W)
        for key in keys:
            if key.slot is None:
                key.slot = self.pool.acquire()
        slots = [key.slot for key in keys]
        lo, hi = min(slots), max(slots) + 1  # attention reads the pool's rows lo:hi in place
        span = hi - lo
        dense = slots == list(range(lo, hi))
        idx = torch.tensor(slots)  # (B,)
        at = idx - lo  # each row's place in the span
        steps = torch.tensor([key.steps for key in keys])  # (B,) steps before this one
        cols = ((steps % ring) * n)[:, None] + torch.arange(n)  # (B, 5) where this step's keys go
        filled = torch.minimum(steps + 1, torch.tensor(ring)) * n  # (B,) valid ring entries, this step's included
        # additive attention bias (B, 5, keep): 0 = may attend, -inf = not: the valid ring entries, and
        # within this step's own 5 keys only the ones at or before the query (causal)
        bias = torch.where(torch.arange(keep) < filled[:, None], 0.0, float("-inf"))[:, None].repeat(1, n, 1)
        bias.scatter_(2, cols[:, None].expand(b, n, n), self.step_bias.expand(b, n, n))
        if not dense:  # rows of the span that are not in this wave compute on zeros and are dropped
            bias = bias.new_zeros(span, n, keep).index_copy_(0, at, bias)
        bias = bias[:, None]  # (S, 1, 5, keep), broadcast over heads
        hh = bb.blocks[0].attn.n_heads
        c = d // hh
        types = m.token_types.repeat(b)  # (B 5,)
        rot = rope_rotation(pos, c)  # the same angles for every layer, queries and keys
        last = len(bb.blocks) - 1
        for li, blk in enumerate(bb.blocks):
            att = blk.attn
            q, k, v = att.qkv(rms(blk.norm1, x)).view(b, n, 3, hh, c).permute(2, 0, 3, 1, 4)  # (B, H, 5, c)
            q, k = apply_rope(torch.stack([q, k]), rot)  # both in one go
            self.pool.k[li][idx[:, None], :, cols] = k.transpose(1, 2)  # (B, 5, H, c) into each ring
            self.pool.v[li][idx[:, None], :, cols] = v.transpose(1, 2)
            if li == last:  # only the region tokens feed the head: the audio and text tokens stop here
                x, q, types = x[:, 2:], q[:, :, 2:], types.view(b, n)[:, 2:].reshape(-1)
                bias = bias[:, :, 2:]
            yy = self._attend_pool(li, q, lo, hi, dense, at, bias)
            nq = q.shape[2]
            x = x + att.proj(yy.transpose(1, 2).reshape(b, nq, d))
            f = blk.ffn.infer(rms(blk.norm2, x).reshape(b * nq, d), types)
            x = x + f.view(b, nq, d)
        h = rms(bb.norm, x)  # (B, 3, d): the region tokens
        logits = m.head({r: h[:, i] for i, r in enumerate(REGIONS)})  # {region: (B, C)}
        drawn = sample_codes(torch.stack([logits[r] for r in REGIONS], 1), m.cfg.temperature,
                             [(key.seed, k) for key, _, _, k in rows])  # (B, R)
        vecs = torch.cat([m.tokenizer.fsq.codes_to_vectors(drawn[:, i]) for i in range(len(REGIONS))], 1)  # (B, R q)
        for key, vec in zip(keys, vecs):
            key.pos += n
            key.steps += 1
            key.code_vec = vec
        return vecs

    def _attend_pool(self, li: int, q: Tensor, lo: int, hi: int, dense: bool, at: Tensor, bias: Tensor) -> Tensor:
        """Attention of the new step's queries q (B, H, n, c) over the rings of pool rows lo:hi, read
        in place (the step's own keys are already in them). -> (B, H, n, c).

        bias (S, 1, n, keep): 0 where a query may look, -inf where not. Rows of the span that are not
        in this wave compute on zeros and are dropped. Two batched matmuls and a softmax: at these
        sizes (5 queries, a few hundred keys) cheaper than ``scaled_dot_product_attention``'s CPU
        kernels, the same numbers up to float rounding."""
        _, hh, n, c = q.shape
        pk, pv = self.pool.k[li][lo:hi], self.pool.v[li][lo:hi]  # (S, H, keep, c) views
        if not dense:
            q = q.new_zeros(hi - lo, hh, n, c).index_copy_(0, at, q)
        s = torch.matmul(q * c ** -0.5, pk.transpose(-1, -2)).add_(bias)  # (S, H, n, keep)
        y = torch.matmul(torch.softmax(s, dim=-1), pv)  # (S, H, n, c)
        return y if dense else y.index_select(0, at)


class BatchedStepper:
    """Advances any number of :class:`StreamState` together with one model (see the module doc).

    A round is ``prepare`` (features, encoder, which frames become final), the keyframe waves
    (:class:`KeyframeStepper`), then ``finish`` (the interpolator): ``advance`` runs the three."""

    def __init__(self, model) -> None:
        self.model = model.eval()
        cfg = model.cfg
        self.la, self.stride = cfg.lookahead_frames, cfg.keyframe_stride
        self.keys = KeyframeStepper(model)
        self.text = self.keys.text  # "unknown" phones, (2 text_dim,)
        with torch.no_grad():  # the convs' tap matrices, once (CausalConv1d.step builds them per call)
            self.enc_weights = [c.taps_weight().contiguous() for c in model.audio_encoder.stack.convs]
            self.interp_weights = [c.taps_weight().contiguous() for c in model.interp.stack.convs]

    @property
    def pool(self) -> KVPool:
        return self.keys.pool

    def release(self, state: StreamState) -> None:
        """The stream is over: its KV slot may serve another. Call it from the thread that runs
        ``advance`` (the engine's worker), between rounds."""
        self.keys.release(state.key)

    def new_state(self, seed: int = 0) -> StreamState:
        m = self.model
        zeros = torch.zeros(self.keys.code_dim)
        return StreamState(
            feat_tail=m.features.init_state(1)[0],
            enc_state=[s[0] for s in m.audio_encoder.init_state(1)],
            interp_state=[s[0] for s in m.interp.init_state(1)],
            key=self.keys.new_key(seed),
            enc_frames=torch.zeros(0, m.cfg.audio_dim), zq_cur_vec=zeros, zq_prev_vec=zeros,
        )

    # ------------------------------------------------------------------ one round
    @torch.no_grad()
    def advance(self, states: list[StreamState], pcms: list[np.ndarray], flush: list[bool]
                ) -> list[dict[str, np.ndarray]]:
        """New samples for each state (float32 16 kHz, any length, 0 included); ``flush`` pads that
        stream's future with silence and returns its last frames. -> per state the regions
        {"face": (n, 61), "body": (n, 36), "hands": (n, 138)} of the frames that became final."""
        plan = self.prepare(states, pcms, flush)
        codes = [self.keys.keyframe_step([(states[s].key, a, t, k) for s, a, t, k in rows]) for rows in plan.waves]
        return self.finish(states, plan, codes)

    @torch.no_grad()
    def prepare(self, states: list[StreamState], pcms: list[np.ndarray], flush: list[bool]) -> RoundPlan:
        """The audio half of a round: new samples through features and encoder, and the motion frames
        that become final (their encoder frames, their keyframes). Advances the states' audio side."""
        m = self.model
        b = len(states)
        if b == 0:
            return RoundPlan([], [], [], self.stride)
        inputs, limits = [], []
        for st, pcm, fl in zip(states, pcms, flush):
            x = torch.as_tensor(np.asarray(pcm, dtype=np.float32).reshape(-1))
            st.n_samples += x.shape[0]
            limit = None
            if fl:
                limit = num_motion_frames(st.n_samples)
                pad = max(0, samples_needed(limit - 1, self.la) - st.n_samples) if limit > 0 else 0
                x = torch.cat([x, torch.zeros(pad)])
            inputs.append(x)
            limits.append(limit)

        # --- features: one STFT over right-padded buffers; each keeps its own complete frames
        bufs = [torch.cat([st.feat_tail, x]) for st, x in zip(states, inputs)]
        n_new = [0 if len(u) < WIN_LENGTH else (len(u) - WIN_LENGTH) // HOP_LENGTH + 1 for u in bufs]
        mmax = max(n_new)
        if mmax > 0:
            width = (mmax - 1) * HOP_LENGTH + WIN_LENGTH
            batch = torch.stack([F.pad(u[:width], (0, max(0, width - len(u)))) for u in bufs])  # (B, width)
            feats = m.features.frames(batch)  # (B, M, C)
            h = m.audio_encoder.inp(feats)
            h, enc_states = conv_stack_step(m.audio_encoder.stack, h, [st.enc_state for st in states], n_new,
                                            self.enc_weights)
            h = rms(m.audio_encoder.norm, h)  # (B, M, audio_dim)
        for s, st in enumerate(states):
            st.feat_tail = bufs[s][n_new[s] * HOP_LENGTH:]
            if n_new[s]:
                st.enc_state = enc_states[s]
                st.enc_frames = torch.cat([st.enc_frames, h[s, :n_new[s]]])

        # --- which frames became final, and the keyframes they need (in order, per session)
        frames: list[list[int]] = []
        for s, st in enumerate(states):
            n_feat = st.enc_start + st.enc_frames.shape[0]
            lst = []
            i = st.n_frames
            while (limits[s] is None or i < limits[s]) and feature_index(i + self.la) < n_feat:
                lst.append(i)
                i += 1
            frames.append(lst)
        audio = [[st.enc_frames[feature_index(i + self.la) - st.enc_start] for i in lst]
                 for st, lst in zip(states, frames)]
        key_pos = [[j for j, i in enumerate(lst) if i % self.stride == 0] for lst in frames]
        text = None
        if any(st.phones is not None for st in states):  # per frame: its phone and the one L frames on
            ids, ahead = [], []
            for st, lst, limit in zip(states, frames, limits):
                a, b_ = phone_ids(st.phones, lst, self.la, limit)
                ids += a
                ahead += b_
            text = phone_features(m, ids, ahead) if ids else None  # (sum n, 2 text_dim), streams in order

        # --- drop encoder frames no future frame reads
        for st, lst in zip(states, frames):
            if lst:
                st.n_frames = lst[-1] + 1
            n_feat = st.enc_start + st.enc_frames.shape[0]
            keep_from = min(feature_index(st.n_frames + self.la), n_feat)
            st.enc_frames = st.enc_frames[max(0, keep_from - st.enc_start):]
            st.enc_start = max(st.enc_start, keep_from)
            if st.phones is not None:
                st.phones.forget_before(st.n_frames / MODEL_FPS)
        return RoundPlan(frames, audio, key_pos, self.stride, text)

    @torch.no_grad()
    def finish(self, states: list[StreamState], plan: RoundPlan, wave_codes: list[Tensor]
               ) -> list[dict[str, np.ndarray]]:
        """The motion half of a round: the keyframes' codes (per wave of ``plan.waves``, (rows, R q))
        paired with the frames as ``StreamingSession`` pairs them, through the interpolator. Rounds
        must finish in the order they were prepared. -> per state its regions, as ``advance``."""
        m = self.model
        b = len(states)
        if b == 0:
            return []
        frames, audio = plan.frames, plan.audio
        new_codes: list[list[Tensor]] = [[] for _ in range(b)]  # per stream its keyframes' codes, in order
        for rows, vecs in zip(plan.waves, wave_codes):
            for (s, _, _, _), vec in zip(rows, vecs):
                new_codes[s].append(vec)

        # --- per frame: the (previous, current) keyframe vectors, as StreamingSession pairs them
        cur: list[list[Tensor]] = [[] for _ in range(b)]
        prev: list[list[Tensor]] = [[] for _ in range(b)]
        for s, st in enumerate(states):
            kp = iter(zip(plan.key_pos[s], new_codes[s]))
            nxt = next(kp, None)
            for j in range(len(frames[s])):
                if nxt is not None and nxt[0] == j:
                    st.zq_prev_vec, st.zq_cur_vec = st.zq_cur_vec, nxt[1]
                    nxt = next(kp, None)
                prev[s].append(st.zq_prev_vec)
                cur[s].append(st.zq_cur_vec)

        # --- the interpolator over right-padded frames
        counts = [len(f) for f in frames]
        nmax = max(counts)
        out = [{r: np.zeros((0, dim), np.float32) for r, dim in REGION_DIMS.items()} for _ in range(b)]
        if nmax > 0:
            at = torch.tensor([s * nmax + j for s, f in enumerate(frames) for j in range(len(f))])  # valid (B N) rows

            def padded(rows: list[list[Tensor]]) -> Tensor:
                """Per-stream lists of (dim,) rows -> (B, N, dim), zeros after each stream's own."""
                flat = torch.stack([t for r in rows for t in r])  # (sum n, dim)
                return flat.new_zeros(b * nmax, flat.shape[1]).index_copy_(0, at, flat).view(b, nmax, -1)

            offset = torch.tensor([[i % self.stride for i in f] + [0] * (nmax - len(f)) for f in frames])  # (B, N)
            it = m.interp
            if plan.text is None:
                text = self.text  # every stream without phones: one "unknown" row, broadcast
            else:  # (B, N, 2 text_dim), the rows in the same (stream, frame) order as `at`
                text = plan.text.new_zeros(b * nmax, plan.text.shape[1]).index_copy_(0, at, plan.text).view(b, nmax, -1)
            x = (it.code(padded(cur)) + it.prev_code(padded(prev)) + it.offset(offset)
                 + it.audio(padded(audio)) + it.text(text))
            y, interp_states = conv_stack_step(it.stack, x, [st.interp_state for st in states], counts,
                                               self.interp_weights)
            y = it.out(rms(it.norm, y))  # (B, N, D)
            parts = {r: m.denormalise(r, v).numpy() for r, v in m.split_regions(y).items()}  # {region: (B, N, dim)}
            for s, st in enumerate(states):
                if counts[s]:
                    st.interp_state = interp_states[s]
                    out[s] = {r: parts[r][s, :counts[s]] for r in REGIONS}
        return out


def rope_rotation(pos: Tensor, c: int) -> Tensor:
    """``umo.models.backbone.rope``'s angles as unit complex numbers, positions per batch row:
    pos (B, N) -> (B, 1, N, c/2) complex64, computed once per step for every layer's queries and keys."""
    inv = 10000.0 ** (-torch.arange(0, c, 2, dtype=torch.float64) / c)
    ang = pos.to(torch.float64)[:, None, :, None] * inv  # (B, 1, N, c/2)
    return torch.complex(torch.cos(ang).float(), torch.sin(ang).float())


def apply_rope(x: Tensor, rot: Tensor) -> Tensor:
    """x (..., N, c) float32, channel pairs (2i, 2i + 1) rotated by ``rot`` (..., N, c/2): the same
    products as ``backbone.rope`` in one complex multiplication (float32 only: serving, not the
    bfloat16 training path)."""
    pairs = torch.view_as_complex(x.reshape(*x.shape[:-1], x.shape[-1] // 2, 2))
    return torch.view_as_real(pairs * rot).flatten(-2)


def rms(norm, x: Tensor) -> Tensor:
    """``RMSNorm`` as one fused call (float32 serving; the module's own forward is the training path)."""
    return F.rms_norm(x, norm.weight.shape, norm.weight, norm.eps)


def conv_stack_step(stack: CausalConvStack, x: Tensor, states: list[list[Tensor]], lengths: list[int],
                    weights: list[Tensor]) -> tuple[Tensor, list[list[Tensor]]]:
    """``CausalConvStack.step`` over right-padded rows: x (B, N, C), row b valid for its first lengths[b]
    frames; states[b] the per-conv tails (pad, C) of row b -> (B, N, C), each row's new tails.
    weights: the convs' ``CausalConv1d.taps_weight()``."""
    b, n, _ = x.shape
    new = [[] for _ in range(b)]
    same = all(m == n for m in lengths)  # every row full: its tail is the last `pad` inputs
    for li, (norm, conv, out) in enumerate(zip(stack.norms, stack.convs, stack.outs)):
        st = torch.stack([s[li] for s in states])  # (B, pad, C)
        xx = torch.cat([st, rms(norm, x)], dim=1)  # (B, pad + N, C)
        k, dil, pad = conv.conv.kernel_size[0], conv.conv.dilation[0], conv.pad
        taps = torch.cat([xx[:, i * dil:i * dil + n] for i in range(k)], dim=-1)  # (B, N, K C)
        x = x + out(F.gelu(F.linear(taps, weights[li], conv.conv.bias)))
        if same:
            tails = xx[:, n:]  # (B, pad, C)
        else:  # each row's last `pad` valid inputs, gathered from the flattened rows
            at = torch.tensor(lengths)[:, None] + torch.arange(pad) + (torch.arange(b) * (pad + n))[:, None]
            tails = xx.reshape(b * (pad + n), -1).index_select(0, at.flatten()).view(b, pad, -1)
        for r, tail in enumerate(tails.unbind(0)):
            new[r].append(tail)
    return x, new


# ----------------------------------------------------------------------------------------- engine
class StreamHandle:
    """One stream inside an :class:`Engine`. Methods are thread-safe; ``on_frames`` runs in the worker."""

    def __init__(self, engine: Engine, seed: int, on_frames: Callable[[Frames | None, bool, Exception | None], None]
                 ) -> None:
        self.engine = engine
        self.state = engine.stepper.new_state(seed)
        self.on_frames = on_frames  # (frames, final, error): called once per round that touched the stream
        self.pending: deque[np.ndarray] = deque()
        self.pending_phones: list[tuple[int, float, float]] = []  # added to the state at its next round
        self.pending_samples = 0
        self.finishing = False
        self.cancelled = False
        self.next_frame = 0
        self.taken = 0  # samples the rounds have consumed so far
        self.last_audio = -1e9  # time.monotonic() of its latest audio

    def submit(self, pcm: np.ndarray) -> None:
        """Queue float32 16 kHz samples (any length)."""
        pcm = np.ascontiguousarray(pcm, dtype=np.float32).reshape(-1)
        with self.engine.cond:
            if self.finishing or self.cancelled:
                raise UmoError("the stream has ended: no more audio can be added")
            if pcm.size:
                self.pending.append(pcm)
                self.pending_samples += pcm.size
                self.last_audio = time.monotonic()
                self.engine.cond.notify()

    def add_phones(self, phones: list[tuple[int, float, float]]) -> None:
        """Timed phones for this stream: (``PHONES`` id, start s, end s) on the audio's clock, in order
        of their starts and after those already added. Frames computed later read them (text tokens);
        send them before their audio."""
        with self.engine.cond:
            if self.finishing or self.cancelled:
                raise UmoError("the stream has ended: no more phones can be added")
            self.pending_phones.extend(phones)

    def finish(self) -> None:
        """No more audio: the engine pads the future with silence, sends the last frames (final=True)."""
        with self.engine.cond:
            self.finishing = True
            self.engine.cond.notify()

    def cancel(self) -> None:
        """Forget the stream (a vanished client): no more callbacks."""
        with self.engine.cond:
            self.cancelled = True
            self.pending.clear()
            self.pending_samples = 0
            if self in self.engine.handles:  # (a flushed stream left the list; its round frees its slot)
                self.engine.handles.remove(self)
                self.engine.ended.append(self.state)  # its KV slot is freed by the worker, between rounds
                self.engine.cond.notify()

    def _take(self, limit: int) -> np.ndarray:
        """Up to ``limit`` queued samples (call under the engine's lock)."""
        parts, n = [], 0
        while self.pending and n < limit:
            x = self.pending.popleft()
            if n + x.size > limit:
                self.pending.appendleft(x[limit - n:])
                x = x[:limit - n]
            parts.append(x)
            n += x.size
        self.pending_samples -= n
        self.taken += n
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


@dataclass
class RoundStats:
    """Bounded history of the worker's rounds (for /healthz and umo bench)."""

    rounds: int = 0
    recent: deque = field(default_factory=lambda: deque(maxlen=512))  # (batch size, seconds, audio s per stream, ended)
    busy_s: float = 0.0
    streams_stepped: int = 0  # sum of the rounds' batch sizes (differences of two summaries: a window's mean batch)

    def add(self, batch: int, seconds: float, audio_s: float, ended: float | None = None) -> None:
        """A round of ``batch`` streams took ``seconds`` of model time for ``audio_s`` of audio per
        stream and ended at ``ended`` (time.monotonic(); default now)."""
        self.rounds += 1
        self.busy_s += seconds
        self.streams_stepped += batch
        self.recent.append((batch, seconds, audio_s, time.monotonic() if ended is None else ended))

    def load(self, now: float | None = None) -> float:
        """The share of the last ``LOAD_WINDOW_S`` the model spent in rounds: near 1, it is at capacity
        (every round starts as the previous one ends, and latency grows with each session added)."""
        now = time.monotonic() if now is None else now
        start = now - LOAD_WINDOW_S
        busy = sum(min(sec, end - start) for _, sec, _, end in self.recent if end > start)
        return min(1.0, busy / LOAD_WINDOW_S)

    def summary(self) -> dict:
        out = {"rounds": self.rounds, "busy_s": round(self.busy_s, 3), "streams_stepped": self.streams_stepped,
               "load": round(self.load(), 3)}
        if not self.recent:
            return out
        sizes = np.array([r[0] for r in self.recent])
        secs = np.array([r[1] for r in self.recent])
        audio = np.array([r[2] for r in self.recent])
        return {**out, "mean_batch": float(sizes.mean()),
                "max_batch": int(sizes.max()), "round_ms_p50": float(np.median(secs) * 1000),
                "round_ms_p95": float(np.percentile(secs, 95) * 1000),
                "audio_ms_per_stream_p50": float(np.median(audio) * 1000)}


class Engine:
    """A worker thread that advances every busy stream in shared batched rounds.

    max_round_s: audio taken from one stream per round (a 10 s upload is cut into rounds of this
    much, so it never holds back the real-time streams in the same batch for long).
    gather_s: how long a round may wait, after the first stream's audio arrived, for the audio of
    the other live streams (see :meth:`wait_s`); 0 runs a round as soon as any stream has audio.
    """

    def __init__(self, model, threads: int | None = 1, max_round_s: float = 0.25,
                 gather_s: float = GATHER_S) -> None:
        self.stepper = BatchedStepper(model)
        self.threads = threads
        self.gather_s = float(gather_s)
        self._busy_since: float | None = None  # when the first audio of the next round arrived
        self.max_round_samples = int(max_round_s * SAMPLE_RATE)
        self.cond = threading.Condition()
        self.handles: list[StreamHandle] = []
        self.ended: list[StreamState] = []  # cancelled streams whose KV slots the worker frees
        self.stats = RoundStats()
        self.on_round_done: Callable[[], None] | None = None  # called in the worker after each round's callbacks
        self._stop = False
        self._thread: threading.Thread | None = None

    @property
    def fps(self) -> int:
        return MODEL_FPS

    @property
    def lookahead_s(self) -> float:
        return lookahead_seconds(self.stepper.model.cfg)

    def status(self) -> dict:
        """Open streams and the KV-cache slots they hold (a cancelled stream's slot is freed by the
        worker, between rounds)."""
        with self.cond:
            return {"streams": len(self.handles), "kv_slots_in_use": self.stepper.pool.in_use(),
                    "kv_slots": self.stepper.pool.slots}

    def open(self, on_frames, seed: int = 0) -> StreamHandle:
        h = StreamHandle(self, seed, on_frames)
        with self.cond:
            self.handles.append(h)
        return h

    def warm_up(self, seconds: float = 1.0) -> None:
        """Run a throwaway stream (and a batch of two), so that the first client does not pay for
        first calls (PyTorch's allocations, lazy imports: hundreds of ms)."""
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        noise = (0.05 * np.random.default_rng(0).standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)
        states = [self.stepper.new_state(0), self.stepper.new_state(1)]
        half = noise.size // 2
        self.stepper.advance(states, [noise[:half], noise[:half // 3]], [False, False])
        out = self.stepper.advance(states, [noise[half:], noise[half // 3:]], [True, True])
        frames_from_regions(out[0], 0)  # its first call imports the animator's conversions (~0.7 s)
        for st in states:
            self.stepper.release(st)

    def start(self) -> Engine:
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="umo-engine", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        with self.cond:
            self._stop = True
            self.cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _busy(self) -> list[StreamHandle]:
        return [h for h in self.handles if h.pending_samples or h.finishing]

    def wait_s(self) -> float | None:
        """When the next round should run: None (no stream has work), 0 (now), or in how many
        seconds at the latest (call under ``cond``, again whenever audio arrives).

        Live streams (audio within ``LIVE_S``) send their chunks at staggered times; a round run as
        soon as the first one arrives would carry a few streams, and the next round a few others,
        each paying the per-round and per-wave costs that batching is there to share (on 2 cores,
        32 streams cut into halves cost 1.5x the model time of one batch, into quarters 2.7x). So
        a round waits until every live stream has audio queued, or ``gather_s`` after the first
        one's arrived. A lone stream never waits; a loaded engine, whose rounds take longer than
        the clients' chunks, finds every stream's audio already queued and does not wait either."""
        busy = self._busy()
        if not busy:
            self._busy_since = None
            return 0.0 if self.ended else None
        now = time.monotonic()
        if self._busy_since is None:
            self._busy_since = now
        waiting = any(not (h.pending_samples or h.finishing) and now - h.last_audio < LIVE_S for h in self.handles)
        return max(0.0, self._busy_since + self.gather_s - now) if waiting else 0.0

    def _run(self) -> None:
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        while True:
            with self.cond:
                while not self._stop:
                    wait = self.wait_s()
                    if wait == 0.0:
                        break
                    self.cond.wait(wait)
                if self._stop:
                    return
            self.step()

    def step(self) -> bool:
        """One round over every stream with pending audio (and the KV slots of cancelled streams
        freed), in the calling thread: the worker thread's loop, or a model process's own loop
        (umo.serve.worker). -> False when no stream had work."""
        with self.cond:
            self._busy_since = None
            for st in self.ended:
                self.stepper.release(st)
            self.ended.clear()
            batch = self._busy()
            if not batch:
                return False
            pcms = [h._take(self.max_round_samples) for h in batch]
            flush = [h.finishing and not h.pending for h in batch]
            for h, fl in zip(batch, flush):
                if h.pending_phones:  # before the audio they came with
                    h.state.phones = h.state.phones or PhoneTrack()
                    h.state.phones.add(h.pending_phones)
                    h.pending_phones = []
                if fl:
                    self.handles.remove(h)
        t0 = time.perf_counter()
        try:
            regions = self.stepper.advance([h.state for h in batch], pcms, flush)
            frames = frames_from_regions_many(regions, [h.next_frame for h in batch])
        except Exception as e:  # noqa: BLE001 - a model failure ends the streams of this round, not the server
            regions = None
            for h in batch:
                h.cancel()
                h.on_frames(None, True, e)
        for h, fl in zip(batch, flush):
            if fl:  # (a cancelled stream's slot is freed through `ended`; a flushed one has left the list)
                self.stepper.release(h.state)
        if regions is not None:
            self.stats.add(len(batch), time.perf_counter() - t0, sum(p.size for p in pcms) / len(batch) / SAMPLE_RATE)
            for h, fr, fl in zip(batch, frames, flush):
                if h.cancelled:
                    continue
                h.next_frame += len(fr)
                h.on_frames(fr, fl, None)
        self._round_done()
        return True

    def _round_done(self) -> None:
        if self.on_round_done is not None:
            self.on_round_done()
