"""Do a feature store's frames show the synthetic benchmark's events? A linear probe.

    python -m videoqa_core probe --synth data/demo/synth --features data/demo/features.h5 [--json]

When a model stays at chance on the synthetic benchmark, the first question is whether
the features or the model are to blame. This command answers the first half without any
VideoQA model: it fits one logistic regression per event kind (jump, spin, ..., enter,
leave) on single sampled frames, "is any object doing this event in this frame?", on the
train + val videos, and reports its ROC AUC on the test videos (0.5: the frame says
nothing about the event; 1.0: a linear read-out of one frame finds it every time).

Labels come from the rendering model, not from a file: the benchmark is rebuilt from the
parameters in ``DIR/manifest.json`` (same arguments, same scenes), and its evidence file
is checked against the one in DIR so that a folder from another version or another
seed is refused rather than probed with wrong labels. Sampled frame i of N is rendered
frame ``floor((i + 0.5) * frames / N)``, the evidence rule of data/README.md.

Features: appearance and motion side by side, (N, Da + Dm) per frame, standardised with
the training frames' mean and standard deviation. The fit is full-batch Adam on a
weight-decayed logistic loss, seeded, so a rerun gives the same numbers.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from .synth import ENTER, EVENTS, LEAVE, sampled_indices

PROBE_EVENTS = EVENTS + (ENTER, LEAVE)


def bench_from(synth_dir: Path):
    from . import synth
    manifest_path = synth_dir / "manifest.json"
    if not manifest_path.is_file():
        raise UserError(f"--synth {synth_dir}: no manifest.json there; pass a folder written by "
                        "`python -m videoqa_core synth`")
    try:
        m = json.loads(manifest_path.read_text())
        bench = synth.build(videos=int(m["videos"]), seed=int(m["seed"]), frames=int(m["frames"]),
                            size=int(m["size"]), difficulty=m.get("difficulty", "hard"),
                            every_object=bool(m.get("every_object", False)),
                            warmup=bool(m.get("warmup", False)), id_prefix=m.get("id_prefix", "synth"))
        want = m["files"]["evidence.json"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{manifest_path}: not a synth manifest ({exc}); regenerate the folder with "
                        "`python -m videoqa_core synth`") from exc
    files, _ = synth._annotation_files(bench)
    if hashlib.sha256(files["evidence.json"]).hexdigest() != want:
        raise UserError(f"{manifest_path}: its parameters do not rebuild the benchmark in that folder "
                        "(evidence.json differs; another version of synth?): regenerate it with "
                        "`python -m videoqa_core synth`")
    return bench


def frame_labels(scene, num_frames: int) -> np.ndarray:
    """(num_frames, len(PROBE_EVENTS)) float32: 1 where some object is in that event."""
    y = np.zeros((num_frames, len(PROBE_EVENTS)), np.float32)
    rendered = sampled_indices(scene.frames, num_frames)
    for obj in scene.objects:
        for ev in obj.events:
            k = PROBE_EVENTS.index(ev.kind)
            for i, t in enumerate(rendered):
                if ev.start <= t < ev.stop:
                    y[i, k] = 1.0
    return y


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Rank-based ROC AUC (Mann-Whitney U), ties at their average rank; NaN if one class."""
    pos = labels > 0.5
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), np.float64)
    sorted_scores = scores[order]
    # average ranks over runs of equal scores
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(scores)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


PARTS = ("both", "appearance", "motion")


