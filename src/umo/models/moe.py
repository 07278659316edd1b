"""Mixture-of-Experts feed-forward layer (spatial sparsity) and its dense twin for the ablation.

Top-k routing (Shazeer et al. 2017; Switch, Fedus et al. 2021; GShard, Lepikhin et al. 2020): a
linear router scores E experts per token, the token goes to its k best with gates renormalised over
those k. The load-balancing loss is Switch's ``E * sum_e f_e * P_e`` (f_e: fraction of routed
assignments that went to expert e, P_e: mean router probability of e), which is 1.0 when routing is
uniform and grows as it collapses; it is multiplied by ``moe_aux_weight`` in the model.

An optional learned bias per token type (audio, text, face, body, hands) lets experts specialise
by modality and body region (region-aware routing) without extra compute.

Dimension letters: N tokens (flattened batch x time), d model width, h expert hidden, E experts.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MoE(nn.Module):
    """x (N, d), token types (N,), token mask (N,) -> y (N, d), load-balancing loss (scalar, float32)."""

    def __init__(self, d: int, hidden: int, n_experts: int, top_k: int, n_types: int = 0,
                 type_bias: bool = False) -> None:
        super().__init__()
        self.d, self.hidden, self.n_experts, self.top_k = d, hidden, n_experts, top_k
        self.router = nn.Linear(d, n_experts, bias=False)
        self.type_bias = nn.Parameter(torch.zeros(n_types, n_experts)) if type_bias and n_types else None
        self.w1 = nn.Parameter(torch.randn(n_experts, d, hidden) / math.sqrt(d))
        self.b1 = nn.Parameter(torch.zeros(n_experts, hidden))
        self.w2 = nn.Parameter(torch.randn(n_experts, hidden, d) / math.sqrt(hidden))
        self.b2 = nn.Parameter(torch.zeros(n_experts, d))
        self.reset_usage()

    @property
    def params_per_expert(self) -> int:
        """Parameters of one expert MLP (w1, b1, w2, b2)."""
        return 2 * self.d * self.hidden + self.hidden + self.d

    def reset_usage(self) -> None:
        self.usage_counts = torch.zeros(self.n_experts, dtype=torch.float64)  # routed assignments per expert
        self.last_usage = [0.0] * self.n_experts  # fraction per expert in the latest forward (for logs)

    def route(self, x: Tensor, types: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """-> router probabilities (N, E) float32, top-k expert ids (N, k), gates (N, k)."""
        logits = self.router(x).float()
        if self.type_bias is not None and types is not None:
            logits = logits + self.type_bias[types]
        probs = torch.softmax(logits, dim=-1)
        top_p, top_i = probs.topk(self.top_k, dim=-1)
        return probs, top_i, top_p / top_p.sum(-1, keepdim=True)

    def mix(self, x: Tensor, top_i: Tensor, gates: Tensor) -> Tensor:
        """x (N, d), each token's experts (N, k) and gates (N, k) -> the gated sum of their outputs (N, d)."""
        # group the N * k (token, expert) assignments by expert: one gather, two matmuls per expert hit
        flat_e = top_i.flatten()  # (N k,)
        order = torch.argsort(flat_e, stable=True)
        token = order // self.top_k  # token of each sorted assignment
        xs = x[token]  # (N k, d)
        counts = torch.bincount(flat_e, minlength=self.n_experts).tolist()
        outs, start = [], 0
        for e, c in enumerate(counts):
            if c:
                seg = xs[start:start + c]
                outs.append(torch.addmm(self.b2[e], F.gelu(torch.addmm(self.b1[e], seg, self.w1[e])), self.w2[e]))
                start += c
        g = gates.flatten()[order].to(x.dtype)
        return torch.zeros_like(x).index_add(0, token, torch.cat(outs) * g[:, None])

    def infer(self, x: Tensor, types: Tensor | None = None) -> Tensor:
        """``forward``'s output without the training bookkeeping (loss, usage counts), which costs
        as much as the routing at live batch sizes: x (N, d) -> (N, d).

        Up to ``DENSE_INFER_TOKENS`` tokens (a live step of up to 16 streams) every expert runs on
        every token in two matmuls, its output weighted by the token's gate (0 for the experts it
        was not routed to): the same sum as ``mix`` up to float rounding, without the per-expert
        gather, calls and scatter that cost more than the extra multiplications at these sizes
        (one stream's step: ~35 % less time on 2 CPU cores; at 32 streams ``mix`` wins)."""
        _, top_i, gates = self.route(x, types)
        n = x.shape[0]
        if n > self.DENSE_INFER_TOKENS:
            return self.mix(x, top_i, gates)
        w1, b1, w2 = self._packed()
        g = x.new_zeros(n, self.n_experts).scatter_(1, top_i, gates.to(x.dtype))  # (N, E), 0 = not routed
        h = F.gelu(torch.addmm(b1, x, w1)).view(n, self.n_experts, self.hidden).mul_(g[:, :, None])  # (N, E, h)
        return torch.addmm(g @ self.b2, h.view(n, -1), w2)

    DENSE_INFER_TOKENS = 80

    def _packed(self) -> tuple[Tensor, Tensor, Tensor]:
        """The experts side by side for ``infer``: w1 (d, E h), b1 (E h,), w2 (E h, d); rebuilt when
        the parameters change (training steps, loading weights)."""
        key = tuple((p.data_ptr(), p._version) for p in (self.w1, self.b1, self.w2))
        if getattr(self, "_packed_key", None) != key:
            with torch.no_grad():
                e, d, h = self.w1.shape
                self._packed_w = (self.w1.permute(1, 0, 2).reshape(d, e * h).contiguous(),
                                  self.b1.reshape(e * h).clone(), self.w2.reshape(e * h, d).contiguous())
            self._packed_key = key
        return self._packed_w

    def forward(self, x: Tensor, types: Tensor | None = None, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        n = x.shape[0]
        mask = x.new_ones(n) if mask is None else mask.to(x.dtype)
        probs, top_i, gates = self.route(x, types)
        y = self.mix(x, top_i, gates)
        assigned = F.one_hot(top_i, self.n_experts).sum(1).float()  # (N, E)
        denom = mask.sum().clamp(min=1.0)
        f = (assigned * mask[:, None]).sum(0) / (denom * self.top_k)  # fraction of assignments per expert
        p = (probs * mask[:, None]).sum(0) / denom  # mean router probability
        aux = self.n_experts * (f * p).sum()
        with torch.no_grad():
            counts = (assigned * mask[:, None]).sum(0).double().cpu()
            self.usage_counts += counts
            self.last_usage = (counts / counts.sum().clamp(min=1.0)).tolist()
        return y, aux

    def expert_macs_per_token(self) -> int:
        """Multiply-accumulates of the expert matmuls one token triggers (k experts, two matrices)."""
        return self.top_k * 2 * self.d * self.hidden

    def router_macs_per_token(self) -> int:
        return self.d * self.n_experts


class DenseFFN(nn.Module):
    """The ablation's dense MLP of hidden ``top_k * expert_hidden``: the same active compute as MoE."""

    def __init__(self, d: int, hidden: int) -> None:
        super().__init__()
        self.d, self.hidden = d, hidden
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def infer(self, x: Tensor, types: Tensor | None = None) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))

    def forward(self, x: Tensor, types: Tensor | None = None, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.infer(x), x.new_zeros((), dtype=torch.float32)

    def expert_macs_per_token(self) -> int:
        return 2 * self.d * self.hidden

    def router_macs_per_token(self) -> int:
        return 0
