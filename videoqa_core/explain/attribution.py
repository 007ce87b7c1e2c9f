"""Attributions with captum: which frames and which words moved the answer.

    from videoqa_core.explain.attribution import attribute
    att = attribute(predictor, appearance, motion, "how many times does the red circle jump ?")
    att.appearance_ig, att.motion_ig      # (N,) signed, per frame
    att.word_ig, att.words                # (T,) aligned with the explained token row
    att.occlusion                         # (N,) score drop with the frame removed
    att.baselines, att.deltas             # what "absent" meant, IG's convergence deltas

Three methods, each on one scalar target (what is explained for each question kind):

    count   the raw output (before rounding)
    mc      the score of the predicted (or given) candidate's row
    open    the logit of the predicted (or given) answer

* ``ig``: Integrated Gradients on the appearance and motion features, attributions summed
  over the feature dimension per frame (appearance and motion kept apart). Baseline:
  zeros, or each video's own mean feature (``frame_baseline="mean"``: removes what
  changes over time and keeps what the video looks like on average).
* ``words``: LayerIntegratedGradients on ``model.embedding`` with a PAD-token baseline
  (PAD's embedding row is zero, so the baseline is "no word" at every position while the
  question keeps its length); summed over the embedding dimension.
* ``occlusion``: forward-only FeatureAblation, one frame at a time, features replaced by
  the frame baseline: ``score(x) - score(x without frame t)``, both streams together
  and each stream alone.

Why one row: a multiple-choice candidate's score depends only on the video and its own
(question + candidate) row (rows never mix inside the model), so the explained row is
run alone. Lengths and masks are ``additional_forward_args`` (IG would otherwise scale
them); the model stays in eval mode; on GPU cuDNN is switched off for the backward through
the LSTMs (its RNN backward refuses eval mode) instead of ``model.train()``, which would
turn dropout on and make attributions random.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import torch

from ..errors import UserError

METHODS = ("ig", "occlusion", "words")


@dataclass
class Attribution:
    """Per-frame and per-word attributions of one answer.

    kind:          count | mc | open
    target:        explained index: 0 for count, candidate index (mc), answer index (open)
    target_label:  the explained answer as text
    score:         the explained scalar at the input (raw count, candidate score, logit)
    appearance_ig: (N,) IG summed over appearance features per frame (None: not run)
    motion_ig:     (N,) IG summed over motion features per frame
    word_ig:       (T,) LIG summed over the embedding, T = len(words)
    words:         the explained row's tokens (question, + candidate for mc)
    occlusion:     (N,) score drop with the frame's appearance and motion ablated
    occlusion_appearance, occlusion_motion: (N,) the same, one stream at a time
    baselines:     method -> what the baseline was ("zeros", "video mean", "PAD")
    deltas:        IG convergence deltas: sum(attributions) - (f(x) - f(baseline))
    baseline_scores: method -> f(baseline)
    """
    kind: str
    target: int
    target_label: str
    score: float
    words: list[str]
    steps: int
    appearance_ig: Optional[np.ndarray] = None
    motion_ig: Optional[np.ndarray] = None
    word_ig: Optional[np.ndarray] = None
    occlusion: Optional[np.ndarray] = None
    occlusion_appearance: Optional[np.ndarray] = None
    occlusion_motion: Optional[np.ndarray] = None
    baselines: dict = field(default_factory=dict)
    deltas: dict = field(default_factory=dict)
    baseline_scores: dict = field(default_factory=dict)

    def frame_importance(self, method: str) -> np.ndarray:
        """Non-negative (N,) importance for grounding: |IG app| + |IG mot|, or |occlusion drop|.

        Absolute values: a frame that pushes the score down took part in the decision as
        much as one that pushes it up (and for count, "down" is not "less relevant")."""
        if method == "ig":
            if self.appearance_ig is None:
                raise ValueError("IG was not computed for this attribution")
            return np.abs(self.appearance_ig) + np.abs(self.motion_ig)
        if method == "occlusion":
            if self.occlusion is None:
                raise ValueError("occlusion was not computed for this attribution")
            return np.abs(self.occlusion)
        raise ValueError(f"unknown frame attribution method '{method}'")


class _Scalar(torch.nn.Module):
    """model(...) -> one scalar per example: the explained target (see module docstring).

    Inputs are one (question[+candidate]) row per example, so multiple choice scores come
    back as (b, 1)."""

    def __init__(self, model, kind: str, target: int):
        super().__init__()
        self.model, self.kind, self.target = model, kind, target

    def forward(self, appearance, motion, text, text_len, video_mask):
        b = appearance.shape[0]
        if text.shape[0] != b:                 # the text is the attributed input (LIG)
            appearance, motion, video_mask = (x.expand(text.shape[0], *x.shape[1:]) for x in (appearance, motion, video_mask))
        s = self.model(appearance, motion, text, text_len, video_mask).scores
        if self.kind == "count":
            return s.reshape(-1)                                   # (b,)
        if self.kind == "mc":
            return s[:, 0]                                         # (b, 1) -> (b,)
        return s[:, self.target]                                   # (b, A) -> (b,)


@contextlib.contextmanager
def _frozen(model):
    """Parameters without requires_grad while attributing: IG needs gradients with respect
    to the inputs only, and skipping the weight gradients roughly halves the backward."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, g in flags:
            p.requires_grad_(g)


