"""The VideoQA model of the paper (spec sections 1-5), every Table-1 variant by config.

::

    F^a ─LSTM─► I^a ─┐                     ┌─► Vid ─► video SA ─► V0 ─┐
    F^m ─LSTM─► I^m ─┼─► visual memory ────┘                          ├─► co-attention ─► O ─► pool ─► head
    words ─emb─LSTM─► I^q ─► textual memory ─► Tex ─► text SA ─► T0 ──┘
            (i^q feeds the visual memory; i^a, i^m feed the textual memory)

Rows: count / open-ended questions are one row each; a multiple-choice question is C=5
rows (question+candidate_c), candidate-major within a sample (row b*C + c), so the whole
model runs batched over 5B rows and the head's scores reshape to (B, C). The video
encoders do not depend on the text, so they run on B rows and are repeated.

Baselines (honest bias checks): ``question-only`` never sees the video (text branch only);
``candidates-only`` is fed the candidate tokens without the question (the data side builds
those tokens) and no video.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn

from ..config import ModelConfig
from ..tasks import NUM_CANDIDATES, kind_of
from .layers import Linear, attention, last_valid, masked_max, masked_mean, masked_softmax
from .memory import TextAugmentedVisualMemory, VideoAugmentedTextMemory
from .trace import Trace


def run_lstm(lstm: nn.LSTM, x: torch.Tensor) -> torch.Tensor:
    """nn.LSTM output (R, L, d), choosing the CPU kernel by batch size.

    Measured on 2 CPU threads, one question (1 x 35 x 4096 -> 512): oneDNN's fused LSTM
    56 ms, ATen's own 23 ms; at training batches oneDNN is the faster one. So small
    no-grad batches (the dashboard's one question) take ATen's kernel."""
    if x.device.type == "cpu" and x.shape[0] <= 8 and not torch.is_grad_enabled():
        with warnings.catch_warnings():  # flags() warns about Intel-GPU TF32, irrelevant here
            warnings.simplefilter("ignore", UserWarning)
            with torch.backends.mkldnn.flags(enabled=False):
                return lstm(x)[0]
    return lstm(x)[0]


@dataclass
class ModelOutput:
    scores: torch.Tensor            # count (B,) | multiple choice (B, C) | open-ended (B, A) logits
    trace: Optional[Trace] = None


class SelfAttention(nn.Module):
    """Eq. 17-18: Attn(X W^q, X W^k, X W^v) with key padding masked; one fused QKV matmul."""

    def __init__(self, *, hidden: int, heads: int, weight_norm: bool):
        super().__init__()
        self.qkv = Linear(hidden, 3 * hidden, weight_norm=weight_norm)
        self.heads = heads

    def forward(self, x, mask):
        q, k, v = self.qkv(x).chunk(3, -1)
        return attention(q, k, v, mask, self.heads)


class VideoQAModel(nn.Module):
    def __init__(self, cfg: ModelConfig, *, embedding: Optional[torch.Tensor] = None):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.kind = kind_of(cfg.task)
        d, wn = cfg.hidden, cfg.weight_norm
        vis_aug, txt_aug, vsa, tsa, co = cfg.flags
        self.video_free = cfg.baseline != "none"
        self.use_vsa, self.use_tsa, self.coattn = vsa, tsa, co

        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=0)
        if embedding is not None:
            self.embedding.weight.data.copy_(embedding)
        self.text_lstm = nn.LSTM(cfg.embed_dim, d, batch_first=True)
        self.q_summary = Linear(d, d, weight_norm=wn)                       # W_q
        self.text_memory = VideoAugmentedTextMemory(hidden=d, slots=cfg.text_slots,
                                                    video_augmented=txt_aug and not self.video_free, weight_norm=wn)
        if tsa:
            self.text_sa = SelfAttention(hidden=d, heads=cfg.heads, weight_norm=wn)
        if not self.video_free:
            self.app_lstm = nn.LSTM(cfg.appearance_dim, d, batch_first=True)
            self.mot_lstm = nn.LSTM(cfg.motion_dim, d, batch_first=True)
            self.a_summary = Linear(d, d, weight_norm=wn)                   # W_a
            self.m_summary = Linear(d, d, weight_norm=wn)                   # W_m
            self.visual_memory = TextAugmentedVisualMemory(hidden=d, slots=cfg.visual_slots,
                                                           text_augmented=vis_aug, weight_norm=wn)
            if vsa:
                self.video_sa = SelfAttention(hidden=d, heads=cfg.heads, weight_norm=wn)
            if co != "none":
                # W^q_A, W^q_B read a row of the affinity Sm (T_max wide) -> d (spec 4).
                self.v2t_q = Linear(cfg.max_question_len, d, weight_norm=wn)
                self.v2t_kv = Linear(d, 2 * d, weight_norm=wn)
            if co == "both":
                self.t2v_q = Linear(cfg.max_question_len, d, weight_norm=wn)
                self.t2v_kv = Linear(d, 2 * d, weight_norm=wn)
        fused = d if self.video_free else {"none": 2 * d, "v2t": 3 * d, "both": 4 * d}[co]
        if cfg.pooling == "attention":
            self.pool_video = Linear(fused if co != "none" else d, 1, weight_norm=wn)
            self.pool_text = Linear(d, 1, weight_norm=wn)
        self.dropout = nn.Dropout(cfg.dropout)
        out = cfg.num_answers if self.kind.name == "open" else 1
        if out < 1:
            raise ValueError("an open-ended model needs cfg.num_answers >= 1")
        self.head = Linear(fused, out, weight_norm=wn)
        if cfg.mc_head == "candidate":                                      # P: word space -> fused
            self.cand_proj = Linear(cfg.embed_dim, fused, weight_norm=wn)

    # ------------------------------------------------------------------------------------
    def _pool(self, x, mask, scorer):
        if self.cfg.pooling == "mean":
            return masked_mean(x, mask)
        if self.cfg.pooling == "max":
            return masked_max(x, mask)
        w = masked_softmax(scorer(x).squeeze(-1), mask)                    # (R, L)
        return (w[..., None] * x).sum(1)

    def _self_attend(self, sa: SelfAttention, x, mask):
        """Eq. 17-18, x (R, L, d) -> (R, L, d) and the map (R, L, L).

        Without the residual, a uniform map makes every output row the same mean of the
        values: measured on the demo's warm Action model, V0 varies across frames by 3e-9 of
        its variance across videos, so Sm, A and Bv (Eq. 19-21) are one row repeated.
        ``model.attention_residual`` keeps x, as the non-local block does."""
        out, w = sa(x, mask)
        return (x + out if self.cfg.attention_residual else out), w

    def encode_video(self, appearance, motion, video_mask):
        """LSTM encoders: F^a (B, N, Da), F^m (B, N, Dm) -> I^a, I^m (B, N, d), i^a, i^m (B, d)."""
        Ia = run_lstm(self.app_lstm, appearance)
        Im = run_lstm(self.mot_lstm, motion)
        if self.cfg.video_summary == "mean":
            sa, sm = masked_mean(Ia, video_mask), masked_mean(Im, video_mask)
        else:
            n = video_mask.sum(1)
            sa, sm = last_valid(Ia, n), last_valid(Im, n)
        return Ia, Im, self.a_summary(sa), self.m_summary(sm)

    def forward(self, appearance: torch.Tensor, motion: torch.Tensor, text: torch.Tensor,
                text_len: torch.Tensor, video_mask: Optional[torch.Tensor] = None, *,
                trace: bool = False) -> ModelOutput:
        """appearance (B, N, Da), motion (B, N, Dm), text (R, T) token ids, text_len (R,),
        video_mask (B, N) bool (None: all frames real). R = B, or B*C for multiple choice."""
        cfg = self.cfg
        B, N = appearance.shape[:2]
        R, T = text.shape
        per = R // B                                   # rows per sample: 1, or C candidates
        if T < cfg.max_question_len:                   # W^q_A needs exactly T_max columns of Sm
            text = torch.nn.functional.pad(text, (0, cfg.max_question_len - T))
        elif T > cfg.max_question_len:
            raise ValueError(f"text has {T} tokens, more than model.max_question_len={cfg.max_question_len}")
        T = cfg.max_question_len
        text_mask = torch.arange(T, device=text.device)[None, :] < text_len[:, None]    # (R, T)
        if video_mask is None:
            video_mask = torch.ones(B, N, dtype=torch.bool, device=appearance.device)

        E = self.embedding(text)                                                        # (R, T, e)
        Iq = run_lstm(self.text_lstm, E)                                                # (R, T, d)
        summary = last_valid(Iq, text_len) if cfg.question_summary == "last" else masked_mean(Iq, text_mask)
        iq = self.q_summary(summary)                                                    # (R, d)

        t = {}
        if self.video_free:
            Tex, tt = self.text_memory(Iq, text_mask, None, None, trace)
            T0, t["text_self_attn"] = self._self_attend(self.text_sa, Tex, text_mask) if self.use_tsa else (Tex, None)
            fused = self._pool(T0, text_mask, getattr(self, "pool_text", None))        # (R, d)
        else:
            Ia, Im, ia, im = self.encode_video(appearance, motion, video_mask)
            if per > 1:  # video encoders ran on B rows; candidates share them
                Ia, Im, ia, im, video_mask = (x.repeat_interleave(per, 0) for x in (Ia, Im, ia, im, video_mask))
            Vid, vt = self.visual_memory(Ia, Im, iq, video_mask, trace)                 # (R, N, d)
            if cfg.memory_residual:                                                     # Vid = h^v + I^a + I^m
                Vid = Vid + Ia + Im
            Tex, tt = self.text_memory(Iq, text_mask, ia, im, trace)                    # (R, T, d)
            t.update(vt or {})
            V0, t["video_self_attn"] = self._self_attend(self.video_sa, Vid, video_mask) if self.use_vsa else (Vid, None)
            T0, t["text_self_attn"] = self._self_attend(self.text_sa, Tex, text_mask) if self.use_tsa else (Tex, None)
            if self.coattn == "none":
                fused = torch.cat([self._pool(V0, video_mask, getattr(self, "pool_video", None)),
                                   self._pool(T0, text_mask, getattr(self, "pool_text", None))], -1)   # (R, 2d)
            else:
                Sm = (V0 @ T0.transpose(1, 2)) * text_mask[:, None, :].to(V0.dtype)     # (R, N, T) Eq. 19
                k, v = self.v2t_kv(T0).chunk(2, -1)
                A, t["v2t_attn"] = attention(self.v2t_q(Sm), k, v, text_mask, cfg.heads)   # (R, N, d), (R, N, T) Eq. 20
                parts = [V0, A, V0 * A]
                if self.coattn == "both":
                    k, v = self.t2v_kv(V0).chunk(2, -1)
                    Bv, t["t2v_attn"] = attention(self.t2v_q(Sm), k, v, video_mask, cfg.heads)  # (R, N, d), (R, N, N) Eq. 21
                    parts.append(V0 * Bv)
                O = torch.cat(parts, -1)                                                 # (R, N, 4d) Eq. 22
                fused = self._pool(O, video_mask, getattr(self, "pool_video", None))
                t["affinity"] = Sm
        fused = self.dropout(fused)
        scores = self.head(fused)                                                        # (R, out)
        if cfg.mc_head == "candidate":   # + f_c . P mean_t(e_t): the row's answer vector (config.mc_head)
            scores = scores + (fused * self.cand_proj(masked_mean(E, text_mask))).sum(-1, keepdim=True)
        if self.kind.name == "count":
            scores = scores.squeeze(-1)                                                  # (B,)
        elif self.kind.name == "mc":
            scores = scores.view(B, per)                                                 # (B, C)
        if not trace:
            return ModelOutput(scores)
        t.update(tt or {})
        if self.video_free:
            video_mask = video_mask.repeat_interleave(per, 0)
        tr = Trace(video_mask=video_mask, text_mask=text_mask,
                   **{k_: t.get(k_) for k_ in ("visual_read", "visual_write_app", "visual_write_mot", "visual_gates",
                                               "visual_memory_norm", "text_read", "text_write", "text_memory_norm",
                                               "video_self_attn", "text_self_attn", "affinity", "v2t_attn", "t2v_attn")})
        return ModelOutput(scores, tr)


def expected_rows(task: str, batch: int) -> int:
    return batch * (NUM_CANDIDATES if kind_of(task).name == "mc" else 1)
