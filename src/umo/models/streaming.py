"""StreamingSession: live speech -> motion frames, chunk by chunk, with explicit state.

    session = model.stream(seed=0)
    for pcm in microphone_chunks():          # float32, 16 kHz, any length
        frames = session.push(pcm)           # {"face": (n, 61), "body": (n, 36), "hands": (n, 138)}
    frames = session.flush()                 # the rest, the future padded with silence; then reset

A frame is returned as soon as it is final: motion frame i needs the samples up to
``samples_needed(i, lookahead_frames)`` (its own time + the lookahead + up to one 10 ms hop), so the
algorithmic latency is lookahead_frames / 30 s plus at most 10 ms. Concatenated outputs equal
``UmoModel.generate`` on the whole signal (to float rounding) for any chunking.

State (all bounded): the unconsumed sample tail of the feature framer, the causal conv tails of the
audio encoder and of the interpolator, the not-yet-read encoder frames (a few), the transformer's
sliding-window KV cache, and the code vectors of the last keyframe.
"""

from __future__ import annotations

import bisect

import numpy as np
import torch
from torch import Tensor

from umo.constants import REGION_DIMS
from umo.constants import MODEL_FPS
from umo.models.features import feature_index, num_motion_frames, samples_needed
from umo.models.model import UNKNOWN_PHONE


