"""The ONE registry of question kinds: which head, which loss, which metrics.

Every other module asks here instead of testing task names (``kind_of(task)``):

    count       TGIF-QA Count        head -> 1 real number   loss MSE       metrics: mse_rounded, mse_raw, exact_acc
    mc          Action, Transition   head -> 1 score per candidate row, [B, C]
                                                             loss hinge (Eq. 23)  metric: accuracy
    open        FrameQA, MSVD, MSRVTT head -> [B, A] logits  loss cross-entropy   metric: accuracy

Metrics are accumulated as raw sums (``MetricSums``) so that DDP can all-reduce them and
per-question-type tables can be summed; averages are taken only at the very end.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import UserError

COUNT_MIN, COUNT_MAX = 1, 10
NUM_CANDIDATES = 5


def count_target(answer: float | torch.Tensor):
    """TGIF-QA Count answers are 0 and 2..10; every public code maps 0 to 1 (and 10 means
    '10 or more'), so targets and metrics live on [1, 10]."""
    if isinstance(answer, torch.Tensor):
        return answer.clamp(COUNT_MIN, COUNT_MAX)
    return float(min(max(answer, COUNT_MIN), COUNT_MAX))


def count_prediction(raw: torch.Tensor) -> torch.Tensor:
    """Rounded and clamped to [1, 10], as the metric of ST-VQA/HCRN/PSAC defines it."""
    return raw.round().clamp(COUNT_MIN, COUNT_MAX)


@dataclass(frozen=True)
class Kind:
    name: str
    metric_names: tuple[str, ...]
    selection_metric: str        # what model selection on validation optimises
    higher_is_better: bool

    # -- loss ---------------------------------------------------------------------------
    def loss(self, scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.name == "count":
            return F.mse_loss(scores.float(), count_target(target.float()))
        if self.name == "mc":
            # Eq. 23: sum over the wrong candidates of max(0, 1 - s_p + s_n), mean over batch.
            s = scores.float()                                          # (B, C)
            pos = s.gather(1, target[:, None])                          # (B, 1)
            hinge = (1.0 - pos + s).clamp_min(0.0)                      # (B, C)
            hinge = hinge.masked_fill(F.one_hot(target, s.shape[1]).bool(), 0.0)
            return hinge.sum(1).mean()
        # open-ended: answers outside the vocabulary (-1) carry no training signal
        valid = target >= 0
        if not bool(valid.any()):
            return scores.sum() * 0.0
        return F.cross_entropy(scores.float()[valid], target[valid])

    # -- predictions --------------------------------------------------------------------
    def predict(self, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(prediction, confidence) per sample.

        count: (rounded+clamped count, raw output); mc: (argmax candidate, softmax margin
        probability of it over the 5 scores); open: (argmax answer, its probability)."""
        if self.name == "count":
            return count_prediction(scores.float()), scores.float()
        probs = scores.float().softmax(-1)
        conf, pred = probs.max(-1)
        return pred, conf

    def correct(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.name == "count":
            return pred == count_target(target.float())
        return (pred == target) & (target >= 0)   # out-of-vocabulary answers are wrong

    # -- metric sums --------------------------------------------------------------------
    def sums(self, scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Raw sums for one batch, a 1-D float64 tensor aligned with ``sum_names``."""
        pred, _ = self.predict(scores)
        n = float(target.shape[0])
        correct = self.correct(pred, target).double().sum()
        if self.name == "count":
            t = count_target(target.double())
            return torch.stack([torch.tensor(n, dtype=torch.float64), correct,
                                ((pred.double() - t) ** 2).sum(),
                                ((scores.double() - t) ** 2).sum()])
        return torch.stack([torch.tensor(n, dtype=torch.float64), correct])

    @property
    def sum_names(self) -> tuple[str, ...]:
        return ("n", "correct", "sq_err_rounded", "sq_err_raw") if self.name == "count" else ("n", "correct")

    def metrics_from_sums(self, sums) -> dict[str, float]:
        s = dict(zip(self.sum_names, [float(x) for x in sums]))
        n = max(s["n"], 1.0)
        if self.name == "count":
            return {"n": int(s["n"]), "mse_rounded": s["sq_err_rounded"] / n,
                    "mse_raw": s["sq_err_raw"] / n, "exact_acc": s["correct"] / n}
        return {"n": int(s["n"]), "accuracy": s["correct"] / n}


KINDS = {
    "count": Kind("count", ("mse_rounded", "mse_raw", "exact_acc"), "mse_rounded", False),
    "mc": Kind("mc", ("accuracy",), "accuracy", True),
    "open": Kind("open", ("accuracy",), "accuracy", True),
}
TASK_KIND = {"count": "count", "action": "mc", "transition": "mc", "frameqa": "open", "open": "open"}


def kind_of(task: str) -> Kind:
    if task not in TASK_KIND:
        raise UserError(f"task '{task}' is unknown: use one of {', '.join(TASK_KIND)}")
    return KINDS[TASK_KIND[task]]
