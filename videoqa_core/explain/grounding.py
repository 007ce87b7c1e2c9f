"""Grounding: score explanations against the frames where the answer really happens.

    python -m videoqa_core grounding --checkpoint CKPT --split test [--evidence PATH]
        [--methods memory_read memory_write video_self_attn coattn ig occlusion] [--limit K] [--json]

Needs an evidence file (the synthetic benchmark writes ``evidence.json``: for every
question the sampled frames where its answer is visible). Without ``--evidence`` the file
is looked for in the checkpoint's annotation folder and the two folders above it (the
synth layout is ``<synth>/tgif-qa/*.csv``, ``<synth>/msvd/*.json``, ``<synth>/evidence.json``).

Two scores per explanation map ``w`` (non-negative, one value per valid frame) and
evidence frames ``E``:

    pointing   is the top frame inside E? (ties: the share of tied top frames in E,
               the expected value of breaking the tie at random)
    mass       sum(w[E]) / sum(w)  (an all-zero map counts as uniform)

Reference: a uniform-random map scores |E| / N_valid on both, exactly (in expectation);
that value is reported as ``random`` beside every method, plus one sampled random map
per question (``random_sampled``, flat-Dirichlet weights) as a check of the sampling.

How each method becomes one value per frame (for the explained row: the predicted
candidate's row for multiple choice):

    memory_read     read provenance: the share of what the visual memory's reads
                    (Eq. 1-2) took from the content written at frame f. Slot i's content
                    after step t is a mixture of M_0 and earlier writes, each write
                    ``w_f[i] = mu1_f alpha^a_f[i] + mu2_f alpha^m_f[i]`` (Eq. 10) decayed by
                    the retain gates ``mu0`` of the later steps; a read ``beta_t`` takes
                    ``sum_i beta_t[i] * share_f[i]`` of frame f. Summed over the reads.
    memory_write    write mass: mu1_f + mu2_f, how much of the memory frame f replaced.
    video_self_attn attention received: column mean of the video self-attention over
                    valid query frames.
    coattn          attention received in the text-to-video co-attention map Bv
                    (column mean over valid query rows, Eq. 21).
    ig              |IG appearance| + |IG motion| per frame (captum, see attribution.py)
    occlusion       |score drop| with the frame ablated
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from ..errors import UserError

TRACE_METHODS = ("memory_read", "memory_write", "video_self_attn", "coattn")
ATTRIBUTION_METHODS = ("ig", "occlusion")
METHODS = TRACE_METHODS + ATTRIBUTION_METHODS
EVIDENCE_NAME = "evidence.json"


# ----------------------------------------------------------------------------- metrics

def _prepare(weights, evidence, valid=None) -> tuple[np.ndarray, np.ndarray]:
    """(weights over valid frames, evidence mask over valid frames)."""
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    n = w.shape[0]
    keep = np.ones(n, bool) if valid is None else np.asarray(valid, bool).reshape(-1)
    if keep.shape[0] != n:
        raise ValueError(f"valid mask has {keep.shape[0]} frames, weights have {n}")
    ev = np.zeros(n, bool)
    idx = np.asarray(list(evidence), dtype=np.int64)
    idx = idx[(idx >= 0) & (idx < n)]
    ev[idx] = True
    if (w[keep] < 0).any():
        raise ValueError("grounding weights must be non-negative (take |attribution| first)")
    if not np.isfinite(w[keep]).all():
        raise ValueError("grounding weights must be finite")
    return w[keep], ev[keep]


def pointing_accuracy(weights, evidence: Iterable[int], valid=None) -> float:
    """1 if the highest-weight frame is an evidence frame, else 0; ties share the credit.

    weights (N,) non-negative; evidence: frame indices; valid (N,) bool (None: all)."""
    w, ev = _prepare(weights, evidence, valid)
    if w.size == 0:
        return math.nan
    top = w >= w.max() - 1e-12 * max(1.0, abs(w.max()))
    return float(ev[top].mean())


def evidence_mass(weights, evidence: Iterable[int], valid=None) -> float:
    """Share of the map's weight on evidence frames (an all-zero map: the uniform share)."""
    w, ev = _prepare(weights, evidence, valid)
    if w.size == 0:
        return math.nan
    total = w.sum()
    if total <= 0:
        return float(ev.mean())
    return float(w[ev].sum() / total)