class PhoneTrack:
    """A stream's timed phones as they arrive (``PHONES`` ids, seconds on the audio's clock), looked up
    per frame exactly as ``umo.data.synth.rasterize_phones`` does offline: the last phone that starts
    at or before the frame's time, if it still sounds then, else silence. Phones must arrive in
    order of their starts; those no later frame can read are forgotten, so it stays bounded."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.ids: list[int] = []

    def add(self, phones: list[tuple[int, float, float]]) -> None:
        """phones: (id, start s, end s), starts not before the last one added (the server checks)."""
        for pid, start, end in phones:
            self.starts.append(float(start))
            self.ends.append(float(end))
            self.ids.append(int(pid))

    def at(self, t: float) -> int:
        k = bisect.bisect_right(self.starts, t) - 1
        return self.ids[k] if k >= 0 and t < self.ends[k] else 0  # 0: SIL

    def forget_before(self, t: float) -> None:
        """No lookup will come before time t: drop the phones before the last one starting at or
        before t (they can never again be the last to start before a lookup)."""
        k = bisect.bisect_right(self.starts, t) - 1
        if k > 0:
            del self.starts[:k], self.ends[:k], self.ids[:k]


def phone_ids(track: PhoneTrack | None, frames: list[int], la: int, limit: int | None) -> tuple[list[int], list[int]]:
    """The ``PHONES`` ids ``UmoModel.text_frames`` reads for these frames of a stream: the phone at
    frame i and at i + la ("unknown" past the stream's last frame, ``limit``, as ``text_frames`` pads
    a whole clip's end; "unknown" throughout for a stream without phones, track None)."""
    if track is None:
        return [UNKNOWN_PHONE] * len(frames), [UNKNOWN_PHONE] * len(frames)
    ids = [track.at(i / MODEL_FPS) for i in frames]
    ahead = [track.at((i + la) / MODEL_FPS) if limit is None or i + la < limit else UNKNOWN_PHONE for i in frames]
    return ids, ahead


def phone_features(model, ids: list[int], ahead: list[int]) -> Tensor:
    """``phone_ids``' two lists -> the text features (n, 2 text_dim), as ``UmoModel.text_frames``."""
    return torch.cat([model.phone_emb(torch.tensor(ids)), model.phone_emb(torch.tensor(ahead))], dim=-1)


class StreamingSession:
    def __init__(self, model, seed: int = 0) -> None:
        self.model = model
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next push starts a new utterance at time 0."""
        m = self.model
        dev = m.bos.device
        self.device = dev
        self.n_samples = 0  # samples received
        self.feat_state = m.features.init_state(1, dev)
        self.enc_state = m.audio_encoder.init_state(1, dev)
        self.interp_state = m.interp.init_state(1, dev)
        self.cache = m.backbone.init_cache()
        self.enc_frames = torch.zeros(0, m.cfg.audio_dim, device=dev)  # encoder outputs not yet needed
        self.enc_start = 0  # feature index of enc_frames[0]
        self.n_frames = 0  # motion frames produced
        self.zq_cur: dict | None = None  # code vectors of the latest keyframe
        self.zq_prev_vec = torch.zeros(len(REGION_DIMS) * len(m.cfg.fsq_levels), device=dev)
        self.zq_cur_vec = self.zq_prev_vec
        with torch.no_grad():
            self.text = m.text_frames(None, 1, 1, dev)[0, 0]  # no phones: "unknown" ones
        self.phones: PhoneTrack | None = None  # timed phones added with add_phones

    def kv_cache_elements(self) -> int:
        return self.cache.num_elements()

    @torch.no_grad()
    def push(self, pcm: np.ndarray) -> dict[str, np.ndarray]:
        """New samples (float32 16 kHz, any length) -> the frames that became final (maybe none)."""
        pcm = torch.as_tensor(np.asarray(pcm, dtype=np.float32).reshape(-1), device=self.device)
        self.n_samples += pcm.shape[0]
        return self._advance(pcm, limit=None)

    def add_phones(self, phones: list[tuple[int, float, float]]) -> None:
        """Timed phones of the speech: (``PHONES`` id, start s, end s) on the audio's clock, starts in
        order and not before those already added. Frames computed after read them as the model's text
        tokens (as ``generate(audio, phones)`` does): add them before their audio."""
        if self.phones is None:
            self.phones = PhoneTrack()
        self.phones.add(phones)

    @torch.no_grad()
    def flush(self) -> dict[str, np.ndarray]:
        """End of speech: pad the future with silence, return the remaining frames, then reset."""
        t = num_motion_frames(self.n_samples)
        if t == 0:
            out = self._empty()
        else:
            pad = max(0, samples_needed(t - 1, self.model.cfg.lookahead_frames) - self.n_samples)
            out = self._advance(torch.zeros(pad, device=self.device), limit=t)
        self.reset()
        return out

    def _empty(self) -> dict[str, np.ndarray]:
        return {r: np.zeros((0, d), np.float32) for r, d in REGION_DIMS.items()}

    def _advance(self, pcm: torch.Tensor, limit: int | None) -> dict[str, np.ndarray]:
        m, cfg = self.model, self.model.cfg
        la, k_stride = cfg.lookahead_frames, cfg.keyframe_stride
        feats, self.feat_state = m.features.step(pcm[None], self.feat_state)  # (1, f, C)
        h, self.enc_state = m.audio_encoder.step(feats, self.enc_state)  # (1, f, a)
        self.enc_frames = torch.cat([self.enc_frames, h[0]])
        n_feat = self.enc_start + self.enc_frames.shape[0]  # feature frames computed so far

        first = self.n_frames
        audio, cur, prev, text = [], [], [], []
        while (limit is None or self.n_frames < limit) and feature_index(self.n_frames + la) < n_feat:
            i = self.n_frames
            a_i = self.enc_frames[feature_index(i + la) - self.enc_start]
            t_i = self.text if self.phones is None else phone_features(m, *phone_ids(self.phones, [i], la, limit))[0]
            if i % k_stride == 0:  # a keyframe: its audio is here, sample its codes
                self.zq_cur = m.keyframe_step(a_i, t_i, self.zq_cur, self.cache, self.seed, i // k_stride)
                self.zq_prev_vec = self.zq_cur_vec
                self.zq_cur_vec = torch.cat([self.zq_cur[r] for r in REGION_DIMS])
            audio.append(a_i)
            text.append(t_i)
            cur.append(self.zq_cur_vec)
            prev.append(self.zq_prev_vec)
            self.n_frames += 1
        keep_from = min(feature_index(self.n_frames + la), n_feat)  # the next frame's encoder frame: drop older
        self.enc_frames = self.enc_frames[max(0, keep_from - self.enc_start):]
        self.enc_start = max(self.enc_start, keep_from)
        if self.phones is not None:
            self.phones.forget_before(self.n_frames / MODEL_FPS)
        n = self.n_frames - first
        if n == 0:
            return self._empty()
        offset = torch.arange(first, self.n_frames, device=self.device) % k_stride
        y, self.interp_state = m.interp.step(
            torch.stack(cur)[None], torch.stack(prev)[None], offset, torch.stack(audio)[None],
            self.text.expand(1, n, -1) if self.phones is None else torch.stack(text)[None], self.interp_state)
        y = m.split_regions(y[0])
        return {r: m.denormalise(r, y[r]).cpu().numpy().astype(np.float32) for r in REGION_DIMS}
