"""Motion autoencoder of the body generator: canonical-skeleton rotations (6-D) -> continuous latents.

The OmniMotion recipe (seeds: OmniMotion) generates motion as *continuous* latent tokens rather than
a discrete codebook: here a token is ``latent_dim`` numbers per ``stride`` motion frames.

    x (B, T, D)  the 58 moving joints (BODY_REGION_JOINTS then HAND_REGION_JOINTS) as 6-D rotations
                 (the first two columns of each rotation matrix, Zhou et al. 2019), normalised per channel
    z (B, N, Z)  N = T / stride latent tokens

The encoder looks both ways (it only runs at training time, to make the generator's targets). The
decoder is *causal*: frames ``stride * k .. stride * k + stride - 1`` depend on tokens <= k only, so
streaming emits a token's frames as soon as it is drawn and never revises them. The root is not a
latent: umo's body is seated on a fixed root (the pipeline writes the rest root position), and the
synthetic corpus holds none, so there is nothing to learn there.

Dimension letters: B batch, T frames, N tokens, D motion channels, C width, Z latent channels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from umo.constants import BODY_REGION_JOINTS, HAND_REGION_JOINTS
from umo.models.layers import CausalConvStack, RMSNorm

GEN_JOINTS: tuple[str, ...] = BODY_REGION_JOINTS + HAND_REGION_JOINTS  # 12 + 46 = 58 joints
MOTION_DIM = 6 * len(GEN_JOINTS)  # 348
# Regions for the reconstruction report (index ranges into GEN_JOINTS).
REGION_JOINTS: dict[str, tuple[str, ...]] = {
    "spine": tuple(j for j in BODY_REGION_JOINTS if j.startswith("Spine")),
    "arms": tuple(j for j in BODY_REGION_JOINTS if not j.startswith("Spine")),
    "hands": HAND_REGION_JOINTS,
}


# --- rotations ------------------------------------------------------------------------------------
def rotvec_to_6d(rotvec: Tensor) -> Tensor:
    """(..., 3) axis-angle -> (..., 6): the first two columns of the rotation matrix (Rodrigues)."""
    theta = rotvec.norm(dim=-1, keepdim=True)  # (..., 1)
    axis = rotvec / theta.clamp_min(1e-8)
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*axis.shape[:-1], 3, 3)
    s, c = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(k)
    mat = eye + s * k + (1 - c) * (k @ k)  # (..., 3, 3); theta = 0 gives the identity (k = 0)
    return torch.cat([mat[..., :, 0], mat[..., :, 1]], dim=-1)


def sixd_to_matrix(d6: Tensor) -> Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt (any 6 numbers give a rotation)."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def regions_to_6d(body: np.ndarray, hands: np.ndarray) -> np.ndarray:
    """The corpus' axis-angle regions body (T, 36), hands (T, 138) -> (T, MOTION_DIM) 6-D, float32."""
    aa = np.concatenate([body, hands], axis=1).reshape(len(body), -1, 3)
    return rotvec_to_6d(torch.from_numpy(aa.astype(np.float32))).reshape(len(body), -1).numpy()


def sixd_to_regions(x: np.ndarray) -> dict[str, np.ndarray]:
    """(T, MOTION_DIM) 6-D -> {"body": (T, 36), "hands": (T, 138)} axis-angle (the corpus layout)."""
    from umo.skeleton import matrix_to_rotvec

    t = len(x)
    mat = sixd_to_matrix(torch.from_numpy(np.asarray(x, np.float32)).reshape(t, -1, 6)).double().numpy()
    aa = matrix_to_rotvec(mat).reshape(t, -1).astype(np.float32)
    nb = 3 * len(BODY_REGION_JOINTS)
    return {"body": aa[:, :nb], "hands": aa[:, nb:]}


