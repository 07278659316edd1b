"""The model's one incremental step: any number of streams advanced together, a batch of one included.

Every path that runs ``UmoModel`` forward in time calls :class:`Stepper`: ``UmoModel.generate``
(a whole clip, one stream), ``StreamingSession`` (one live stream, chunk by chunk), the offline
``umo animate`` (a long clip in chunks) and ``umo serve``'s engine (every live session in one batch).
Training's parallel passes (``UmoModel.forward``) are the independent reference the tests hold it to.

    round(states, new samples, flush?):
      prepare (Stepper.prepare)
        features   one STFT over the streams' right-padded sample buffers
        encoder    one causal-conv step over right-padded feature frames (per-stream conv tails)
      keyframes (KeyframeStepper)
                   wave w = the w-th due keyframe of every stream: one backbone step over a batch
                   of 5-token steps, each stream's KV cache a ring in one pooled tensor, masked
                   where not yet filled, RoPE per stream
      finish (Stepper.finish)
        interp     one causal-conv step over right-padded motion frames

A frame is computed as soon as it is final: motion frame i needs the samples up to
``samples_needed(i, lookahead_frames)`` (its own time + the lookahead + up to one 10 ms hop).
Padding never leaks into a result: the convs are causal, so right padding only adds outputs that are
dropped, and each stream's new conv tail is cut from its own valid frames; unfilled ring entries
are masked out of attention. A stream's frames therefore do not depend on how its audio was
chunked nor on which other streams shared its rounds (up to float rounding; the tests check both).

State per stream is bounded: a < 400-sample feature tail, conv tails, a few encoder frames, a KV
cache of the last ``window_steps`` steps, two code vectors and the phones no frame has read yet.

Dimension letters: B streams in a round, M new feature frames, N new motion frames, H heads,
L cached keys, c head width, d model width, R regions, q code dims per region.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from umo.constants import HOP_LENGTH, MODEL_FPS, REGION_DIMS
from umo.models.backbone import TOKENS_PER_STEP
from umo.models.features import WIN_LENGTH, feature_index, num_motion_frames, samples_needed
from umo.models.keyframes import sample_codes
from umo.models.layers import CausalConvStack
from umo.models.mouth import MOUTH_CHANNELS
from umo.models.phones import PhoneTrack, phone_features, phone_ids

REGIONS = tuple(REGION_DIMS)


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
    """One stream's carried state. The audio front (features, encoder) and the motion back
    (interpolator) live here; ``key`` is the keyframe half."""

    feat_tail: Tensor  # (tail,) samples not yet framed (starts as the 240-sample left pad)
    student_state: list[Tensor]  # per student conv: (pad, student_channels); empty without a student
    enc_state: list[Tensor]  # per encoder conv: (pad, audio_dim)
    interp_state: list[Tensor]  # per interpolator conv: (pad, interp_dim)
    mouth_state: list[Tensor]  # per mouth-head conv: (pad, mouth_dim); empty without one
    key: KeyState
    phones: PhoneTrack | None = None  # timed phones sent with the audio (None: none, the "unknown" text)
    n_samples: int = 0
    enc_frames: Tensor | None = None  # (f, audio_dim) encoder outputs not yet read
    enc_start: int = 0  # feature index of enc_frames[0] (and of mel_frames[0])
    mel_frames: Tensor | None = None  # (f, C) front-end frames the mouth head's mel taps may still read
    n_frames: int = 0  # motion frames made final (by prepare; their motion comes in finish)
    zq_cur_vec: Tensor | None = None  # (R q,) the latest keyframe's codes, as the interpolator pairs them
    zq_prev_vec: Tensor | None = None


@dataclass
class RoundPlan:
    """What ``Stepper.prepare`` decided for a round: per stream, the motion frames that become
    final, the encoder frame each reads (a,), and which of them are keyframes (positions in frames).
    The keyframe stage answers with each stream's codes in that order; ``finish`` takes them."""

    frames: list[list[int]]
    audio: list[list[Tensor]]
    key_pos: list[list[int]]
    stride: int
    text: Tensor | None = None  # (sum n, 2 text_dim) every frame's text features, streams in order; None: all unknown
    mel: list[list[Tensor]] | None = None  # per stream, per frame its mouth head's mel taps (K C,); None: no taps

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

    def elements_per_slot(self) -> int:
        """Keys and values one stream holds (every layer's ring)."""
        return 2 * len(self.k) * int(np.prod(self.shape))


class KeyframeStepper:
    """The keyframe half of the step: one backbone step for a wave of streams, their KV caches in a
    :class:`KVPool`. It needs nothing of a stream but its :class:`KeyState`, its encoder frame at the
    keyframe, its text features there and the keyframe's index. Weights it derives (the code tokens'
    block-diagonal matrix, the "unknown" text token) are taken once: a snapshot of the model."""

    def __init__(self, model) -> None:
        self.model = model
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


