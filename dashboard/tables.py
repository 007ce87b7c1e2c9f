"""Pure table builders for the comparison, grounding and failure pages: files and pandas
in, DataFrames and LaTeX out, no ``st.*`` (tests call them without a browser).

    from dashboard import tables
    runs = tables.scan_runs([Path("checkpoints")])          # one row per run folder
    abl = tables.ablation_table(runs[runs.collection == "demo"])
    tables.to_latex(tables.format_ablation(abl), caption="Ablation")

Where the numbers come from: a run folder is any folder holding ``metrics_<split>.json``
(written by ``python -m videoqa_core evaluate``) or, failing that,
``predictions_<split>.parquet`` (its metrics are recomputed with
:func:`videoqa_core.evaluate.metrics_table`). The demo keeps both for every run, also for
those whose checkpoint it deletes, so the ablation table needs no model.

The paper's own numbers are in ``paper_results.json`` beside this file, every row of them
labelled :data:`PAPER_LABEL` wherever it is shown.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np
import pandas as pd

from videoqa_core.config import VARIANTS, switched

PAPER_FILE = Path(__file__).resolve().with_name("paper_results.json")
PAPER_LABEL = "reported in the paper"
THIS_LABEL = "this workbench"
TGIF_TASKS = ("count", "action", "transition", "frameqa")
OPEN_TYPES = ("what", "who", "how", "when", "where")
BASELINE_ROWS = ("question-only", "candidates-only")
DEFAULT_VISUAL_SLOTS = 8          # the demo's S_v (videoqa_core/demo.py MODEL)
SEED = re.compile(r"^(?P<base>.+)-seed(?P<seed>\d+)$")
SWEEP = re.compile(r"^Attvt-all(?:-Sv(?P<slots>\d+))?$")
# Which paper table lays out which dataset's results.
LAYOUTS = {"table2": "tgif-qa", "table3": "msvd-qa", "table4": "msrvtt-qa"}


def task_metric(task: str) -> str:
    """The headline metric of a task: Count's mean L2 loss of the rounded, clamped
    prediction (the TGIF-QA metric), accuracy elsewhere."""
    return "mse_rounded" if task == "count" else "accuracy"


def lower_is_better(task: str) -> bool:
    return task == "count"


def load_paper(path: Path = PAPER_FILE) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def split_seed(name: str) -> tuple[str, int]:
    """``Attvt-all-seed2`` -> (``Attvt-all``, 2); no suffix is seed 0."""
    m = SEED.match(name)
    return (m["base"], int(m["seed"])) if m else (name, 0)


# ----------------------------------------------------------------------------- runs

def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _run_metrics(folder: Path, split: str, task: Optional[str]) -> Optional[dict]:
    m = _read_json(folder / f"metrics_{split}.json")
    if m.get("overall"):
        return m
    pred = folder / f"predictions_{split}.parquet"
    if pred.is_file() and task:
        from videoqa_core.evaluate import metrics_table
        try:
            return metrics_table(pd.read_parquet(pred), task)
        except (OSError, ValueError, KeyError):
            return None
    return None


RUN_COLUMNS = ["label", "collection", "task", "name", "seed", "run", "dataset", "variant", "baseline",
               "switches", "visual_slots", "value", "n", "by_qtype", "overall", "run_dir", "has_checkpoint"]


def scan_runs(roots: Iterable[Path], split: str = "test") -> pd.DataFrame:
    """One row per run folder under ``roots`` with results for ``split``.

    label       the folder relative to its root (the checkpoint picker's label)
    collection  the folder above ``<task>/<run>`` (``demo`` for checkpoints/demo/count/Mv+Mt)
    name, seed  the run name without / with its ``-seedK`` suffix
    switches    the model switches set away from the spec's reading ("" for none)
    value       the task's headline metric (:func:`task_metric`) on the whole split
    by_qtype    {question type: metrics}, overall: the whole split's metrics
    """
    rows = []
    seen = set()
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        folders = {p.parent for pat in (f"metrics_{split}.json", f"predictions_{split}.parquet")
                   for p in root.rglob(pat) if not any(part.startswith(".") for part in p.relative_to(root).parts)}
        for folder in sorted(folders):
            key = str(folder.resolve())
            if key in seen:
                continue
            seen.add(key)
            cfg = _read_json(folder / "config.json")
            mj = _read_json(folder / f"metrics_{split}.json")
            task = mj.get("task") or cfg.get("data", {}).get("task")
            metrics = _run_metrics(folder, split, task)
            if not task or not metrics or not metrics.get("overall", {}).get("n"):
                continue
            rel = folder.relative_to(root)
            name, seed = split_seed(folder.name)
            coll_parts = rel.parts[:-2] if len(rel.parts) >= 2 and rel.parts[-2] == task else rel.parts[:-1]
            slots = cfg.get("model", {}).get("visual_slots")
            overall = metrics["overall"]
            rows.append({
                "label": str(rel), "collection": "/".join(coll_parts) or ".", "task": task, "name": name,
                "seed": seed, "run": folder.name,
                "dataset": mj.get("dataset") or cfg.get("data", {}).get("dataset") or "",
                "variant": mj.get("variant") or cfg.get("model", {}).get("variant") or "",
                "baseline": mj.get("baseline") or cfg.get("model", {}).get("baseline") or "none",
                "switches": ", ".join(switched(cfg.get("model", {}))),
                "visual_slots": int(slots) if slots is not None else None,
                "value": float(overall.get(task_metric(task), math.nan)), "n": int(overall["n"]),
                "by_qtype": metrics.get("by_qtype", {}), "overall": overall, "run_dir": str(folder),
                "has_checkpoint": (folder / "best.pt").is_file() or (folder / "last.pt").is_file()})
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def _mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], np.float64)
    if v.size == 0:
        return math.nan, math.nan, 0
    # Sample std (ddof=1) over seeds; one seed has no spread to report.
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan, int(v.size)


# ----------------------------------------------------------------------------- Table 1

def ablation_table(runs: pd.DataFrame, *, tasks: Sequence[str] = ("count", "action"),
                   paper: Optional[dict] = None) -> pd.DataFrame:
    """Table 1 from run results: the 8 variants in the paper's order (always listed; a
    variant without a run has NaN), then the bias baselines that have runs.

    Columns per task: ``<task> mean``, ``<task> std`` (over seeds, NaN with one seed),
    ``<task> seeds``, and ``<task> (paper)`` from Table 1 when ``paper`` is given."""
    names = list(VARIANTS) + [b for b in BASELINE_ROWS if (runs["name"] == b).any()]
    out = pd.DataFrame(index=pd.Index(names, name="variant"))
    for task in tasks:
        sel = runs[runs["task"] == task]
        stats = [_mean_std(sel.loc[sel["name"] == n, "value"].tolist()) for n in names]
        out[f"{task} mean"] = [s[0] for s in stats]
        out[f"{task} std"] = [s[1] for s in stats]
        out[f"{task} seeds"] = [s[2] for s in stats]
        if paper is not None:
            rows = paper["table1"]["rows"]
            out[f"{task} (paper)"] = [rows.get(n, {}).get(task, math.nan) for n in names]
    return out


def fmt_mean_std(mean: float, std: float, n: int, digits: int = 3) -> str:
    if n == 0 or math.isnan(mean):
        return "–"
    s = f"{mean:.{digits}f}"
    return f"{s} ± {std:.{digits}f}" if n > 1 and not math.isnan(std) else s


def format_ablation(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Display form: one text column per task (``mean ± std`` over seeds), the paper's
    column beside it, headed with the metric's name."""
    tasks = [c[: -len(" mean")] for c in table.columns if c.endswith(" mean")]
    out = pd.DataFrame(index=table.index)
    for task in tasks:
        head = f"{task} ({task_metric(task)}{', seeds' if (table[f'{task} seeds'] > 1).any() else ''})"
        out[head] = [fmt_mean_std(m, s, int(n), digits) for m, s, n in
                     zip(table[f"{task} mean"], table[f"{task} std"], table[f"{task} seeds"])]
        if f"{task} (paper)" in table:
            out[f"{task}, {PAPER_LABEL}"] = [("–" if math.isnan(v) else f"{v:.{digits}f}") for v in table[f"{task} (paper)"]]
    return out