def _device_of(model) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _rows(predictor_or_model, question, candidates):
    """(model, kind, token-id rows, token rows as words, labels per target, answers)."""
    from ..inference import Predictor
    from ..tasks import kind_of
    if isinstance(predictor_or_model, Predictor):
        p = predictor_or_model
        from ..data.dataset import encode_rows
        from ..data.vocab import tokenize
        if not tokenize(question):
            raise UserError("the question is empty: type a question")
        cands = list(candidates or []) if p.kind == "mc" else []
        if p.kind == "mc" and len(cands) != 5:
            raise UserError(f"a multiple-choice checkpoint needs 5 candidate answers (got {len(cands)})")
        source = "candidates" if p.config.model.baseline == "candidates-only" else "question"
        rows = encode_rows(question, cands, vocab=p.vocab, max_len=p.config.model.max_question_len, text_source=source)
        words = [p.vocab.decode(r) for r in rows]
        return p.model, p.kind, rows, words, cands, p.answers
    model = predictor_or_model
    kind = kind_of(model.cfg.task).name
    ids = np.asarray(question)
    rows = [list(map(int, r[r > 0])) for r in np.atleast_2d(ids)]   # padding (0) dropped
    if kind == "mc" and len(rows) != 5:
        raise ValueError(f"a multiple-choice model needs 5 token rows (got {len(rows)})")
    words = [[str(t) for t in r] for r in rows]
    return model, kind, rows, words, list(candidates or []), None


def _resolve_target(kind, target, cands, answers, full_scores) -> tuple[int, str]:
    if kind == "count":
        return 0, f"{float(full_scores.reshape(-1)[0]):.3f}"
    if target is None:
        idx = int(full_scores.argmax())
    elif isinstance(target, str):
        pool = cands if kind == "mc" else (answers or [])
        if target not in pool:
            raise UserError(f"target '{target}' is not among the {'candidates' if kind == 'mc' else 'answers'}")
        idx = pool.index(target)
    else:
        idx = int(target)
    n = full_scores.shape[-1]
    if not 0 <= idx < n:
        raise UserError(f"target {idx} is out of range (0..{n - 1})")
    label = cands[idx] if kind == "mc" and cands else (answers[idx] if kind == "open" and answers else str(idx))
    return idx, label


