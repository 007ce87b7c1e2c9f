"""Evaluate a checkpoint: metrics per task and question type, and a predictions file.

    python -m videoqa_core evaluate --checkpoint runs/count/best.pt --split test \\
        [--annotations DIR] [--features FEATS.h5] [--out runs/count/predictions_test.parquet]

Writes the predictions (one row per question, Parquet, ``pandas.read_parquet`` reads it)
and ``metrics_<split>.json`` beside it, and prints the table. Count reports three numbers,
named for what they are: ``mse_rounded`` (MSE of the prediction rounded and clamped to
[1, 10], answers 0 mapped to 1: the TGIF-QA metric), ``mse_raw`` (MSE of the raw output)
and ``exact_acc``. Open-ended answers outside the answer vocabulary count as wrong; the
coverage is reported.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from . import distributed as dist
from .checkpoint import build_model, load_checkpoint
from .data.dataset import QADataset, collate
from .data.pipeline import check_dims, load_splits, make_dataset, open_store
from .data.vocab import Vocab, tokenize
from .errors import UserError
from .tasks import count_target, kind_of
from .devices import autocast, resolve_device


def configure(p) -> None:
    p.add_argument("--checkpoint", required=True, help="best.pt / last.pt, or a run folder")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--annotations", help="override the annotation folder stored in the checkpoint")
    p.add_argument("--features", help="override the feature store stored in the checkpoint")
    p.add_argument("--out", help="predictions file (.parquet or .csv); default: beside the checkpoint")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto")


@torch.no_grad()
def predict(model, dataset: QADataset, *, batch_size: int = 64, device="cpu", amp: bool = True) -> list[np.ndarray]:
    """Scores per question, in dataset order: count (), multiple choice (C,), open (A,) logits.
    Under DDP each rank scores its shard and the shards are gathered."""
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, sampler=dist.ShardSampler(len(dataset)), collate_fn=collate)
    out: dict[int, np.ndarray] = {}
    for batch in loader:
        b = batch.to(device)
        with autocast(torch.device(device), amp):
            scores = model(**b.inputs()).scores.float().cpu().numpy()
        for i, s in zip(batch.index.tolist(), scores):
            out[i] = s
    merged: dict[int, np.ndarray] = {}
    for part in dist.all_gather_objects(out):
        merged.update(part)
    return [merged[i] for i in range(len(dataset))]


def predictions_frame(dataset: QADataset, scores: list[np.ndarray], answers) -> pd.DataFrame:
    """One row per question: the file the dashboard reads."""
    kind = dataset.kind
    recs = dataset.records
    base = {"qid": [r.qid for r in recs], "video_id": [r.video_id for r in recs],
            "question": [r.question for r in recs], "task": [r.task for r in recs],
            "qtype": [r.qtype for r in recs], "answer": [r.answer for r in recs],
            "question_len": [len(tokenize(r.question)) for r in recs]}
    S = np.stack(scores) if scores else np.zeros((0,))
    if kind.name == "count":
        raw = S.astype(np.float64)
        pred = np.clip(np.round(raw), 1, 10)
        truth = np.array([count_target(float(r.answer)) for r in recs])
        # A regression has no probability: "confidence" is how close the raw output sits
        # to the count it was rounded to (0 = exactly on it, -0.5 = on the fence).
        extra = {"prediction": [str(int(p)) for p in pred], "correct": pred == truth,
                 "confidence": -np.abs(raw - pred), "score": raw, "target": truth}
    elif kind.name == "mc":
        probs = torch.from_numpy(S).softmax(-1).numpy()
        idx = S.argmax(-1)
        extra = {"prediction": [r.candidates[i] for r, i in zip(recs, idx)],
                 "prediction_index": idx, "answer_index": [r.answer_index for r in recs],
                 "correct": idx == np.array([r.answer_index for r in recs]),
                 "confidence": probs.max(-1), "score": S.max(-1),
                 "candidates": [list(r.candidates) for r in recs], "candidate_scores": [list(map(float, s)) for s in S]}
    else:
        probs = torch.from_numpy(S).softmax(-1).numpy()
        idx = probs.argmax(-1)
        in_vocab = np.array([r.answer in dataset.answer_index for r in recs])
        pred = [answers[i] for i in idx]
        extra = {"prediction": pred, "correct": np.array([p == r.answer for p, r in zip(pred, recs)]) & in_vocab,
                 "confidence": probs.max(-1), "score": probs.max(-1), "answer_in_vocab": in_vocab}
    return pd.DataFrame({**base, **extra})


def metrics_table(df: pd.DataFrame, task: str) -> dict:
    """Overall and per-question-type metrics from a predictions frame."""
    kind = kind_of(task)

    def block(g: pd.DataFrame) -> dict:
        if kind.name == "count":
            err = (g["prediction"].astype(float) - g["target"]) ** 2
            return {"n": len(g), "mse_rounded": float(err.mean()), "mse_raw": float(((g["score"] - g["target"]) ** 2).mean()),
                    "exact_acc": float(g["correct"].mean())}
        m = {"n": len(g), "accuracy": float(g["correct"].mean())}
        if "answer_in_vocab" in g:
            m["answer_coverage"] = float(g["answer_in_vocab"].mean())
        return m

    if df.empty:
        return {"overall": {"n": 0}, "by_qtype": {}}
    return {"overall": block(df), "by_qtype": {str(k): block(g) for k, g in df.groupby("qtype", sort=True)}}


def write_predictions(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if path.suffix == ".csv":
        df2 = df.copy()
        for col in ("candidates", "candidate_scores"):
            if col in df2:
                df2[col] = df2[col].map(json.dumps)
        df2.to_csv(tmp, index=False)
    else:
        df.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return path


def format_table(metrics: dict, task: str) -> str:
    names = kind_of(task).metric_names
    rows = [("all", metrics["overall"])] + sorted(metrics["by_qtype"].items())
    head = f"{'question type':<16}{'n':>8}" + "".join(f"{n:>14}" for n in names)
    lines = [head, "-" * len(head)]
    for name, m in rows:
        lines.append(f"{name:<16}{m['n']:>8}" + "".join(f"{m.get(n, float('nan')):>14.4f}" for n in names))
    if "answer_coverage" in metrics["overall"]:
        lines.append(f"answer coverage (answers inside the vocabulary): {metrics['overall']['answer_coverage']:.4f}")
    return "\n".join(lines)


def evaluate_checkpoint(checkpoint: str, split: str, *, annotations=None, features=None, batch_size=64, device="auto"):
    ckpt = load_checkpoint(checkpoint)
    cfg, model = build_model(ckpt)
    if annotations:
        cfg.data.annotations = annotations
    if features:
        cfg.data.features = features
    dev = resolve_device(device)
    # data.train_extra (more training questions) only joins the train split
    splits = load_splits(cfg.data, extra=split == "train")
    records = splits.get(split) or []
    if not records:
        raise UserError(f"the {split} split of {cfg.data.annotations} is empty or missing")
    store = open_store(cfg.data.features, records, cfg.data.train_extra_features if split == "train" else "")
    check_dims(store, cfg.model)
    ds = make_dataset(records, store, cfg, Vocab.from_list(ckpt["vocab"]), ckpt.get("answers"))
    scores = predict(model.to(dev), ds, batch_size=batch_size, device=dev, amp=cfg.train.amp)
    df = predictions_frame(ds, scores, ckpt.get("answers"))
    return ckpt, cfg, df, metrics_table(df, cfg.data.task)


def run_evaluation(checkpoint: str, split: str, *, out=None, annotations=None, features=None, batch_size=64,
                   device="auto") -> dict:
    """Evaluate, write the predictions file and ``metrics_<split>.json`` beside it, print
    the table; returns the metrics. What ``evaluate`` and ``train --evaluate`` both run."""
    if out is not None and Path(out).suffix not in (".parquet", ".csv"):
        raise UserError(f"--out {out}: use a .parquet or .csv file name")
    ckpt, cfg, df, metrics = evaluate_checkpoint(checkpoint, split, annotations=annotations, features=features,
                                                 batch_size=batch_size, device=device)
    if not dist.is_main_process():
        return metrics
    out = Path(out) if out else Path(ckpt["path"]).parent / f"predictions_{split}.parquet"
    write_predictions(df, out)
    info = {"checkpoint": ckpt["path"], "split": split, "dataset": cfg.data.dataset, "task": cfg.data.task,
            "variant": cfg.model.variant, "baseline": cfg.model.baseline, **metrics}
    mpath = out.with_name(f"metrics_{split}.json")
    tmp = mpath.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2), encoding="utf-8")
    tmp.replace(mpath)
    print(format_table(metrics, cfg.data.task))
    print(f"predictions: {out}\nmetrics: {mpath}")
    return metrics


def main(args) -> int:
    run_evaluation(args.checkpoint, args.split, out=args.out, annotations=args.annotations, features=args.features,
                   batch_size=args.batch_size, device=args.device)
    return 0
