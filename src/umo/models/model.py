"""UmoModel: speech (+ optional timed phones) -> face, body and hand motion at 30 fps.

    audio ─► LogMelProsody (100 Hz, causal) ─► AudioEncoder (causal convs) ─► a_i per frame (+ lookahead)
    phones ─► phone embeddings (frame i and i + lookahead) ─► p_i
    per keyframe step k (stride K):  [audio_k, text_k, face_{k-1}, body_{k-1}, hands_{k-1}] tokens
        ─► Backbone (causal MoE transformer, sliding-window KV cache) ─► KeyframeHead ─► codes_k
    codes (all keyframes so far) + a_i + p_i ─► Interpolator (causal convs) ─► every frame

Training (``forward(batch, stage)``), following UMo's three stages:
  1. motion foundation: tokenizer reconstruction (through the interpolator) + FSQ rounding loss +
     motion-only next-keyframe prediction (audio and text tokens replaced by learned "masked" tokens);
  2. audio-motion alignment: InfoNCE between audio at keyframes and the (frozen) motion latents, plus
     teacher-forced keyframe prediction from audio/text;
  3. end-to-end: teacher-forced keyframe prediction + dense frames decoded from the ground-truth
     codes and from the *predicted* keyframe distribution (its expected code vector, differentiable).
Every stage adds the MoE load-balancing loss. Masks: ``face_mask`` (per channel), ``has_body``,
``has_hands`` and ``frame_mask`` gate every loss; the last ``lookahead_frames`` frames of a window are
also left out, since their future audio is cut by the window and would be zeros.

Motion is normalised inside the model with per-channel buffers (``set_motion_stats``), so a
checkpoint carries its statistics. Dimension letters: B batch, S samples, T frames, N keyframes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from umo.constants import REGION_DIMS
from umo.models.backbone import TOKENS_PER_STEP, Backbone
from umo.models.config import ModelConfig
from umo.models.features import AudioEncoder, LogMelProsody, feature_index, num_motion_frames, samples_needed
from umo.models.interpolate import Interpolator
from umo.models.keyframes import KeyframeHead, expected_code_vectors
from umo.models.moe import MoE
from umo.models.mouth import MOUTH_CHANNELS, MouthHead, mel_taps
from umo.models.phones import UNKNOWN_PHONE
from umo.models.student import SpeechStudent
from umo.models.tokenizer import MotionTokenizer
from umo.speech.units import PHONES

REGIONS: tuple[str, ...] = tuple(REGION_DIMS)  # ("face", "body", "hands")


class UmoModel(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, q = cfg.d_model, len(cfg.fsq_levels)
        self.features = LogMelProsody(cfg.n_mels)
        # pretrained speech features (Whisper) through a causal student, frozen: trained by distillation
        self.student = SpeechStudent(self.features.n_features, cfg.student_channels, cfg.student_dilations,
                                     cfg.student_dim, cfg.teacher_dim).requires_grad_(False) if cfg.student_dim else None
        self.audio_encoder = AudioEncoder(self.features.n_features + cfg.student_dim, cfg.audio_dim,
                                          cfg.audio_dilations)
        self.phone_emb = nn.Embedding(len(PHONES) + 1, cfg.text_dim)
        self.tokenizer = MotionTokenizer(REGION_DIMS, cfg.tok_dim, cfg.tok_dilations, cfg.fsq_levels,
                                         cfg.keyframe_stride)
        # token embeddings of the unified sequence
        self.audio_tok = nn.Linear(cfg.audio_dim, d)
        self.text_tok = nn.Linear(2 * cfg.text_dim, d)
        self.code_tok = nn.ModuleDict({r: nn.Linear(q, d) for r in REGIONS})
        self.bos = nn.Parameter(torch.randn(len(REGIONS), d) * 0.02)  # "previous code" of keyframe 0
        self.absent = nn.Parameter(torch.randn(len(REGIONS), d) * 0.02)  # region without data (training only)
        self.masked = nn.Parameter(torch.randn(2, d) * 0.02)  # hidden audio / text (stage 1)
        self.type_emb = nn.Parameter(torch.randn(TOKENS_PER_STEP, d) * 0.02)
        self.register_buffer("token_types", torch.arange(TOKENS_PER_STEP), persistent=False)
        self.backbone = Backbone(d, cfg.n_layers, cfg.n_heads, cfg.window_steps, cfg.expert_hidden,
                                 cfg.moe_experts, cfg.moe_top_k, cfg.dense_ffn, cfg.moe_type_bias)
        self.head = KeyframeHead(d, REGIONS, cfg.codebook_size)
        self.mouth = MouthHead(cfg.audio_dim, 2 * cfg.text_dim, cfg.mouth_dim, cfg.mouth_dilations,
                               self.features.n_features * len(cfg.mouth_mel_taps)) if cfg.mouth_dim else None
        self.interp = Interpolator(len(REGIONS) * q, cfg.audio_dim, 2 * cfg.text_dim, cfg.interp_dim,
                                   cfg.interp_dilations, cfg.keyframe_stride, sum(REGION_DIMS.values()))
        # stage 2: projections of audio and motion latents into a shared contrastive space
        self.nce_audio = nn.Linear(cfg.audio_dim, cfg.infonce_dim)
        self.nce_motion = nn.Linear(len(REGIONS) * q, cfg.infonce_dim)
        for r, dim in REGION_DIMS.items():
            self.register_buffer(f"{r}_mean", torch.zeros(dim))
            self.register_buffer(f"{r}_std", torch.ones(dim))

    # ------------------------------------------------------------------ helpers
    def set_motion_stats(self, stats: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Per-channel (mean, std) of each region's training motion; std is floored at 1e-3."""
        for r, (mean, std) in stats.items():
            getattr(self, f"{r}_mean").copy_(torch.as_tensor(mean, dtype=torch.float32))
            getattr(self, f"{r}_std").copy_(torch.as_tensor(std, dtype=torch.float32).clamp(min=1e-3))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def moe_layers(self) -> list[MoE]:
        return [b.ffn for b in self.backbone.blocks if isinstance(b.ffn, MoE)]

    def expert_usage(self) -> dict[str, list[float]]:
        """Fraction of routed tokens per expert, per layer, since the last call (then reset)."""
        out = {}
        for i, moe in enumerate(self.moe_layers()):
            c = moe.usage_counts
            out[f"layer{i}"] = (c / c.sum()).tolist() if c.sum() > 0 else [0.0] * moe.n_experts
            moe.reset_usage()
        return out

    def audio_frames(self, audio: Tensor, t: int, speech_features: Tensor | None = None) -> Tensor:
        """audio (B, S) -> a (B, T, audio_dim): frame i reads the encoder at feature_index(i + L).

        The signal is cut or padded with silence to exactly the samples the T frames need.
        speech_features (B, F', student_dim): what the student would give, from elsewhere (the teacher
        itself, offline: ``SpeechStudent.teacher_targets``), cut or padded (repeating its last frame)
        to the F feature frames."""
        feats = self.front_features(audio, t)
        h = self.audio_encoder(self.speech_inputs(feats, speech_features))  # (B, F, a)
        return h[:, self.frame_feature_index(t, audio.device)]

    def front_features(self, audio: Tensor, t: int) -> Tensor:
        """audio (B, S) -> the front end's (B, F, C) over exactly the samples T frames need (the signal
        cut or padded with silence)."""
        need = samples_needed(t - 1, self.cfg.lookahead_frames)
        audio = audio[:, :need] if audio.shape[1] >= need else F.pad(audio, (0, need - audio.shape[1]))
        return self.features(audio.float())

    def frame_feature_index(self, t: int, device: torch.device | None = None) -> Tensor:
        """(T,) the feature frame each motion frame reads: feature_index(i + L)."""
        return torch.tensor([feature_index(i + self.cfg.lookahead_frames) for i in range(t)], device=device)

    def speech_inputs(self, feats: Tensor, speech_features: Tensor | None = None) -> Tensor:
        """The audio encoder's input: log-mel + prosody (B, F, C), and the student's features beside
        them when the model has one (or ``speech_features`` in their place) -> (B, F, C + student_dim)."""
        if self.student is None:
            return feats
        if speech_features is None:
            with torch.no_grad():  # frozen: distilled before the model trains
                s = self.student(feats)
        else:
            s = speech_features[:, :feats.shape[1]].to(feats)
            if s.shape[1] < feats.shape[1]:
                s = torch.cat([s, s[:, -1:].expand(-1, feats.shape[1] - s.shape[1], -1)], dim=1)
        return torch.cat([feats, s], dim=-1)

    def text_frames(self, phones: Tensor | None, b: int, t: int, device: torch.device) -> Tensor:
        """phones (B, T) int64 (-1 unknown) or None -> (B, T, 2 text_dim): phone at i and at i + L."""
        if phones is None:
            phones = torch.full((b, t), -1, dtype=torch.long, device=device)
        ids = torch.where(phones < 0, torch.full_like(phones, UNKNOWN_PHONE), phones)
        ahead = F.pad(ids[:, self.cfg.lookahead_frames:], (0, min(self.cfg.lookahead_frames, t)),
                      value=UNKNOWN_PHONE)
        return torch.cat([self.phone_emb(ids), self.phone_emb(ahead)], dim=-1)

    def region_masks(self, batch: dict[str, Tensor], frame_mask: Tensor) -> dict[str, Tensor]:
        """Per-element loss masks (B, T, D_r) of each region."""
        fm = frame_mask[:, :, None]
        return {
            "face": fm * batch["face_mask"][:, None, :].float(),
            "body": fm * batch["has_body"].float()[:, None, None].expand(-1, -1, REGION_DIMS["body"]),
            "hands": fm * batch["has_hands"].float()[:, None, None].expand(-1, -1, REGION_DIMS["hands"]),
        }

    def normalise(self, r: str, x: Tensor) -> Tensor:
        return (x.float() - getattr(self, f"{r}_mean")) / getattr(self, f"{r}_std")

    def denormalise(self, r: str, x: Tensor) -> Tensor:
        return x * getattr(self, f"{r}_std") + getattr(self, f"{r}_mean")

    def split_regions(self, y: Tensor) -> dict[str, Tensor]:
        return dict(zip(REGIONS, y.split(list(REGION_DIMS.values()), dim=-1)))

    def code_token(self, r: str, zq_prev: Tensor) -> Tensor:
        return self.code_tok[r](zq_prev)

    def sequence(self, audio_key: Tensor | None, text_key: Tensor | None, zq: dict[str, Tensor],
                 valid: dict[str, Tensor]) -> Tensor:
        """Teacher-forced token sequence (B, N * 5, d) from keyframe audio/text (None = masked) and codes."""
        b, n = next(iter(zq.values())).shape[:2]
        d = self.cfg.d_model
        a = self.audio_tok(audio_key) if audio_key is not None else self.masked[0].expand(b, n, d)
        p = self.text_tok(text_key) if text_key is not None else self.masked[1].expand(b, n, d)
        toks = [a, p]
        for i, r in enumerate(REGIONS):
            prev = self.code_token(r, zq[r][:, :-1])  # (B, N - 1, d)
            m = torch.cat([self.bos[i].expand(b, 1, d), prev], dim=1)
            toks.append(torch.where(valid[r][:, None, None] > 0, m, self.absent[i].expand(b, n, d)))
        x = torch.stack(toks, dim=2) + self.type_emb  # (B, N, 5, d)
        return x.reshape(b, n * TOKENS_PER_STEP, d)

    # ------------------------------------------------------------------ training
    def forward(self, batch: dict[str, Tensor], stage: int) -> tuple[Tensor, dict[str, float]]:
        """batch: audio (B, S), face/body/hands (B, T, D), phones (B, T), masks -> (loss, logs)."""
        if stage not in (1, 2, 3, 5):
            raise ValueError(f"stage objective must be 1, 2, 3 or 5 (the mouth head alone), got {stage}")
        cfg = self.cfg
        k_stride, la = cfg.keyframe_stride, cfg.lookahead_frames
        audio = batch["audio"]
        b, t = batch["face"].shape[:2]
        dev = audio.device
        frame_mask = batch["frame_mask"].float() * (torch.arange(t, device=dev) < t - la).float()[None]
        cmask = self.region_masks(batch, frame_mask)
        valid = {"face": (batch["face_mask"].sum(-1) > 0).float(), "body": batch["has_body"].float(),
                 "hands": batch["has_hands"].float()}
        # the encoder sees only real channels (missing face channels and absent regions are zeros)
        motion = {r: self.normalise(r, batch[r]) * self._input_mask(batch, r) for r in REGIONS}
        motion = {r: x * batch["frame_mask"].float()[:, :, None] for r, x in motion.items()}

        a = self.audio_frames(audio, t)  # (B, T, a)
        phones = batch.get("phones")
        if phones is not None and self.training and cfg.text_dropout > 0:
            drop = torch.rand(b, 1, device=dev) < cfg.text_dropout
            phones = torch.where(drop, torch.full_like(phones, -1), phones)
        txt = self.text_frames(phones, b, t, dev)  # (B, T, 2 text_dim)
        logs: dict[str, float] = {}
        if stage == 5:  # the mouth head alone (the rest of the model frozen: see umo.models.mouth)
            if self.mouth is None:
                raise ValueError("objective 5 trains the mouth head: this model has none (mouth_dim 0)")
            loss = self.mouth_loss(batch, a, txt, cmask["face"])
            logs.update(mouth=float(loss.detach()), loss=float(loss.detach()))
            return loss, logs

        tok = self.tokenizer(motion)
        zq = {r: tok[r][0] for r in REGIONS}  # (B, N, q) each
        codes = {r: tok[r][1] for r in REGIONS}
        kf = torch.arange(0, t, k_stride, device=dev)  # keyframe frames
        key_mask = frame_mask[:, kf]  # (B, N)
        ce_mask = {r: key_mask * valid[r][:, None] for r in REGIONS}
        token_mask = key_mask.repeat_interleave(TOKENS_PER_STEP, dim=1)
        zq_all = torch.cat([zq[r] for r in REGIONS], dim=-1)  # (B, N, R q)

        def keyframe_loss(with_audio: bool) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
            zq_in = {r: zq[r].detach() for r in REGIONS}
            x = self.sequence(a[:, kf] if with_audio else None, txt[:, kf] if with_audio else None, zq_in, valid)
            h, aux = self.backbone(x, self.token_types.repeat(x.shape[1] // TOKENS_PER_STEP), token_mask)
            h = h.view(b, -1, TOKENS_PER_STEP, cfg.d_model)
            logits = self.head({r: h[:, :, 2 + i] for i, r in enumerate(REGIONS)})
            ce, ce_logs = self.head.loss(logits, codes, ce_mask)
            logs.update(ce_logs)
            return ce, aux, logits

        def decode(z: Tensor) -> dict[str, Tensor]:
            a_dec = a
            if self.training and cfg.interp_audio_dropout > 0:
                keep = (torch.rand(b, 1, 1, device=dev) >= cfg.interp_audio_dropout).float()
                a_dec = a * keep
            return self.split_regions(self.interp(z, a_dec, txt))

        def recon_loss(pred: dict[str, Tensor], name: str) -> Tensor:
            total = a.new_zeros(())
            for r in REGIONS:
                m = cmask[r]
                err = (pred[r] - self.normalise(r, batch[r])).pow(2)
                mse = (err * m).sum() / m.sum().clamp(min=1.0)
                total = total + mse
                logs[f"{name}_{r}"] = float(mse.detach())
            return total

        def quant_loss() -> Tensor:
            total = a.new_zeros(())
            for r in REGIONS:
                m = ce_mask[r][:, :, None]
                total = total + (tok[r][2].pow(2) * m).sum() / (m.sum() * tok[r][2].shape[-1]).clamp(min=1.0)
            return total

        if stage == 1:
            rec = recon_loss(decode(zq_all), "rec")
            qnt = quant_loss()
            ce, aux, _ = keyframe_loss(with_audio=False)
            loss = rec + cfg.quant_weight * qnt + ce + cfg.moe_aux_weight * aux
            logs.update(rec=float(rec.detach()), quant=float(qnt.detach()), ce=float(ce.detach()))
            for r in REGIONS:
                used = torch.unique(codes[r][ce_mask[r] > 0]).numel()
                logs[f"codes_used_{r}"] = float(used) / cfg.codebook_size
        elif stage == 2:
            ce, aux, _ = keyframe_loss(with_audio=True)
            nce = self.infonce(a[:, kf], zq, valid, key_mask, logs)
            loss = nce + ce + cfg.moe_aux_weight * aux
            logs.update(ce=float(ce.detach()), nce=float(nce.detach()))
        else:
            ce, aux, logits = keyframe_loss(with_audio=True)
            book = self.tokenizer.fsq.codebook()
            soft = torch.cat([expected_code_vectors(logits[r], book) for r in REGIONS], dim=-1)
            rec = recon_loss(decode(zq_all), "rec")
            rec_soft = recon_loss(decode(soft), "rec_pred")
            qnt = quant_loss()
            loss = ce + rec + cfg.soft_recon_weight * rec_soft + cfg.quant_weight * qnt + cfg.moe_aux_weight * aux
            if cfg.drawn_recon_weight > 0:
                # the keyframes as inference draws them (from the predicted distribution at the sampling
                # temperature): the decoder learns to put the lips where the audio says even when a
                # drawn code says otherwise, as it will at inference
                with torch.no_grad():
                    t = max(cfg.temperature, 1e-3)
                    drawn = torch.cat([book[torch.distributions.Categorical(logits=logits[r].float() / t).sample()]
                                       for r in REGIONS], dim=-1)
                rec_drawn = recon_loss(decode(drawn), "rec_drawn")
                loss = loss + cfg.drawn_recon_weight * rec_drawn
                logs["rec_drawn"] = float(rec_drawn.detach())
            if self.mouth is not None:
                mouth = self.mouth_loss(batch, a, txt, cmask["face"])
                loss = loss + mouth
                logs["mouth"] = float(mouth.detach())
            logs.update(ce=float(ce.detach()), rec=float(rec.detach()), rec_pred=float(rec_soft.detach()),
                        quant=float(qnt.detach()))
        logs["moe_aux"] = float(aux.detach())
        for i, moe in enumerate(self.moe_layers()):
            for e, f in enumerate(moe.last_usage):
                logs[f"moe_l{i}_e{e}"] = f
        logs["loss"] = float(loss.detach())
        return loss, logs

    def mouth_loss(self, batch: dict[str, Tensor], a: Tensor, txt: Tensor, face_mask: Tensor) -> Tensor:
        """Masked MSE of the mouth head against the face's MOUTH_CHANNELS (normalised units)."""
        ch = list(MOUTH_CHANNELS)
        target = self.normalise("face", batch["face"])[..., ch]
        m = face_mask[..., ch]
        return ((self.mouth_frames(batch["audio"], a, txt) - target).pow(2) * m).sum() / m.sum().clamp(min=1.0)

    def mouth_frames(self, audio: Tensor, a: Tensor, txt: Tensor) -> Tensor:
        """The mouth head over a clip: audio (B, S), its encoder frames a (B, T, a) and text features
        (B, T, 2 text_dim) -> (B, T, M) normalised mouth channels."""
        taps = self.cfg.mouth_mel_taps
        if not taps:
            return self.mouth(a, txt)
        t = a.shape[1]
        mel = mel_taps(self.front_features(audio, t), self.frame_feature_index(t, a.device), taps)  # (B, T, K C)
        return self.mouth(a, txt, mel)

    def _input_mask(self, batch: dict[str, Tensor], r: str) -> Tensor:
        if r == "face":
            return batch["face_mask"][:, None, :].float()
        return batch[f"has_{r}"].float()[:, None, None]

    def infonce(self, audio_key: Tensor, zq: dict[str, Tensor], valid: dict[str, Tensor], key_mask: Tensor,
                logs: dict[str, float]) -> Tensor:
        """Symmetric InfoNCE between audio at keyframes and the (detached) motion codes of the same keyframe."""
        motion = torch.cat([zq[r].detach() * valid[r][:, None, None] for r in REGIONS], dim=-1)
        sel = key_mask.flatten() > 0
        ua = F.normalize(self.nce_audio(audio_key).flatten(0, 1)[sel].float(), dim=-1)  # (M, e)
        um = F.normalize(self.nce_motion(motion).flatten(0, 1)[sel].float(), dim=-1)
        if ua.shape[0] < 2:
            return audio_key.new_zeros(())
        logits = ua @ um.T / self.cfg.infonce_temperature
        labels = torch.arange(ua.shape[0], device=ua.device)
        logs["nce_acc"] = float((logits.argmax(-1) == labels).float().mean())
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def generate(self, audio: Tensor, phones: Tensor | None = None, seed: int = 0) -> dict[str, Tensor]:
        """audio (S,) float 16 kHz, phones (T,) or None -> {"face": (T, 61), "body": (T, 36), "hands": (T, 138)}.

        T = ceil(S / 16000 * 30). ``phones`` shorter or longer than T is padded with unknown (-1) / cut.
        The whole clip as one round of the incremental step (``umo.models.stepper``, a batch of one):
        the same frames as streaming it in any chunks."""
        from umo.models.phones import PhoneTrack
        from umo.models.stepper import Stepper

        audio = torch.as_tensor(audio, dtype=torch.float32).reshape(-1).cpu()
        t = num_motion_frames(audio.shape[0])
        stepper = Stepper(self)
        state = stepper.new_state(seed)
        if phones is not None:
            ids = torch.as_tensor(phones, dtype=torch.long).reshape(-1)[:t].tolist()
            state.phones = PhoneTrack.from_frame_ids(ids + [-1] * (t - len(ids)))
        out = stepper.advance([state], [audio.numpy()], [True])[0]
        return {r: torch.from_numpy(v) for r, v in out.items()}

    def stream(self, seed: int = 0, graph=None):
        """A live session: ``push(pcm) -> new final frames``, ``flush()``, ``reset()``. graph: this
        model's ONNX keyframe step (``umo.models.onnx_step.KeyframeGraph``) to run it in onnxruntime."""
        from umo.models.streaming import StreamingSession

        return StreamingSession(self, seed=seed, graph=graph)