def attribute(predictor_or_model, appearance: np.ndarray, motion: np.ndarray, question, candidates: Sequence[str] | None = None,
              *, methods: Sequence[str] = METHODS, steps: int = 32, target=None, frame_baseline: str = "zeros",
              video_mask: np.ndarray | None = None, internal_batch_size: int | None = None) -> Attribution:
    """Attributions of one answer; see the module docstring.

    predictor_or_model: a :class:`~videoqa_core.inference.Predictor` (``question`` is text,
        ``candidates`` 5 strings for multiple choice) or a bare ``VideoQAModel`` in eval
        mode (``question``: token ids, (T,) or (5, T) for multiple choice; 0 = PAD).
    appearance (N, Da), motion (N, Dm): one video's features.
    target: None (the model's answer), an index, or an answer / candidate string.
    frame_baseline: "zeros" or "mean" (each stream's mean over the video's frames).
    """
    from captum.attr import FeatureAblation, IntegratedGradients, LayerIntegratedGradients

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise UserError(f"unknown attribution method(s) {', '.join(unknown)}: use {', '.join(METHODS)}")
    if frame_baseline not in ("zeros", "mean"):
        raise UserError(f"frame baseline '{frame_baseline}' is unknown: use zeros or mean")
    if steps < 2:
        raise UserError(f"IG needs at least 2 steps (got {steps})")
    model, kind, rows, words, cands, answers = _rows(predictor_or_model, question, candidates)
    if getattr(model, "video_free", False) and any(m in methods for m in ("ig", "occlusion")):
        raise UserError("this checkpoint is a video-free baseline: frame attributions do not exist; use methods=('words',)")
    model.eval()
    dev = _device_of(model)
    app = torch.as_tensor(np.ascontiguousarray(appearance, np.float32), device=dev)[None]          # (1, N, Da)
    mot = torch.as_tensor(np.ascontiguousarray(motion, np.float32), device=dev)[None]              # (1, N, Dm)
    N = app.shape[1]
    vm = torch.ones(1, N, dtype=torch.bool, device=dev) if video_mask is None else \
        torch.as_tensor(np.asarray(video_mask, bool), device=dev)[None]
    T = max(len(r) for r in rows)
    text_all = torch.zeros(len(rows), T, dtype=torch.long, device=dev)
    for i, r in enumerate(rows):
        text_all[i, :len(r)] = torch.tensor(r)
    len_all = torch.tensor([len(r) for r in rows], device=dev)

    with torch.no_grad():
        full = model(app, mot, text_all, len_all, vm).scores.float()[0].cpu()      # count (), mc (C,), open (A,)
    idx, label = _resolve_target(kind, target, cands, answers, full.reshape(-1) if kind == "count" else full)
    row = idx if kind == "mc" else 0
    text, tlen = text_all[row:row + 1], len_all[row:row + 1]                       # (1, T), (1,)
    f = _Scalar(model, kind, 0 if kind != "open" else idx)
    with torch.no_grad():
        score = float(f(app, mot, text, tlen, vm)[0])

    out = Attribution(kind=kind, target=idx, target_label=label, score=score, words=words[row], steps=steps)
    if frame_baseline == "zeros":
        base = (torch.zeros_like(app), torch.zeros_like(mot))
        base_name = "zeros"
    else:
        w = vm[..., None].float()
        n = w.sum(1, keepdim=True).clamp_min(1)
        base = ((app * w).sum(1, keepdim=True).div(n).expand_as(app).contiguous(),
                (mot * w).sum(1, keepdim=True).div(n).expand_as(mot).contiguous())
        base_name = "video mean"

    cuda = dev.type == "cuda"
    # cuDNN's RNN backward refuses eval mode; the native kernels give the same numbers.
    no_cudnn = torch.backends.cudnn.flags(enabled=False) if cuda else contextlib.nullcontext()
    with no_cudnn, _frozen(model):
        if "ig" in methods:
            ig = IntegratedGradients(f)
            (a_app, a_mot), delta = ig.attribute((app, mot), baselines=base, additional_forward_args=(text, tlen, vm),
                                                 n_steps=steps, internal_batch_size=internal_batch_size,
                                                 return_convergence_delta=True)
            out.appearance_ig = a_app[0].sum(-1).detach().float().cpu().numpy()          # (N,)
            out.motion_ig = a_mot[0].sum(-1).detach().float().cpu().numpy()              # (N,)
            out.deltas["ig"] = float(delta.reshape(-1)[0])
            out.baselines["ig"] = base_name
            with torch.no_grad():
                out.baseline_scores["ig"] = float(f(base[0], base[1], text, tlen, vm)[0])
        if "words" in methods:
            # LIG attributes the embedding output of its first input; the video rides along
            # as extra arguments, so the forward takes (text, app, ...) in this order.
            lig = LayerIntegratedGradients(lambda t, a, m, n, v: f(a, m, t, n, v), model.embedding)
            pad = torch.zeros_like(text)                                                # PAD id 0
            attr, delta = lig.attribute(text, baselines=pad, additional_forward_args=(app, mot, tlen, vm),
                                        n_steps=steps, internal_batch_size=internal_batch_size,
                                        return_convergence_delta=True)
            out.word_ig = attr[0, :int(tlen[0])].sum(-1).detach().float().cpu().numpy()   # (T,)
            out.deltas["words"] = float(delta.reshape(-1)[0])
            out.baselines["words"] = "PAD"
            with torch.no_grad():
                out.baseline_scores["words"] = float(f(app, mot, pad, tlen, vm)[0])
    if "occlusion" in methods:
        fa = FeatureAblation(f)
        ids = torch.arange(N, device=dev)[None, :, None]                                  # (1, N, 1)
        with torch.no_grad():
            both = fa.attribute((app, mot), baselines=base, additional_forward_args=(text, tlen, vm),
                                feature_mask=(ids, ids), perturbations_per_eval=N)
            apart = fa.attribute((app, mot), baselines=base, additional_forward_args=(text, tlen, vm),
                                 feature_mask=(ids, ids + N), perturbations_per_eval=N)
        out.occlusion = both[0][0, :, 0].float().cpu().numpy()                            # (N,)
        out.occlusion_appearance = apart[0][0, :, 0].float().cpu().numpy()
        out.occlusion_motion = apart[1][0, :, 0].float().cpu().numpy()
        out.baselines["occlusion"] = base_name
    return out
