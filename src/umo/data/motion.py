"""Animation <-> the model's three motion regions (face, body, hands), at MODEL_FPS.

    face  (T, 61): 52 ARKit weights (Live Link order), head yaw/pitch/roll, 6 eye angles
    body  (T, 36): local axis-angle of BODY_REGION_JOINTS (spine, shoulders, arms, wrists)
    hands (T, 138): local axis-angle of HAND_REGION_JOINTS (46 finger joints)

The neck chain is not a model output: it is rebuilt from the head angles
(umo.skeleton.add_head_to_body).
"""

from __future__ import annotations

import numpy as np

from umo.animation import Animation
from umo.constants import (
    BODY_REGION_JOINTS,
    HAND_REGION_JOINTS,
    JOINT_INDEX,
    MODEL_FPS,
    NUM_BLENDSHAPES,
    NUM_JOINTS,
    SAMPLE_RATE,
)
from umo.skeleton import add_head_to_body, canonical_skeleton, rest_root_position

BODY_IDX = np.array([JOINT_INDEX[n] for n in BODY_REGION_JOINTS])
HAND_IDX = np.array([JOINT_INDEX[n] for n in HAND_REGION_JOINTS])


def animation_to_regions(anim: Animation) -> dict[str, np.ndarray]:
    """Animation on the canonical skeleton (any fps is taken as is) -> {"face", "body", "hands"}.

    A face-only animation gives zero body and hands (callers mark them invalid).
    """
    t = anim.num_frames
    face = np.concatenate([anim.face, anim.head, anim.eyes], axis=1).astype(np.float32)  # (T, 61)
    if anim.body is None:
        body = np.zeros((t, len(BODY_IDX) * 3), np.float32)
        hands = np.zeros((t, len(HAND_IDX) * 3), np.float32)
    else:
        if not anim.skeleton.is_canonical():
            raise ValueError("retarget to the canonical skeleton first (umo.formats.retarget)")
        body = anim.body[:, BODY_IDX].reshape(t, -1).astype(np.float32)
        hands = anim.body[:, HAND_IDX].reshape(t, -1).astype(np.float32)
    return {"face": face, "body": body, "hands": hands}


def regions_to_animation(
    regions: dict[str, np.ndarray], fps: float = MODEL_FPS, audio: np.ndarray | None = None,
    sample_rate: int = SAMPLE_RATE, with_body: bool = True,
) -> Animation:
    """The inverse: regions (T, D) -> Animation; face weights clipped to [0, 1]; neck from head."""
    face = np.asarray(regions["face"], dtype=np.float64)
    t = face.shape[0]
    head = face[:, NUM_BLENDSHAPES:NUM_BLENDSHAPES + 3]
    eyes = face[:, NUM_BLENDSHAPES + 3:]
    body = None
    if with_body:
        body = np.zeros((t, NUM_JOINTS, 3))
        body[:, BODY_IDX] = np.asarray(regions["body"], dtype=np.float64).reshape(t, -1, 3)
        body[:, HAND_IDX] = np.asarray(regions["hands"], dtype=np.float64).reshape(t, -1, 3)
        add_head_to_body(body, head)
    return Animation(
        fps=fps,
        face=np.clip(face[:, :NUM_BLENDSHAPES], 0.0, 1.0),
        head=head,
        eyes=eyes,
        body=body,
        root_pos=None if body is None else np.tile(rest_root_position(), (t, 1)),
        skeleton=canonical_skeleton(),
        audio=audio,
        sample_rate=sample_rate,
    )