def random_reference(evidence: Iterable[int], n_valid: int) -> dict[str, float]:
    """Expected pointing and mass of a uniform-random map over ``n_valid`` frames: |E|/N.

    Pointing: the top frame of an exchangeable random map is uniform over the frames.
    Mass: each frame's expected share is 1/N by symmetry."""
    if n_valid <= 0:
        return {"pointing": math.nan, "mass": math.nan}
    e = len({int(i) for i in evidence if 0 <= int(i) < n_valid})
    return {"pointing": e / n_valid, "mass": e / n_valid}


def sampled_random_map(n: int, rng: np.random.Generator) -> np.ndarray:
    """One random map: flat-Dirichlet weights (uniform on the simplex)."""
    return rng.dirichlet(np.ones(n)) if n > 0 else np.zeros(0)


# ----------------------------------------------------------------------------- maps

def memory_read_provenance(read, write_app, write_mot, gates, valid=None) -> np.ndarray:
    """Per-frame share of the visual memory's reads that came from that frame's writes.

    read, write_app, write_mot (N, S); gates (N, 3) retain / write-app / write-mot;
    valid (N,) bool (a padded frame neither reads nor writes: the model carries its state).
    Returns (N,) non-negative; sums to at most the number of valid reads (the rest of
    every read is the initial memory M_0)."""
    read, wa, wm, mu = (np.asarray(x, np.float64) for x in (read, write_app, write_mot, gates))
    N, S = read.shape
    keep = np.ones(N, bool) if valid is None else np.asarray(valid, bool)
    share = np.zeros((S, N))                   # share[i, f]: weight of frame f's write in slot i
    out = np.zeros(N)
    for t in range(N):
        if not keep[t]:
            continue
        out += read[t] @ share                 # Eq. 2 reads M_{t-1}: earlier frames only  (N,)
        write = mu[t, 1] * wa[t] + mu[t, 2] * wm[t]                               # (S,)  Eq. 10
        share *= mu[t, 0]
        share[:, t] += write
    return out


def memory_write_mass(gates, valid=None) -> np.ndarray:
    """mu1 + mu2 per frame (0 on padded frames)."""
    g = np.asarray(gates, np.float64)
    w = g[:, 1] + g[:, 2]
    return w if valid is None else np.where(np.asarray(valid, bool), w, 0.0)


def attention_received(attn, valid=None) -> np.ndarray:
    """(Nq, Nk) row-stochastic map -> (Nk,) mean attention each key receives over valid queries."""
    a = np.asarray(attn, np.float64)
    rows = a if valid is None else a[np.asarray(valid, bool)]
    return rows.mean(0) if rows.shape[0] else np.zeros(a.shape[1])


def frame_importance(trace_row, method: str) -> Optional[np.ndarray]:
    """(N,) non-negative map of one trace row (numpy, no leading axis) for a trace method;
    None where the model variant has no such part (e.g. no co-attention)."""
    valid = np.asarray(trace_row.video_mask, bool)
    if method == "memory_read":
        if trace_row.visual_read is None:
            return None
        return memory_read_provenance(trace_row.visual_read, trace_row.visual_write_app,
                                      trace_row.visual_write_mot, trace_row.visual_gates, valid)
    if method == "memory_write":
        return None if trace_row.visual_gates is None else memory_write_mass(trace_row.visual_gates, valid)
    if method == "video_self_attn":
        return None if trace_row.video_self_attn is None else attention_received(trace_row.video_self_attn, valid)
    if method == "coattn":
        return None if trace_row.t2v_attn is None else attention_received(trace_row.t2v_attn, valid)
    raise ValueError(f"'{method}' is not a trace method (one of {', '.join(TRACE_METHODS)})")


# ----------------------------------------------------------------------------- aggregation

@dataclass
class Score:
    qid: str
    task: str
    qtype: str
    method: str
    pointing: float
    mass: float
    n_evidence: int
    n_valid: int