# ----------------------------------------------------------------------------- Tables 2-4

def _row_label(collection: str, name: str) -> str:
    return name if collection in ("", ".") else f"{name} ({collection})"


def per_type_table(runs: pd.DataFrame, layout: str, *, paper: Optional[dict] = None) -> pd.DataFrame:
    """Tables 2-4 laid out as in the paper: the chosen runs of the layout's dataset (one
    row per collection and run name, mean over seeds), then the paper's rows.

    table2 (TGIF-QA): one column per task (Count's mean L2 loss, accuracy elsewhere), a
        run filling the column of its own task;
    table3 / table4 (MSVD-QA / MSRVTT-QA): accuracy per question type (what .. where)
        and ``all``.
    Columns ``source`` (:data:`THIS_LABEL` or :data:`PAPER_LABEL`) and ``seeds``."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout '{layout}' (one of {', '.join(LAYOUTS)})")
    dataset = LAYOUTS[layout]
    columns = list(TGIF_TASKS) if layout == "table2" else [*OPEN_TYPES, "all"]
    sel = runs[runs["dataset"] == dataset]
    records = []
    for (coll, name), g in sel.groupby(["collection", "name"], sort=True):
        row = {"method": _row_label(coll, name), "source": THIS_LABEL}
        seeds = 0
        for col in columns:
            if layout == "table2":
                vals = g.loc[g["task"] == col, "value"].tolist()
            elif col == "all":
                vals = [o.get("accuracy", math.nan) for o in g["overall"]]
            else:
                vals = [b.get(col, {}).get("accuracy", math.nan) for b in g["by_qtype"]]
            mean, _, n = _mean_std(vals)
            row[col] = mean
            seeds = max(seeds, n)
        row["seeds"] = seeds
        records.append(row)
    if paper is not None:
        for method, vals in paper[layout]["rows"].items():
            records.append({"method": method, "source": PAPER_LABEL, **{c: vals.get(c, math.nan) for c in columns},
                            "seeds": math.nan})
    out = pd.DataFrame(records, columns=["method", "source", *columns, "seeds"])
    out["seeds"] = out["seeds"].astype("Int64")              # paper rows: <NA>, not a float 1.0
    return out


def by_type_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Every question type of the chosen runs: rows = run label, columns = question types
    and ``all``, cells = the task's headline metric (a run lists only its own types)."""
    records = []
    for _, r in runs.iterrows():
        metric = task_metric(r["task"])
        row = {"run": r["label"], "task": r["task"], "model": r["switches"] or "spec reading",
               "metric": metric, "all": r["value"]}
        row.update({qt: m.get(metric, math.nan) for qt, m in sorted(r["by_qtype"].items())})
        records.append(row)
    df = pd.DataFrame(records)
    if df.empty:
        return df
    fixed = ["run", "task", "model", "metric"]
    return df[fixed + [c for c in df.columns if c not in fixed and c != "all"] + ["all"]]