def probe(synth_dir: str | Path, features: str | Path, *, part: str = "both", steps: int = 300,
          lr: float = 0.05, weight_decay: float = 1e-4, seed: int = 0) -> dict:
    """Fit the per-event linear probe on train + val videos, score it on test videos.

    ``part`` probes the appearance or the motion features alone (which extractor carries
    which event), or both side by side."""
    if part not in PARTS:
        raise UserError(f"--part {part}: use one of {', '.join(PARTS)}")
    import torch

    from .features import FeatureStore
    bench = bench_from(Path(synth_dir))
    store = FeatureStore(features)
    try:
        missing = [s.name for s in bench.scenes if s.name not in store]
        if missing:
            raise UserError(f"--features {features}: {len(missing)} of {len(bench.scenes)} synth videos are not "
                            f"in the store (first: {missing[0]}); extract {Path(synth_dir) / 'videos'} into it first")
        X, Y, is_test = [], [], []
        for scene in bench.scenes:
            a, m = store.get(scene.name)
            X.append({"both": np.concatenate([a, m], 1), "appearance": a, "motion": m}[part].astype(np.float32))
            Y.append(frame_labels(scene, a.shape[0]))
            is_test.append(np.full(a.shape[0], bench.splits[scene.index] == "test"))
        num_frames = store.num_frames
    finally:
        store.close()
    X, Y, is_test = np.concatenate(X), np.concatenate(Y), np.concatenate(is_test)
    if is_test.all() or not is_test.any():
        raise UserError(f"--synth {synth_dir}: need both training and test videos (use --videos 10 or more)")
    mu = X[~is_test].mean(0)
    sd = X[~is_test].std(0) + 1e-4          # constant dims (e.g. an unused colour bin) stay 0
    X = (X - mu) / sd

    g = torch.Generator().manual_seed(seed)
    Xtr, Ytr = torch.from_numpy(X[~is_test]), torch.from_numpy(Y[~is_test])
    W = torch.nn.Parameter(torch.randn(X.shape[1], Y.shape[1], generator=g) * 0.01)
    b = torch.nn.Parameter(torch.zeros(Y.shape[1]))
    opt = torch.optim.Adam([W, b], lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(Xtr @ W + b, Ytr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    train_loss = loss.item()
    with torch.no_grad():
        scores = (torch.from_numpy(X[is_test]) @ W + b).numpy()
    Yte = Y[is_test]
    per_event = {}
    for k, name in enumerate(PROBE_EVENTS):
        auc = roc_auc(scores[:, k], Yte[:, k])
        per_event[name] = {"auc": None if np.isnan(auc) else round(auc, 4),
                           "positive_rate": round(float(Yte[:, k].mean()), 4)}
    aucs = [v["auc"] for v in per_event.values() if v["auc"] is not None]
    return {"synth": str(synth_dir), "features": str(features), "num_frames": num_frames,
            "feature_dim": int(X.shape[1]), "train_frames": int((~is_test).sum()), "test_frames": int(is_test.sum()),
            "part": part, "train_loss": round(train_loss, 4), "per_event": per_event,
            "mean_auc": round(float(np.mean(aucs)), 4) if aucs else None}


def configure(p) -> None:
    p.add_argument("--synth", required=True, help="a folder written by `synth` (holds manifest.json)")
    p.add_argument("--features", required=True, help="feature store (.h5) holding that folder's videos")
    p.add_argument("--part", choices=PARTS, default="both", help="probe appearance, motion, or both (default)")
    p.add_argument("--steps", type=int, default=300, help="full-batch Adam steps (default 300)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def main(args) -> int:
    if args.steps < 1:
        raise UserError(f"--steps {args.steps}: use 1 or more")
    res = probe(args.synth, args.features, part=args.part, steps=args.steps, seed=args.seed)
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    print(f"linear probe, one sampled frame ({res['feature_dim']} {args.part} features) -> is this event happening? "
          f"fit on {res['train_frames']} train frames, scored on {res['test_frames']} test frames")
    print(f"{'event':<8} {'test AUC':>8} {'frames with it':>15}")
    for name, v in res["per_event"].items():
        auc = "n/a" if v["auc"] is None else f"{v['auc']:.3f}"
        print(f"{name:<8} {auc:>8} {v['positive_rate']:>15.3f}")
    print(f"{'mean':<8} {res['mean_auc']:>8.3f}    (0.5: the frame says nothing about the event)")
    return 0
