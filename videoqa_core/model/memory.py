"""The two feature-augmented memories (paper 3.2, spec sections 2-3).

Both are recurrences over time whose per-step work is small matmuls. To keep the loop
tight (TECH-NOTES: the public per-sample code runs at 2.5 % of the matmul rate):

1. every input-only part of a per-step linear layer (the columns that multiply i^a_t,
   i^m_t, i^q, i^q_t, i^a, i^m) is computed for all steps at once before the loop, as one
   big matmul;
2. the per-step matmuls that share an input are fused by concatenating weights
   (h_{t-1} feeds the read controller, the hidden update and the content gate at once);
3. per-step slices are taken with ``unbind`` (indexing makes backward zero-fill full-size
   gradients), the trace is collected only when asked and stacked once at the end.

The parameters remain the paper's logical layers (``FC_a`` etc., each optionally weight
normalised); the fused matrices are slices of their weights, rebuilt once per forward.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .layers import Linear


def _cols(w: torch.Tensor, d: int, k: int) -> torch.Tensor:
    """Columns of the k-th d-wide input block of weight ``w`` (out, in)."""
    return w[:, k * d:(k + 1) * d]


def fused_weights(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module._fuse()``, cached while no gradient is recorded.

    Assembling the fused matrices copies every per-step weight once per forward (~15 MB
    at the paper's sizes, ~10 % of a one-question forward). In training the copy is part of
    the graph and must be redone; without autograd the result is kept until a parameter
    changes (optimizer step, load_state_dict: both bump the tensors' version counters).
    """
    if torch.is_grad_enabled():
        return module._fuse()
    key = tuple((p.data_ptr(), p._version) for p in module.parameters())
    cache = module.__dict__.get("_fused_cache")
    if cache is None or cache[0] != key:
        cache = (key, module._fuse())
        module.__dict__["_fused_cache"] = cache
    return cache[1]