# ----------------------------------------------------------------------------- Figure 5

def memory_curve(runs: pd.DataFrame, *, task: str = "count") -> pd.DataFrame:
    """Figure 5's curve from the memory-size sweep: the task's headline metric against the
    visual memory's slots S_v, mean ± std over seeds. Runs taken: ``Attvt-all`` (its own
    S_v from config.json, the demo's 8 when the folder has no config) and
    ``Attvt-all-Sv<k>``, full model, no baseline."""
    sel = runs[(runs["task"] == task) & (runs["baseline"].fillna("none") == "none")]
    points: dict[int, list[float]] = {}
    for _, r in sel.iterrows():
        m = SWEEP.match(r["name"])
        if not m:
            continue
        slots = r["visual_slots"]
        if slots is None or (isinstance(slots, float) and math.isnan(slots)):
            slots = int(m["slots"]) if m["slots"] else DEFAULT_VISUAL_SLOTS
        points.setdefault(int(slots), []).append(r["value"])
    rows = [(s, *_mean_std(v)) for s, v in sorted(points.items())]
    return pd.DataFrame(rows, columns=["visual_slots", "mean", "std", "seeds"])


# ----------------------------------------------------------------------------- grounding

def grounding_table(summary: dict) -> pd.DataFrame:
    """:func:`videoqa_core.explain.grounding.summarize` as rows: one per (task, question
    type, method), overall first (task ``all``), with the uniform-random reference."""
    rows = []
    groups = [("all", "all", summary.get("overall") or {})] + \
        [(g["task"], g["qtype"], g) for g in summary.get("by_group", [])]
    for task, qtype, g in groups:
        for method, s in (g.get("methods") or {}).items():
            rows.append({"task": task, "qtype": qtype, "method": method, "questions": s["n"],
                         "pointing": s["pointing"], "mass": s["mass"], "random": s["random_mass"],
                         "pointing − random": s["pointing_lift"], "mass − random": s["mass_lift"]})
    return pd.DataFrame(rows, columns=["task", "qtype", "method", "questions", "pointing", "mass", "random",
                                       "pointing − random", "mass − random"])