class Stepper:
    """Advances any number of :class:`StreamState` together with one model (see the module doc).

    A round is ``prepare`` (features, encoder, which frames become final), the keyframe waves
    (:class:`KeyframeStepper`), then ``finish`` (the interpolator): ``advance`` runs the three."""

    def __init__(self, model, graph=None) -> None:
        """graph: a :class:`umo.models.onnx_step.KeyframeGraph` of this model: the keyframe steps run
        in onnxruntime (``OnnxKeyframeStepper``); None: in PyTorch (``KeyframeStepper``)."""
        self.model = model
        cfg = model.cfg
        self.la, self.stride = cfg.lookahead_frames, cfg.keyframe_stride
        self.taps = cfg.mouth_mel_taps if cfg.mouth_dim else ()
        self.mel_back = max(self.taps, default=0)  # feature frames kept behind the next frame's read
        if graph is None:
            self.keys = KeyframeStepper(model)
        else:
            from umo.models.onnx_step import OnnxKeyframeStepper

            self.keys = OnnxKeyframeStepper(model, graph)
        self.text = self.keys.text  # "unknown" phones, (2 text_dim,)
        with torch.no_grad():  # the convs' tap matrices, once
            self.enc_weights = [c.taps_weight().contiguous() for c in model.audio_encoder.stack.convs]
            self.student_weights = ([] if model.student is None else
                                    [c.taps_weight().contiguous() for c in model.student.encoder.stack.convs])
            self.interp_weights = [c.taps_weight().contiguous() for c in model.interp.stack.convs]
            self.mouth_weights = [] if model.mouth is None else [c.taps_weight().contiguous()
                                                                 for c in model.mouth.stack.convs]

    @property
    def pool(self):
        """The keyframe stepper's KV pool (a ``KVPool`` with either engine)."""
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
            student_state=[] if m.student is None else [s[0] for s in m.student.encoder.init_state(1)],
            enc_state=[s[0] for s in m.audio_encoder.init_state(1)],
            interp_state=[s[0] for s in m.interp.init_state(1)],
            mouth_state=[] if m.mouth is None else [s[0] for s in m.mouth.init_state(1)],
            key=self.keys.new_key(seed),
            enc_frames=torch.zeros(0, m.cfg.audio_dim), zq_cur_vec=zeros, zq_prev_vec=zeros,
            mel_frames=torch.zeros(0, m.features.n_features),
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
            feats = front = m.features.frames(batch)  # (B, M, C)
            if m.student is not None:  # the student beside the log-mel, stepped like the encoder
                se = m.student.encoder
                s, student_states = conv_stack_step(se.stack, se.inp(feats), [st.student_state for st in states],
                                                    n_new, self.student_weights)
                feats = torch.cat([feats, m.student.out(rms(se.norm, s))], dim=-1)  # (B, M, C + K)
            h = m.audio_encoder.inp(feats)
            h, enc_states = conv_stack_step(m.audio_encoder.stack, h, [st.enc_state for st in states], n_new,
                                            self.enc_weights)
            h = rms(m.audio_encoder.norm, h)  # (B, M, audio_dim)
        for s, st in enumerate(states):
            st.feat_tail = bufs[s][n_new[s] * HOP_LENGTH:]
            if n_new[s]:
                st.enc_state = enc_states[s]
                if m.student is not None:
                    st.student_state = student_states[s]
                st.enc_frames = torch.cat([st.enc_frames, h[s, :n_new[s]]])
                if self.taps:
                    st.mel_frames = torch.cat([st.mel_frames, front[s, :n_new[s]]])

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
        mel = None
        if self.taps:  # per frame the front-end frames at its read minus each tap (zeros before the clip)
            none = torch.zeros(m.features.n_features)
            mel = [[torch.cat([st.mel_frames[j - st.enc_start] if j >= 0 else none
                               for j in (feature_index(i + self.la) - tap for tap in self.taps)]) for i in lst]
                   for st, lst in zip(states, frames)]
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
            keep_from = max(0, min(feature_index(st.n_frames + self.la), n_feat) - self.mel_back)
            st.enc_frames = st.enc_frames[max(0, keep_from - st.enc_start):]
            st.mel_frames = st.mel_frames[max(0, keep_from - st.enc_start):]
            st.enc_start = max(st.enc_start, keep_from)
            if st.phones is not None:
                st.phones.forget_before(st.n_frames / MODEL_FPS)
        return RoundPlan(frames, audio, key_pos, self.stride, text, mel)

    @torch.no_grad()
    def finish(self, states: list[StreamState], plan: RoundPlan, wave_codes: list[Tensor]
               ) -> list[dict[str, np.ndarray]]:
        """The motion half of a round: the keyframes' codes (per wave of ``plan.waves``, (rows, R q))
        paired with the frames (each frame with its keyframe and the one before), through the interpolator. Rounds
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

        # --- per frame: the (previous, current) keyframe vectors
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
            a = padded(audio)  # (B, N, a)
            x = (it.code(padded(cur)) + it.prev_code(padded(prev)) + it.offset(offset)
                 + it.audio(a) + it.text(text))
            y, interp_states = conv_stack_step(it.stack, x, [st.interp_state for st in states], counts,
                                               self.interp_weights)
            y = it.out(rms(it.norm, y))  # (B, N, D)
            if m.mouth is not None:  # the jaw and mouth from the audio path (umo.models.mouth)
                mh = m.mouth
                inputs = [a, text.expand(b, nmax, -1)] + ([] if plan.mel is None else [padded(plan.mel)])
                h = mh.inp(torch.cat(inputs, dim=-1))
                h, mouth_states = conv_stack_step(mh.stack, h, [st.mouth_state for st in states], counts,
                                                  self.mouth_weights)
                y[..., list(MOUTH_CHANNELS)] = mh.out(rms(mh.norm, h))
            parts = {r: m.denormalise(r, v).numpy() for r, v in m.split_regions(y).items()}  # {region: (B, N, dim)}
            for s, st in enumerate(states):
                if counts[s]:
                    st.interp_state = interp_states[s]
                    if m.mouth is not None:
                        st.mouth_state = mouth_states[s]
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