def angle_error_deg(pred6: Tensor, true6: Tensor) -> Tensor:
    """Geodesic angle between rotations given as 6-D, degrees. (..., 6) -> (...)."""
    r = sixd_to_matrix(pred6).transpose(-1, -2) @ sixd_to_matrix(true6)
    cos = ((r.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    return torch.rad2deg(torch.acos(cos))


# --- streaming causal conv stack -------------------------------------------------------------------
def conv_stack_step(stack: CausalConvStack, x: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """CausalConvStack over the next n frames x (B, n, C), carrying each layer's last inputs.

    ``state``: per layer (B, pad, C), zeros at the start (what ``forward``'s zero padding sees).
    Returns the n output frames and the new state: equal to ``stack(whole)`` sliced, to rounding.
    """
    new = []
    for norm, conv, out, st in zip(stack.norms, stack.convs, stack.outs, state):
        h = torch.cat([st, norm(x)], dim=1)  # (B, pad + n, C)
        y = conv.conv(h.transpose(1, 2)).transpose(1, 2)  # (B, n, C)
        new.append(h[:, h.shape[1] - conv.pad:])
        x = x + out(F.gelu(y))
    return x, new


class MotionAE(nn.Module):
    """(B, T, D) normalised 6-D motion <-> (B, T / stride, Z) latents. See the module docstring."""

    def __init__(self, stride: int, latent_dim: int, width: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.stride = stride
        self.latent_dim = latent_dim
        self.width = width
        # Per-channel statistics of the training motion (set once from the data; saved with the weights).
        self.register_buffer("mean", torch.zeros(MOTION_DIM))
        self.register_buffer("std", torch.ones(MOTION_DIM))
        # Latent statistics, so the generator models unit-scale tokens.
        self.register_buffer("z_mean", torch.zeros(latent_dim))
        self.register_buffer("z_std", torch.ones(latent_dim))
        self.enc_in = nn.Linear(MOTION_DIM, width)
        self.enc = nn.ModuleList(nn.Conv1d(width, width, 3, padding=1) for _ in dilations)
        self.enc_norm = nn.ModuleList(RMSNorm(width) for _ in dilations)
        self.down = nn.Conv1d(width, width, 2 * stride, stride=stride, padding=stride // 2)
        self.to_z = nn.Linear(width, latent_dim)
        self.from_z = nn.Linear(latent_dim, stride * width)
        self.dec = CausalConvStack(width, dilations, kernel=3)
        self.dec_norm = RMSNorm(width)
        self.dec_out = nn.Linear(width, MOTION_DIM)

    def normalise(self, x6: Tensor) -> Tensor:
        return (x6 - self.mean) / self.std

    def denormalise(self, x: Tensor) -> Tensor:
        return x * self.std + self.mean

    def encode(self, x: Tensor) -> Tensor:
        """Normalised motion (B, T, D), T a multiple of stride -> raw latents (B, T / stride, Z)."""
        h = self.enc_in(x)  # (B, T, C)
        for norm, conv in zip(self.enc_norm, self.enc):
            h = h + conv(F.gelu(norm(h)).transpose(1, 2)).transpose(1, 2)
        h = self.down(h.transpose(1, 2)).transpose(1, 2)[:, : x.shape[1] // self.stride]  # (B, N, C)
        return self.to_z(h)

    def _unstack(self, z: Tensor) -> Tensor:
        b, n, _ = z.shape
        return self.from_z(z).reshape(b, n * self.stride, self.width)  # token k -> frames s k .. s k + s - 1

    def decode(self, z: Tensor) -> Tensor:
        """Raw latents (B, N, Z) -> normalised motion (B, N * stride, D), causally in tokens."""
        return self.dec_out(self.dec_norm(self.dec(self._unstack(z))))

    def init_state(self, batch: int = 1) -> list[Tensor]:
        return self.dec.init_state(batch)

    def decode_step(self, z: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """The next tokens (B, n, Z) -> their frames (B, n * stride, D) and the new decoder state."""
        h, state = conv_stack_step(self.dec, self._unstack(z), state)
        return self.dec_out(self.dec_norm(h)), state

    def forward(self, x: Tensor, latent_noise: float = 0.0) -> tuple[Tensor, Tensor]:
        """Training: normalised motion (B, T, D) -> (reconstruction (B, T, D), latents (B, N, Z)).
        latent_noise: Gaussian noise added to the latents, so that the decoder tolerates the small
        errors of generated latents."""
        z = self.encode(x)
        zn = z + latent_noise * torch.randn_like(z) if latent_noise > 0 else z
        return self.decode(zn), z
