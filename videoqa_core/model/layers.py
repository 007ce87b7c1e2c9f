"""Small building blocks: a weight-normalised linear layer whose weight can be read once
and fused, masked softmax, scaled dot-product attention that returns its map, pooling."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Linear(nn.Module):
    """``y = x W^T + b`` with optional weight normalisation (Salimans & Kingma 2016).

    With ``weight_norm`` the parameters are a direction ``v`` (out, in) and a gain ``g``
    (out,), and ``W = g * v / ||v||_row``. The memories read :meth:`weight` once per
    forward and slice/concatenate it into fused per-step matrices (spec: the small
    per-step matmuls are fused), so the normalisation is paid once per forward, not once
    per time step.
    """

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True, weight_norm: bool = True):
        super().__init__()
        self.in_features, self.out_features, self.weight_norm = in_features, out_features, weight_norm
        self.v = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.v, a=math.sqrt(5))      # nn.Linear's default init
        if weight_norm:
            # g starts at ||v|| so that W == v at initialisation.
            self.g = nn.Parameter(self.v.detach().norm(dim=1))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-1 / math.sqrt(in_features), 1 / math.sqrt(in_features))) if bias else None

    def weight(self) -> torch.Tensor:
        if not self.weight_norm:
            return self.v
        return self.v * (self.g / self.v.norm(dim=1).clamp_min(1e-12))[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight(), self.bias)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None, dim: int = -1) -> torch.Tensor:
    """Softmax over ``dim`` with masked-out entries at exactly zero weight.

    A row with no valid entry returns zeros rather than NaN (cannot happen for real data:
    every question has a token, every video a frame)."""
    if mask is None:
        return scores.softmax(dim)
    scores = scores.masked_fill(~mask, float("-inf"))
    out = scores.softmax(dim)
    return torch.nan_to_num(out, nan=0.0)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor | None,
              heads: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention that also returns its map (averaged over heads).

    q (R, Lq, d), k/v (R, Lk, d), key_mask (R, Lk) bool -> out (R, Lq, d), map (R, Lq, Lk).
    Written out rather than F.scaled_dot_product_attention because the dashboard needs the
    map; at these sizes (L <= 35) the fused kernel would not be faster anyway.
    """
    R, Lq, d = q.shape
    Lk = k.shape[1]
    dh = d // heads
    qh = q.view(R, Lq, heads, dh).transpose(1, 2)                  # (R, h, Lq, dh)
    kh = k.view(R, Lk, heads, dh).transpose(1, 2)                  # (R, h, Lk, dh)
    vh = v.view(R, Lk, heads, dh).transpose(1, 2)
    logits = qh @ kh.transpose(-1, -2) / math.sqrt(dh)             # (R, h, Lq, Lk)
    m = None if key_mask is None else key_mask[:, None, None, :]
    w = masked_softmax(logits, m)                                  # (R, h, Lq, Lk)
    out = (w @ vh).transpose(1, 2).reshape(R, Lq, d)               # (R, Lq, d)
    return out, w.mean(1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x (R, L, D), mask (R, L) -> (R, D)."""
    m = mask.to(x.dtype)[..., None]
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


def masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return x.masked_fill(~mask[..., None], float("-inf")).amax(1)


def last_valid(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """x (R, L, D), lengths (R,) -> x[r, lengths[r]-1] (R, D)."""
    idx = (lengths - 1).clamp_min(0).view(-1, 1, 1).expand(-1, 1, x.shape[-1])
    return x.gather(1, idx).squeeze(1)


def fold_weight_norm(model: torch.nn.Module) -> None:
    """Replace g * v/||v|| by its value once: inference then pays no normalisation pass."""
    for m in model.modules():
        if isinstance(m, Linear) and m.weight_norm:
            with torch.no_grad():
                w = m.weight().detach().clone()
            del m.g
            m.v = torch.nn.Parameter(w, requires_grad=False)
            m.weight_norm = False