class TextAugmentedVisualMemory(nn.Module):
    """Eq. 1-10: one step per frame; reads and writes a visual memory M (S, d).

    ::

        h^v,h^m,h^a ─► read ctrl ─► beta ─► r = beta·M ─┐
             │                                          ├─► h^a_t, h^m_t, h^v_t
        i^a_t, i^m_t, i^q ─────────────────────────────┘
        i^a_t,h^a ─► c^a ─► alpha^a ┐
        i^m_t,h^m ─► c^m ─► alpha^m ├─► mu (retain / write-a / write-m) ─► M_t
        h^v ───────────────────────-┘

    With ``text_augmented=False`` (ablation Mv) i^q is left out of FC_a, FC_m, FC_v.
    Hidden states are stacked as one tensor ``h`` (3, R, d) in the order (v, m, a) so one
    ``bmm`` serves all three per-step projections.
    """

    def __init__(self, *, hidden: int, slots: int, text_augmented: bool, weight_norm: bool):
        super().__init__()
        d, S = hidden, slots
        self.d, self.S, self.text_augmented = d, S, text_augmented
        q = 1 if text_augmented else 0
        lin = lambda i, o: Linear(i, o, weight_norm=weight_norm)  # noqa: E731
        self.read_fc = lin(3 * d, d)          # FC[h^v, h^m, h^a]          (Eq. 1)
        self.read_out = lin(d, S)             # W_e                        (Eq. 1)
        self.fc_a = lin((3 + q) * d, d)       # FC_a[r, h^a, i^a_t, (i^q)] (Eq. 3)
        self.fc_m = lin((3 + q) * d, d)       # FC_m[r, h^m, i^m_t, (i^q)] (Eq. 4)
        self.fc_v = lin((2 + q) * d, d)       # FC_v[r, h^v, (i^q)]        (Eq. 5)
        self.content_a = lin(2 * d, d)        # W^a[i^a_t, h^a] + b^a      (Eq. 6)
        self.content_m = lin(2 * d, d)        # W^m[i^m_t, h^m] + b^m
        self.write_a = lin(d, S)              # U^a: d -> S                (Eq. 7)
        self.write_m = lin(d, S)              # U^m
        self.gate_fc = lin(3 * d, d)          # FC[h^v, c^m, c^a]          (Eq. 8)
        self.gate_out = lin(d, 3)             # W_g                        (Eq. 8)
        self.memory0 = nn.Parameter(torch.randn(S, d) * 0.1)  # M_0

    def _fuse(self) -> dict[str, torch.Tensor]:
        d = self.d
        Wread, Wa, Wm, Wv = self.read_fc.weight(), self.fc_a.weight(), self.fc_m.weight(), self.fc_v.weight()
        Wca, Wcm, Wg1 = self.content_a.weight(), self.content_m.weight(), self.gate_fc.weight()
        W = {
            # hoisted: [FC_a | W^a] columns of i^a_t (d, 2d); motion likewise; i^q -> (v, m, a)
            "Wa_in": torch.cat([_cols(Wa, d, 2), _cols(Wca, d, 0)], 0).t(),
            "Wm_in": torch.cat([_cols(Wm, d, 2), _cols(Wcm, d, 0)], 0).t(),
            # h (3, R, d) @ Wh (3, d, 3d): [read ctrl | hidden update | content-or-gate] per state
            "Wh": torch.stack([
                torch.cat([_cols(Wread, d, 0), _cols(Wv, d, 1), _cols(Wg1, d, 0)], 0).t(),   # h^v
                torch.cat([_cols(Wread, d, 1), _cols(Wm, d, 1), _cols(Wcm, d, 1)], 0).t(),   # h^m
                torch.cat([_cols(Wread, d, 2), _cols(Wa, d, 1), _cols(Wca, d, 1)], 0).t(),   # h^a
            ]),
            "Wr": torch.cat([_cols(Wv, d, 0), _cols(Wm, d, 0), _cols(Wa, d, 0)], 0).t(),      # r -> (v, m, a)
            # c (2, R, d) @ Wc (2, d, S + d): [write weights U | gate columns], order (m, a)
            "Wc": torch.stack([torch.cat([self.write_m.weight(), _cols(Wg1, d, 1)], 0).t(),
                               torch.cat([self.write_a.weight(), _cols(Wg1, d, 2)], 0).t()]),
            "bU": torch.stack([self.write_m.bias, self.write_a.bias])[:, None, :],             # (2, 1, S)
            "We": self.read_out.weight(), "be": self.read_out.bias,
            "Wgo": self.gate_out.weight(), "bgo": self.gate_out.bias,
            "bread": self.read_fc.bias, "bg1": self.gate_fc.bias,
        }
        if self.text_augmented:
            W["Wq_in"] = torch.cat([_cols(Wv, d, 2), _cols(Wm, d, 3), _cols(Wa, d, 3)], 0).t()
        return W

    def forward(self, Ia: torch.Tensor, Im: torch.Tensor, iq: torch.Tensor | None,
                mask: torch.Tensor | None, trace: bool = False):
        """Ia, Im (R, N, d); iq (R, d) or None; mask (R, N) bool or None.

        Returns Vid (R, N, d) and, with ``trace``, a dict of (R, N, ·) tensors."""
        R, N, d = Ia.shape
        S = self.S
        W = fused_weights(self)
        Wh, Wr, Wc, bU, We, be, Wgo, bgo, bread, bg1 = (W[k] for k in ("Wh", "Wr", "Wc", "bU", "We", "be", "Wgo", "bgo", "bread", "bg1"))

        # ---- hoisted input-only terms, all steps at once --------------------------------
        # Appearance: [FC_a | W^a] columns for i^a_t -> (R, N, 2d); motion likewise.
        Pa = torch.matmul(Ia, W["Wa_in"])
        Pm = torch.matmul(Im, W["Wm_in"])
        ba, bm, bv = self.fc_a.bias, self.fc_m.bias, self.fc_v.bias
        if self.text_augmented:
            Q = iq @ W["Wq_in"]                                                             # (R, 3d)
            qv, qm, qa = Q.split(d, -1)
            bv, bm, ba = bv + qv, bm + qm, ba + qa                                          # (R, d)
        bv, bm, ba = (b.expand(R, d) for b in (bv, bm, ba))
        # Per-step additive inputs of the three hidden updates, order (v, m, a): (N, 3, R, d)
        hid_in = torch.stack([bv[:, None].expand(R, N, d), Pm[..., :d] + bm[:, None],
                              Pa[..., :d] + ba[:, None]], 0).permute(2, 0, 1, 3)
        # Content-gate inputs, order (m, a): (N, 2, R, d)
        con_in = torch.stack([Pm[..., d:] + self.content_m.bias, Pa[..., d:] + self.content_a.bias], 0).permute(2, 0, 1, 3)

        h = Ia.new_zeros(3, R, d)                              # (h^v, h^m, h^a) at t=0
        M = self.memory0.expand(R, S, d).contiguous()          # (R, S, d)
        keep = None if mask is None or bool(mask.all()) else mask.t()[..., None]   # (N, R, 1)
        outs, tr = [], ([], [], [], [], []) if trace else None
        hid_steps, con_steps = hid_in.unbind(0), con_in.unbind(0)
        for t in range(N):
            HP = torch.bmm(h, Wh)                                                   # (3, R, 3d)
            beta = (torch.tanh(HP[0, :, :d] + HP[1, :, :d] + HP[2, :, :d] + bread) @ We.t() + be).softmax(-1)  # (R, S) Eq. 1
            r = torch.bmm(beta[:, None, :], M).squeeze(1)                           # (R, d)   Eq. 2
            h_new = torch.tanh((r @ Wr).view(R, 3, d).transpose(0, 1) + HP[:, :, d:2 * d] + hid_steps[t])  # (3, R, d) Eq. 3-5
            c = torch.sigmoid(con_steps[t] + HP[1:, :, 2 * d:])                     # (2, R, d) c^m, c^a  Eq. 6
            CP = torch.bmm(c, Wc)                                                   # (2, R, S + d)
            alpha = (CP[:, :, :S] + bU).softmax(-1)                                 # (2, R, S) alpha^m, alpha^a  Eq. 7
            mu = (torch.tanh(HP[0, :, 2 * d:] + CP[0, :, S:] + CP[1, :, S:] + bg1) @ Wgo.t() + bgo).softmax(-1)  # (R, 3) Eq. 8
            # Eq. 9-10: M_t = mu0 M + mu1 alpha^a (x) c^a + mu2 alpha^m (x) c^m, as one baddbmm
            wsc = alpha * mu[:, [2, 1]].t()[..., None]                              # (2, R, S)
            M_new = torch.baddbmm(M * mu[:, :1, None], wsc.permute(1, 2, 0), c.transpose(0, 1))  # (R, S, d)
            if keep is not None:  # padded frame: carry every state through unchanged
                h_new = torch.where(keep[t], h_new, h)
                M_new = torch.where(keep[t][..., None], M_new, M)
            h, M = h_new, M_new
            outs.append(h[0])
            if trace:
                tr[0].append(beta); tr[1].append(alpha[1]); tr[2].append(alpha[0])
                tr[3].append(mu); tr[4].append(M.detach().norm(dim=-1))
        vid = torch.stack(outs, 1)                                                  # (R, N, d)
        if not trace:
            return vid, None
        names = ("visual_read", "visual_write_app", "visual_write_mot", "visual_gates", "visual_memory_norm")
        return vid, {k: torch.stack(v, 1) for k, v in zip(names, tr)}


