"""The one incremental step (umo.models.stepper) against the model's parallel training pass.

generate, streaming, the offline path and the server all run the Stepper; this is what holds it to
an independent reference: the same audio front end, token sequence, sliding-window backbone, code
draws and interpolator computed the way training computes them, over the whole clip at once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.test_umo_streaming import speech, tiny  # noqa: F401 (fixture)
from umo.constants import REGION_DIMS
from umo.models.backbone import TOKENS_PER_STEP
from umo.models.keyframes import sample_codes
from umo.models.mouth import MOUTH_CHANNELS
from umo.models.stepper import KeyframeStepper

REGIONS = tuple(REGION_DIMS)


STUDENT = dict(student_dim=8, student_channels=16, student_dilations=(1, 2, 4), teacher="tiny.en:2", teacher_dim=16)


# mouth: None (no mouth head) or the head's mel taps (empty: the encoder frames only)
@pytest.mark.parametrize("lookahead,stride,with_phones,student,mouth", [
    (2, 2, False, False, None), (0, 1, True, False, None), (4, 4, True, False, ()), (2, 2, True, True, (0, 3, 11)),
    (0, 2, False, False, (0, 4))])
def test_incremental_step_equals_the_parallel_training_pass(speech, monkeypatch, lookahead, stride, with_phones,
                                                            student, mouth):
    head = {} if mouth is None else {"mouth_dim": 16, "mouth_dilations": (1, 2), "mouth_mel_taps": mouth}
    model = tiny(lookahead_frames=lookahead, keyframe_stride=stride, window_steps=3,  # the window slides
                 **(STUDENT if student else {}), **head)
    audio = torch.from_numpy(speech)
    t = (audio.numel() * 30 + 15999) // 16000
    phones = torch.as_tensor(np.random.default_rng(0).integers(-1, 20, t)) if with_phones else None
    drawn = []
    step = KeyframeStepper.keyframe_step

    def recording(self, rows):
        vecs = step(self, rows)
        drawn.append(vecs)
        return vecs

    monkeypatch.setattr(KeyframeStepper, "keyframe_step", recording)
    got = model.generate(audio, phones, seed=3)
    zq = torch.cat(drawn)  # (N, R q): every keyframe's codes, in order
    n = zq.shape[0]
    assert n == -(-t // stride)

    with torch.no_grad():
        a = model.audio_frames(audio[None], t)  # (1, T, a)
        txt = model.text_frames(None if phones is None else phones[None], 1, t, a.device)
        kf = torch.arange(0, t, stride)
        q = len(model.cfg.fsq_levels)
        codes = {r: zq[None, :, i * q:(i + 1) * q] for i, r in enumerate(REGIONS)}
        x = model.sequence(a[:, kf], txt[:, kf], codes, {r: torch.ones(1) for r in REGIONS})
        h, _ = model.backbone(x, model.token_types.repeat(n))
        h = h.view(1, n, TOKENS_PER_STEP, -1)
        logits = model.head({r: h[:, :, 2 + i] for i, r in enumerate(REGIONS)})  # {r: (1, N, C)}
        ref_codes = sample_codes(torch.stack([logits[r][0] for r in REGIONS], 1), model.cfg.temperature,
                                 [(3, k) for k in range(n)])  # (N, R)
        ref_zq = torch.cat([model.tokenizer.fsq.codes_to_vectors(ref_codes[:, i]) for i in range(len(REGIONS))], 1)
        torch.testing.assert_close(zq, ref_zq)  # the same draws from the same logits
        y = model.interp(zq[None], a, txt)
        if mouth is not None:  # the mouth head's channels replace the decoder's
            y[..., list(MOUTH_CHANNELS)] = model.mouth_frames(audio[None], a, txt)
        y = model.split_regions(y[0])
    for r in REGIONS:
        np.testing.assert_allclose(got[r].numpy(), model.denormalise(r, y[r]).numpy(), atol=1e-4, rtol=0)
