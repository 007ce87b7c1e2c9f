"""The typed trace: everything the dashboard steps through, returned by
``model(batch, trace=True)`` (spec section 7).

Shapes use R for rows: R = B for count / open-ended questions and R = B*C for multiple
choice (each of the C=5 candidates is its own row, question+candidate, candidate-major
within a sample: row ``b*C + c``). N = frames, T = tokens (question, plus the candidate
for multiple choice), S_v / S_t = visual / textual memory slots.

Every field is a tensor (or None where the configured variant has no such part, e.g. an
ablation without video self-attention). :meth:`Trace.numpy` detaches to numpy,
:meth:`Trace.row` selects one row.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional

import torch


@dataclass
class Trace:
    # --- text-augmented visual memory (Eq. 1-10), one step per frame; None for the
    #     video-free baselines ---
    visual_read: Optional[torch.Tensor]          # beta_t       (R, N, S_v)  read weights, rows sum to 1
    visual_write_app: Optional[torch.Tensor]     # alpha^a_t    (R, N, S_v)  appearance write weights
    visual_write_mot: Optional[torch.Tensor]     # alpha^m_t    (R, N, S_v)  motion write weights
    visual_gates: Optional[torch.Tensor]         # mu_t         (R, N, 3)    retain / write-app / write-mot
    visual_memory_norm: Optional[torch.Tensor]   # ||M_t[i]||   (R, N, S_v)  slot norms after step t
    # --- video-augmented textual memory (Eq. 11-16), one step per word ---
    text_read: torch.Tensor            # beta^q_t     (R, T, S_t)
    text_write: torch.Tensor           # alpha_t      (R, T, S_t)
    text_memory_norm: torch.Tensor     # ||M^q_t[i]|| (R, T, S_t)
    # --- attention (Eq. 17-22); None where the variant leaves the part out ---
    video_self_attn: Optional[torch.Tensor]   # (R, N, N) rows: query frame, cols: key frame
    text_self_attn: Optional[torch.Tensor]    # (R, T, T)
    affinity: Optional[torch.Tensor]          # Sm (R, N, T), padded words zero
    v2t_attn: Optional[torch.Tensor]          # map of A  (R, N, T)
    t2v_attn: Optional[torch.Tensor]          # map of Bv (R, N, N)
    # --- masks (True = real frame / word) ---
    video_mask: torch.Tensor           # (R, N) bool
    text_mask: torch.Tensor            # (R, T) bool

    def numpy(self) -> "Trace":
        """Same trace with every tensor as a float32/bool numpy array on the CPU."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, torch.Tensor):
                v = v.detach().cpu()
                v = v.numpy() if v.dtype == torch.bool else v.float().numpy()
            out[f.name] = v
        return Trace(**out)

    def row(self, i: int) -> "Trace":
        """One row (drops the leading R axis)."""
        return Trace(**{f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[i])
                        for f in fields(self)})

    def select(self, index) -> "Trace":
        """Rows by index (keeps the leading axis)."""
        return Trace(**{f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[index])
                        for f in fields(self)})