# ----------------------------------------------------------------------------- failures

def prepare_predictions(df: pd.DataFrame) -> pd.DataFrame:
    """A predictions file (or an analysis store's frame) ready for filtering: string ids
    and answers, ``question_len`` in tokens where the file lacks it."""
    from videoqa_core.data.vocab import tokenize
    out = df.copy()
    for col in ("qid", "answer", "prediction", "qtype", "task"):
        if col in out:
            out[col] = out[col].astype(str)
    if "question_len" not in out:
        out["question_len"] = [len(tokenize(q)) for q in out["question"]]
    out["correct"] = out["correct"].astype(bool)
    out["confidence"] = out["confidence"].astype(float)
    return out


def confusion_table(frame: pd.DataFrame, kind: str, top: int = 15) -> pd.DataFrame:
    """Counts of (truth, prediction). Multiple choice: by candidate position (each question
    has its own candidate texts, so the positions are what is shared); count: the target
    count (0 read as 1) against the prediction; open-ended: the ``top`` most frequent
    answers, the rest lumped together."""
    from videoqa_core.explain.store import confusion
    if frame.empty:
        return pd.DataFrame()
    if kind == "mc" and {"answer_index", "prediction_index"} <= set(frame.columns):
        t, p = frame["answer_index"].astype(int).to_numpy(), frame["prediction_index"].astype(int).to_numpy()
        labels = list(range(max(5, int(max(t.max(), p.max())) + 1)))
        names = [f"candidate {i + 1}" for i in labels]
    elif kind == "count" and "target" in frame.columns:
        t = frame["target"].astype(float).round().astype(int).to_numpy()
        p = frame["prediction"].astype(float).round().astype(int).to_numpy()
        labels = sorted(set(t.tolist()) | set(p.tolist()))
        names = [str(x) for x in labels]
    else:
        return confusion(frame, top=top)
    # Every position / count that occurs, on both axes: a never-predicted class is a row
    # of the matrix too, not a missing column.
    pos = {x: i for i, x in enumerate(labels)}
    L = len(labels)
    counts = np.bincount(np.array([pos[x] for x in t]) * L + np.array([pos[x] for x in p]), minlength=L * L)
    return pd.DataFrame(counts.reshape(L, L), index=pd.Index(names, name="answer"),
                        columns=pd.Index(names, name="prediction"))


# ----------------------------------------------------------------------------- export

def to_csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=True)


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}
_LATEX_UNICODE = {"±": r"$\pm$", "–": "--", "−": "$-$", "≤": r"$\leq$"}


def latex_escape(text: str) -> str:
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))
    for k, v in _LATEX_UNICODE.items():
        out = out.replace(k, v)
    return out


def to_latex(table: pd.DataFrame, *, caption: str = "", label: str = "", digits: int = 3) -> str:
    """A booktabs ``table`` environment; floats with ``digits`` decimals, NaN as ``--``,
    text escaped. Written here rather than with ``DataFrame.to_latex`` so the output does
    not depend on the optional jinja2 and escapes ± and en dashes the same everywhere."""
    def cell(v) -> str:
        if isinstance(v, (float, np.floating)):
            return "--" if math.isnan(v) else f"{v:.{digits}f}"
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        return latex_escape(v)

    index_name = table.index.name or ""
    header = [latex_escape(index_name)] + [latex_escape(c) for c in table.columns]
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l" + "r" * len(table.columns) + "}", r"\toprule",
             " & ".join(header) + r" \\", r"\midrule"]
    for idx, row in table.iterrows():
        lines.append(" & ".join([latex_escape(idx)] + [cell(v) for v in row.tolist()]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(r"\caption{" + latex_escape(caption) + "}")
    if label:
        lines.append(r"\label{" + label + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
