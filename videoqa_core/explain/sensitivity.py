"""Sensitivity: does a model use the order of the frames, the video at all, a question word?

    python -m videoqa_core sensitivity --checkpoint CKPT --split test
        [--edits reverse shuffle blank swap:after=before] [--limit K] [--seed 0] [--json]

Every edit is applied to every question of the split it concerns, and the edited split is
answered again, batched as ``evaluate`` answers it. The edits are the Counterfactuals
page's, for a whole split instead of one question (:mod:`.counterfactual`):

    reverse       the sampled frames in reverse order
    shuffle       the frames in a random order (one permutation per video, from --seed)
    blank         every frame's features zeroed: the video is there, nothing shows
    swap:A=B      the words A and B trade places in the question (whole words, any case);
                  only questions holding A or B are asked

Per edit and per task / question type: ``n``, the metric before and after (accuracy, or
Count's mean L2 loss) and ``changed``, the share of questions whose answer changed. Count
has two more columns, because a rounded count flips on a small move of the raw output:
``shift``, the mean change of the raw count (after - before), and ``corr``, the Pearson
correlation of the raw counts before and after. A model that still counts keeps ``corr``
high even where ``shift`` moves many answers by one: on the demo's Count model, reversing
the frames changes 45 % of the answers, yet ``shift`` is +0.41 and ``corr`` 0.93 (its raw
output's correlation with the truth is 0.71 before and 0.72 after).

How to read it: a model that uses the order of events must change its Transition answers
when the frames are reversed ("after" and "before" trade places) and keep its Count
answers; a Transition answer that survives ``swap:after=before`` ignores the direction
word; ``blank`` says how much the answers need the video at all. On the demo's Transition
model, ``swap:after=before`` leaves 96 % of the answers as they were (README, demo).
"""
from __future__ import annotations

import dataclasses
import json
import re
import zlib
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from ..data.vocab import tokenize
from ..errors import UserError
from ..tasks import kind_of
from . import counterfactual as cf

FRAME_EDITS = ("reverse", "shuffle", "blank")
DEFAULT_EDITS = ("reverse", "shuffle", "blank", "swap:after=before")


@dataclasses.dataclass(frozen=True)
class Edit:
    name: str                       # as given: reverse | shuffle | blank | swap:A=B
    words: tuple[str, str] = ()     # swap only, lowercased


def parse_edit(text: str) -> Edit:
    """``reverse``, ``shuffle``, ``blank`` or ``swap:A=B``; anything else is a one-line error."""
    if text in FRAME_EDITS:
        return Edit(text)
    m = re.fullmatch(r"swap:([A-Za-z0-9']+)=([A-Za-z0-9']+)", text)
    if m and m[1].lower() != m[2].lower():
        return Edit(text, (m[1].lower(), m[2].lower()))
    raise UserError(f"edit '{text}' is unknown: use {', '.join(FRAME_EDITS)} or swap:WORD=OTHER (two different words)")


def swap_words(question: str, a: str, b: str) -> str:
    """``question`` with the whole words a and b traded (case-insensitive, spacing kept)."""
    def flip(m: re.Match) -> str:
        w = m[0]
        return b if w.lower() == a else a
    return re.sub(rf"(?i)\b({re.escape(a)}|{re.escape(b)})\b", flip, question)


class EditedFeatures:
    """A feature store whose ``get`` returns every video's frames edited (a frame edit)."""

    def __init__(self, store, edit: str, seed: int = 0):
        self.store, self.edit, self.seed = store, edit, seed

    def get(self, video_id: str) -> tuple[np.ndarray, np.ndarray]:
        app, mot = self.store.get(video_id)
        if self.edit == "reverse":
            e = cf.reverse_frames(app, mot)
        elif self.edit == "shuffle":
            # one fixed permutation per video, the same in every run with this seed
            e = cf.shuffle_frames(app, mot, seed=self.seed * 1_000_003 + zlib.crc32(video_id.encode()))
        else:
            e = cf.mask_frames(app, mot, list(range(len(app))), mode="zeros")
        return e.appearance, e.motion

    def __getattr__(self, name):        # ids(), attrs, ... as the store has them
        return getattr(self.store, name)


def _answer(predictor, records, store, batch_size: int) -> pd.DataFrame:
    from ..data.pipeline import make_dataset
    from ..evaluate import predict, predictions_frame
    ds = make_dataset(records, store, predictor.config, predictor.vocab, predictor.answers)
    scores = predict(predictor.model, ds, batch_size=batch_size, device=predictor.device, amp=False)
    return predictions_frame(ds, scores, predictor.answers)


def _metric(df: pd.DataFrame, task: str) -> float:
    from ..evaluate import metrics_table
    return float(metrics_table(df.reset_index(), task)["overall"][kind_of(task).selection_metric])