class VideoAugmentedTextMemory(nn.Module):
    """Eq. 11-16: one step per word; reads and writes a textual memory M^q (S, d).

    ::

        h^q_{t-1}, i^q_t ─► read ctrl ─► beta^q ─► r = beta^q·M^q
        i^q_t, r, h^q_{t-1}, (i^a, i^m) ─► h^q_t            (Eq. 13)
        i^q_t, h^q_{t-1} ─► c^q ; c^q, h^q_{t-1} ─► alpha   (Eq. 14-15)
        M^q[i] = alpha[i] c^q + (1 - alpha[i]) M^q[i]       (Eq. 16)

    With ``video_augmented=False`` (ablation Mt) i^a, i^m are left out of FC_q. At padded
    positions no state changes.
    """

    def __init__(self, *, hidden: int, slots: int, video_augmented: bool, weight_norm: bool):
        super().__init__()
        d, S = hidden, slots
        self.d, self.S, self.video_augmented = d, S, video_augmented
        v = 2 if video_augmented else 0
        lin = lambda i, o: Linear(i, o, weight_norm=weight_norm)  # noqa: E731
        self.read_fc = lin(2 * d, d)            # FC[h^q, i^q_t]                    (Eq. 11)
        self.read_out = lin(d, S)               # V_e
        self.fc_q = lin((3 + v) * d, d)         # FC_q[i^q_t, r, h^q, (i^a, i^m)]   (Eq. 13)
        self.fc_c = lin(2 * d, d)               # FC_c[i^q_t, h^q]                  (Eq. 14)
        self.write_fc = lin(2 * d, d)           # FC[c^q, h^q]                      (Eq. 15)
        self.write_out = lin(d, S)              # v_a: d -> S
        self.memory0 = nn.Parameter(torch.randn(S, d) * 0.1)

    def _fuse(self) -> dict[str, torch.Tensor]:
        d = self.d
        Wr, Wq, Wc, Ww = self.read_fc.weight(), self.fc_q.weight(), self.fc_c.weight(), self.write_fc.weight()
        W = {
            "Wi": torch.cat([_cols(Wr, d, 1), _cols(Wq, d, 0), _cols(Wc, d, 0)], 0).t(),            # i^q_t (d, 3d)
            # h^q_{t-1} -> [read ctrl | FC_q | FC_c | write ctrl] (d, 4d)
            "Wh": torch.cat([_cols(Wr, d, 0), _cols(Wq, d, 2), _cols(Wc, d, 1), _cols(Ww, d, 1)], 0).t(),
            "Wqr": _cols(Wq, d, 1).t(),              # r -> FC_q
            "Wwc": _cols(Ww, d, 0).t(),              # c^q -> write ctrl
            "Ve": self.read_out.weight(), "Va": self.write_out.weight(),
        }
        if self.video_augmented:
            W["Wv_in"] = Wq[:, 3 * d:5 * d].t()    # [i^a, i^m] -> FC_q (2d, d)
        return W

    def forward(self, Iq: torch.Tensor, mask: torch.Tensor, ia: torch.Tensor | None,
                im: torch.Tensor | None, trace: bool = False):
        """Iq (R, T, d); mask (R, T) bool; ia, im (R, d) or None -> Tex (R, T, d), trace dict."""
        R, T, d = Iq.shape
        S = self.S
        W = fused_weights(self)
        Wh, Wqr, Wwc, Ve, Va = W["Wh"], W["Wqr"], W["Wwc"], W["Ve"], W["Va"]
        bw, be, ba = self.write_fc.bias, self.read_out.bias, self.write_out.bias
        # Hoisted: the i^q_t columns of the read controller, FC_q and FC_c -> (R, T, 3d)
        P = torch.matmul(Iq, W["Wi"])
        bq = self.fc_q.bias
        if self.video_augmented:
            bq = bq + torch.cat([ia, im], -1) @ W["Wv_in"]                      # (R, d)
        P = P + torch.cat([self.read_fc.bias.expand(R, d), bq.expand(R, d), self.fc_c.bias.expand(R, d)], -1)[:, None]

        h = Iq.new_zeros(R, d)
        M = self.memory0.expand(R, S, d).contiguous()
        keep = mask.t()[..., None]                   # (T, R, 1)
        full = bool(mask.all())
        outs, tr = [], ([], [], []) if trace else None
        for t, p in enumerate(P.unbind(1)):
            HP = h @ Wh                                                          # (R, 4d)
            beta = (torch.tanh(p[:, :d] + HP[:, :d]) @ Ve.t() + be).softmax(-1)  # (R, S) Eq. 11
            r = torch.bmm(beta[:, None, :], M).squeeze(1)                        # (R, d) Eq. 12
            h_new = torch.tanh(p[:, d:2 * d] + HP[:, d:2 * d] + r @ Wqr)         # Eq. 13
            c = torch.sigmoid(p[:, 2 * d:] + HP[:, 2 * d:3 * d])                 # Eq. 14
            alpha = (torch.tanh(c @ Wwc + HP[:, 3 * d:] + bw) @ Va.t() + ba).softmax(-1)  # (R, S) Eq. 15
            a = alpha[..., None]
            M_new = a * c[:, None, :] + (1 - a) * M                              # Eq. 16 (R, S, d)
            if not full:
                h_new = torch.where(keep[t], h_new, h)
                M_new = torch.where(keep[t][..., None], M_new, M)
            h, M = h_new, M_new
            outs.append(h)
            if trace:
                tr[0].append(beta); tr[1].append(alpha); tr[2].append(M.detach().norm(dim=-1))
        tex = torch.stack(outs, 1)                                               # (R, T, d)
        if not trace:
            return tex, None
        return tex, {k: torch.stack(v, 1) for k, v in zip(("text_read", "text_write", "text_memory_norm"), tr)}