def score_map(weights, evidence, valid, *, qid: str, task: str, qtype: str, method: str) -> Score:
    valid = np.asarray(valid, bool)
    n_valid = int(valid.sum())
    e = len({int(i) for i in evidence if 0 <= int(i) < len(valid) and valid[int(i)]})
    return Score(qid, task, qtype, method, pointing_accuracy(weights, evidence, valid),
                 evidence_mass(weights, evidence, valid), e, n_valid)


def summarize(scores: Sequence[Score]) -> dict:
    """Mean pointing and mass per method, overall and per (task, question type), each with
    the exact random reference over the same questions and the lift over it."""
    import pandas as pd
    if not scores:
        return {"overall": {}, "by_group": []}
    df = pd.DataFrame([s.__dict__ for s in scores])
    df["random"] = df["n_evidence"] / df["n_valid"].clip(lower=1)

    def block(g):
        ref = g.drop_duplicates("qid")["random"].mean()
        methods = {}
        for m, gm in g.groupby("method", sort=False):
            p, ms = float(gm["pointing"].mean()), float(gm["mass"].mean())
            r = float(gm["random"].mean())
            methods[m] = {"n": int(len(gm)), "pointing": p, "mass": ms, "random_pointing": r, "random_mass": r,
                          "pointing_lift": p - r, "mass_lift": ms - r}
        return {"n": int(g["qid"].nunique()), "random": {"pointing": float(ref), "mass": float(ref)}, "methods": methods}

    out = {"overall": block(df), "by_group": []}
    for (task, qtype), g in df.groupby(["task", "qtype"], sort=True):
        out["by_group"].append({"task": task, "qtype": qtype, **block(g)})
    return out


def format_table(summary: dict) -> str:
    lines = [f"{'task/qtype':<22}{'method':<17}{'n':>6}{'pointing':>10}{'mass':>8}{'random':>8}"]
    lines.append("-" * len(lines[0]))
    groups = [("all", summary["overall"])] + [(f"{g['task']}/{g['qtype']}", g) for g in summary["by_group"]]
    for name, g in groups:
        if not g:
            continue
        for m, s in g["methods"].items():
            lines.append(f"{name:<22}{m:<17}{s['n']:>6}{s['pointing']:>10.3f}{s['mass']:>8.3f}{s['random_mass']:>8.3f}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- evidence

def check_sampled_frames(evidence_path: Path, store) -> None:
    """Evidence frames index the benchmark's N sampled frames (its manifest says N):
    features sampled at another N would point at other moments of the video."""
    manifest = Path(evidence_path).parent / "manifest.json"
    if manifest.is_file():
        n = json.loads(manifest.read_text(encoding="utf-8")).get("sampled_frames")
        if n is not None and int(n) != store.num_frames:
            raise UserError(f"evidence {evidence_path} indexes {n} sampled frames but feature store {store.path} has "
                            f"{store.num_frames} per video: extract with --frames {n}")


def find_evidence(annotations: Path | None, levels: int = 2) -> Path | None:
    """evidence.json in the annotation folder or up to ``levels`` folders above it."""
    if annotations is None:
        return None
    p = Path(annotations).resolve()
    for folder in [p, *p.parents][: levels + 1]:
        if (folder / EVIDENCE_NAME).is_file():
            return folder / EVIDENCE_NAME
    return None


def load_evidence(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"evidence file {path} cannot be read ({exc.__class__.__name__}): pass a synth evidence.json") from exc
    if not isinstance(data, dict) or any(not isinstance(v, dict) or "frames" not in v for v in list(data.values())[:50]):
        raise UserError(f"{path} is not an evidence file (expected {{'dataset/task/qid': {{'frames': [...]}}}})")
    return data


def evidence_key(dataset: str, record) -> str:
    """``{dataset}/{task}/{qid}``: MSVD-style questions carry task 'open'."""
    return f"{dataset}/{record.task}/{record.qid}"


# ----------------------------------------------------------------------------- running

def ground(predictor, records, features, evidence: dict, *, dataset: str, methods: Sequence[str] = METHODS,
           steps: int = 16, batch_size: int = 32, seed: int = 0, progress: bool = False) -> tuple[list[Score], int]:
    """Score every record that has evidence; returns (scores, questions without evidence)."""
    from .store import iter_traced
    rng = np.random.default_rng(seed)
    have = [r for r in records if evidence_key(dataset, r) in evidence]
    missing = len(records) - len(have)
    trace_methods = [m for m in methods if m in TRACE_METHODS]
    attr_methods = [m for m in methods if m in ATTRIBUTION_METHODS]
    scores: list[Score] = []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(have), unit="q", desc="grounding")
    for recs, _scores, rows, traces in iter_traced(predictor, have, features, batch_size=batch_size):
        for b, r in enumerate(recs):
            tr = traces.row(b)
            valid = np.asarray(tr.video_mask, bool)
            ev = evidence[evidence_key(dataset, r)]["frames"]
            common = dict(qid=r.qid, task=r.task, qtype=r.qtype)
            for m in trace_methods:
                w = frame_importance(tr, m)
                if w is not None:
                    scores.append(score_map(w, ev, valid, method=m, **common))
            w = np.zeros(valid.shape[0])
            w[valid] = sampled_random_map(int(valid.sum()), rng)
            scores.append(score_map(w, ev, valid, method="random_sampled", **common))
            if attr_methods and not getattr(predictor.model, "video_free", False):
                from .attribution import attribute
                app, mot = features.get(r.video_id)
                target = int(rows[b]) if predictor.kind == "mc" else None
                att = attribute(predictor, app, mot, r.question, r.candidates or None, methods=tuple(attr_methods),
                                steps=steps, target=target)
                for m in attr_methods:
                    w = att.frame_importance(m)
                    scores.append(score_map(w[: len(valid)], ev, valid[: len(w)], method=m, **common))
        if bar is not None:
            bar.update(len(recs))
    if bar is not None:
        bar.close()
    return scores, missing