def sensitivity(predictor, records, store, edits: Sequence[Edit], *, seed: int = 0, batch_size: int = 64) -> pd.DataFrame:
    """One row per (edit, group): group ``all`` and every question type. Columns: edit,
    group, n, metric, before, after, changed, and for Count shift and corr."""
    if not records:
        raise UserError("no questions to edit")
    task = predictor.task
    metric = kind_of(task).selection_metric           # accuracy, or Count's mse_rounded
    base = _answer(predictor, records, store, batch_size).set_index("qid")
    count = kind_of(task).name == "count"
    columns = ["edit", "group", "n", "metric", "before", "after", "changed"] + (["shift", "corr"] if count else [])
    rows = []
    for edit in edits:
        if edit.words:
            a, b = edit.words
            asked = [r for r in records if {a, b} & set(tokenize(r.question))]
            if not asked:
                rows.append({"edit": edit.name, "group": "all", "n": 0, "metric": metric, "before": np.nan,
                             "after": np.nan, "changed": np.nan})
                continue
            edited = [dataclasses.replace(r, question=swap_words(r.question, a, b)) for r in asked]
            after = _answer(predictor, edited, store, batch_size)
        else:
            asked = list(records)
            after = _answer(predictor, asked, EditedFeatures(store, edit.name, seed), batch_size)
        after = after.set_index("qid")
        before = base.loc[after.index]
        changed = before["prediction"] != after["prediction"]
        groups = [("all", slice(None))] + [(q, (before["qtype"] == q).to_numpy()) for q in sorted(before["qtype"].unique())]
        for name, sel in groups:
            b, a_ = before[sel], after[sel]
            if name != "all" and len(groups) == 2:
                continue                      # one question type: its row would repeat "all"
            row = {"edit": edit.name, "group": name, "n": int(len(b)), "metric": metric,
                   "before": _metric(b, task), "after": _metric(a_, task), "changed": float(changed[sel].mean())}
            if count:  # "score" is the raw (unrounded) count
                s0, s1 = b["score"].to_numpy(float), a_["score"].to_numpy(float)
                row["shift"] = float((s1 - s0).mean())
                row["corr"] = _pearson(s0, s1)
            rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """NaN where it is undefined (fewer than 2 questions, or a constant output)."""
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def format_table(df: pd.DataFrame) -> str:
    extra = [c for c in ("shift", "corr") if c in df.columns]
    head = f"{'edit':<20} {'group':<12} {'n':>5} {'metric':<12} {'before':>8} {'after':>8} {'changed':>8}"
    lines = [head + "".join(f" {c:>8}" for c in extra), "-" * (79 + 9 * len(extra))]
    for r in df.to_dict("records"):
        num = lambda v: "       –" if pd.isna(v) else f"{v:8.3f}"  # noqa: E731
        lines.append(f"{r['edit']:<20} {r['group']:<12} {r['n']:>5} {r['metric']:<12} {num(r['before'])} "
                     f"{num(r['after'])} {num(r['changed'])}" + "".join(f" {num(r[c])}" for c in extra))
    return "\n".join(lines)


def configure(p) -> None:
    p.add_argument("--checkpoint", required=True, help="best.pt / last.pt, or a run folder")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--edits", nargs="+", default=list(DEFAULT_EDITS), metavar="EDIT",
                   help=f"{', '.join(FRAME_EDITS)}, swap:WORD=OTHER (default: {' '.join(DEFAULT_EDITS)})")
    p.add_argument("--limit", type=int, help="only the first K questions of the split")
    p.add_argument("--seed", type=int, default=0, help="seed of the shuffle edit")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print the table as JSON records")


def main(args) -> int:
    from ..inference import Predictor
    edits = [parse_edit(e) for e in args.edits]          # refuse a bad edit before loading anything
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit {args.limit}: use 1 or more")
    predictor = Predictor.load(args.checkpoint, device=args.device)
    records = predictor.records(args.split)
    if not records:
        raise UserError(f"the {args.split} split of {predictor.config.data.annotations} is empty")
    records = records[: args.limit] if args.limit else records
    table = sensitivity(predictor, records, predictor.feature_store(), edits, seed=args.seed,
                        batch_size=args.batch_size)
    if args.json:
        print(json.dumps({"checkpoint": predictor.path, "split": args.split, "task": predictor.task,
                          "questions": len(records),
                          # NaN (an edit that asked nothing) as null: strict JSON readers refuse NaN
                          "rows": table.astype(object).where(table.notna(), None).to_dict("records")},
                         indent=1, default=float))
    else:
        print(format_table(table))
        print(f"{len(records)} {args.split} questions of {predictor.path}; changed = share of answers that changed")
    return 0