def configure(p) -> None:
    p.add_argument("--checkpoint", required=True, help="best.pt / last.pt, or a run folder")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--evidence", help="evidence.json (default: found beside the checkpoint's annotations)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS),
                   help="explanations to score (default: all)")
    p.add_argument("--limit", type=int, help="score only the first K questions with evidence")
    p.add_argument("--steps", type=int, default=16, help="IG steps (default 16)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def main(args) -> int:
    from ..inference import Predictor
    predictor = Predictor.load(args.checkpoint, device=args.device)
    ann = predictor.data_path(predictor.config.data.annotations)
    path = Path(args.evidence) if args.evidence else find_evidence(ann)
    if path is None or not path.is_file():
        where = args.evidence or f"{predictor.config.data.annotations} or the folders above it"
        raise UserError(f"no evidence file at {where}: grounding needs the synthetic benchmark's evidence.json "
                        f"(python -m videoqa_core synth); pass --evidence PATH")
    evidence = load_evidence(path)
    records = predictor.records(args.split)
    if not records:
        raise UserError(f"the {args.split} split of {predictor.config.data.annotations} is empty")
    dataset = predictor.config.data.dataset
    with_ev = [r for r in records if evidence_key(dataset, r) in evidence]
    if not with_ev:
        raise UserError(f"none of the {len(records)} {args.split} questions has an entry in {path} "
                        f"(keys look like '{evidence_key(dataset, records[0])}'): is it the evidence of this dataset?")
    without = len(records) - len(with_ev)
    if args.limit is not None:
        with_ev = with_ev[: max(0, args.limit)]
    features = predictor.feature_store()
    check_sampled_frames(path, features)
    scores, _ = ground(predictor, with_ev, features, evidence, dataset=dataset, methods=args.methods,
                       steps=args.steps, batch_size=args.batch_size, progress=not args.json)
    summary = summarize(scores)
    info = {"checkpoint": predictor.path, "split": args.split, "evidence": str(path), "dataset": dataset,
            "task": predictor.task, "questions": len(with_ev), "without_evidence": without,
            "methods": list(args.methods), "reference": "random = |E|/N_valid, the expected score of a uniform-random map",
            **summary}
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        print(format_table(summary))
        print(f"{len(with_ev)} questions, evidence: {path}; random = expected score of a uniform-random map")
    return 0
