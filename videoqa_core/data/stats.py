"""Question, video and answer counts per split, and answer-vocabulary coverage.

    python -m videoqa_core data-stats --dataset tgif-qa --annotations DIR [--task frameqa] [--json]
    python -m videoqa_core data-stats --dataset msvd-qa --annotations DIR --json

Two views of the same files:

* ``files``: each annotation file as released (raw row counts, the numbers papers quote).
  Every file that exists is read, so a directory with only Test files still reports.
* ``splits``: what training sees: train and val (carved from the Train file by video,
  TGIF-QA only) and test. ``coverage`` is the share of a split's answers inside the
  answer vocabulary built from that train split with the conventional size (MSVD/MSRVTT
  top 1000, FrameQA all); count/action/transition have no answer vocabulary ("n/a").

Without ``--task``, TGIF-QA reports every task that has a file in DIR.
"""
from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path
from typing import Sequence

from ..errors import UserError
from . import readers
from .records import QARecord
from .vocab import answer_coverage, build_default_answer_vocab, default_top_k, has_answer_vocab


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=readers.DATASETS)
    parser.add_argument("--task", default=None, help="TGIF-QA: count, action, transition or frameqa (default: every task with files)")
    parser.add_argument("--annotations", required=True, metavar="DIR", help="folder with the dataset's question files")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="TGIF-QA: share of training videos held out for validation")
    parser.add_argument("--seed", type=int, default=0, help="TGIF-QA: seed of the validation split")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def main(args: argparse.Namespace) -> int:
    report = collect(args.dataset, args.annotations, args.task, val_fraction=args.val_fraction, seed=args.seed)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0


# --------------------------------------------------------------------------- numbers

def summarize(records: Sequence[QARecord]) -> dict:
    """Counts of one list of records (one file or one split)."""
    videos = {r.video_id for r in records}
    summary = {
        "questions": len(records),
        "videos": len(videos),
        "answers": len({r.answer for r in records}),
        "qtypes": dict(sorted(Counter(r.qtype for r in records).items(), key=lambda kv: (-kv[1], kv[0]))),
    }
    # MSVD/MSRVTT ids are numbered (vid1..vid1970): the range shows which videos a split holds.
    numbers = [re.fullmatch(r"[A-Za-z]+(\d+)", v) for v in videos]
    if numbers and all(numbers):
        ints = [int(m.group(1)) for m in numbers]
        summary["video_range"] = [min(ints), max(ints)]
    return summary


def _task_files(dataset: str, task: str) -> dict[str, str]:
    """kind (train/test/total or train/val/test) -> file name."""
    if dataset == "tgif-qa":
        return {kind: readers.tgif_file_name(kind, task) for kind in ("train", "test", "total")}
    return {kind: readers.open_file_name(kind) for kind in readers.SPLITS}


def _read(dataset: str, task: str, path: Path, kind: str) -> list[QARecord]:
    split = "test" if kind == "test" else ("val" if kind == "val" else "train")
    if dataset == "tgif-qa":
        return readers.read_tgif_file(path, task, split=split)
    return readers.read_qa_json(path, dataset, split=split)


def task_report(dataset: str, directory: Path, task: str, *, val_fraction: float, seed: int) -> dict:
    files = _task_files(dataset, task)
    present = {kind: name for kind, name in files.items() if (directory / name).is_file()}
    read = {kind: _read(dataset, task, directory / name, kind) for kind, name in present.items()}
    needed = readers.expected_files(dataset, task)
    missing = [name for name in needed if not (directory / name).is_file()]

    splits: dict[str, list[QARecord]] = {}
    if dataset == "tgif-qa":
        if "train" in read:
            splits["train"], splits["val"] = readers.split_by_video(read["train"], val_fraction=val_fraction, seed=seed)
        if "test" in read:
            splits["test"] = read["test"]
    else:
        splits = dict(read)

    answers = build_default_answer_vocab(splits["train"], dataset, task) if "train" in splits else None
    split_report = {}
    for name in readers.SPLITS:
        if name not in splits:
            continue
        summary = summarize(splits[name])
        summary["coverage"] = answer_coverage(splits[name], answers) if answers is not None and splits[name] else None
        split_report[name] = summary

    return {
        "files": {kind: {"file": files[kind], **summarize(records)} for kind, records in read.items()},
        "splits": split_report,
        "answer_vocab": None if answers is None else {"size": len(answers), "top_k": default_top_k(dataset, task)},
        "has_answer_vocab": has_answer_vocab(task),
        "missing": missing,
        "trainable": not missing,
    }


def collect(dataset: str, annotations: str | Path, task: str | None = None, *, val_fraction: float = 0.1, seed: int = 0) -> dict:
    """The whole report as plain data (what ``--json`` prints)."""
    directory = Path(annotations)
    if dataset == "tgif-qa" and task is None:
        readers.check_dataset_task(dataset, readers.TGIF_TASKS[0])  # validates the dataset name only
        candidates = [t for t in readers.TGIF_TASKS if any((directory / n).is_file() for n in _task_files(dataset, t).values())]
        if not directory.is_dir() or not candidates:
            expected = ", ".join(readers.tgif_file_name(s, t) for t in readers.TGIF_TASKS for s in ("train", "test"))
            what = "does not exist" if not directory.is_dir() else "holds no TGIF-QA question files"
            raise UserError(f"annotation directory {directory} {what}: expected some of {expected}")
        tasks = candidates
    else:
        tasks = [readers.check_dataset_task(dataset, task)]
        names = list(_task_files(dataset, tasks[0]).values())
        if not directory.is_dir():
            raise UserError(f"annotation directory {directory} does not exist: pass --annotations DIR holding {', '.join(names)}")
        if not any((directory / n).is_file() for n in names):
            raise UserError(f"{directory} holds none of {', '.join(names)}: pass the folder with the {dataset} question files")
    return {
        "dataset": dataset,
        "annotations": str(directory),
        "val_fraction": val_fraction if dataset == "tgif-qa" else None,
        "seed": seed if dataset == "tgif-qa" else None,
        "tasks": {t: task_report(dataset, directory, t, val_fraction=val_fraction, seed=seed) for t in tasks},
    }


# --------------------------------------------------------------------------- tables

def _types(qtypes: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in qtypes.items())


def format_report(report: dict) -> str:
    out = []
    for task, rep in report["tasks"].items():
        out.append(f"{report['dataset']} / {task}   ({report['annotations']})")
        out.append(f"  {'file':<32}{'rows':>9}{'videos':>9}{'answers':>9}")
        for info in rep["files"].values():
            out.append(f"  {info['file']:<32}{info['questions']:>9,}{info['videos']:>9,}{info['answers']:>9,}")
        out.append(f"  {'split':<8}{'questions':>10}{'videos':>9}{'answers':>9}{'in-vocab':>10}   question types")
        for name, s in rep["splits"].items():
            cov = "n/a" if s["coverage"] is None else f"{100 * s['coverage']:.1f}%"
            out.append(f"  {name:<8}{s['questions']:>10,}{s['videos']:>9,}{s['answers']:>9,}{cov:>10}   {_types(s['qtypes'])}")
        if rep["answer_vocab"] is not None:
            top_k = rep["answer_vocab"]["top_k"]
            out.append(f"  answer vocabulary: {rep['answer_vocab']['size']:,} answers "
                       f"({'all training answers' if top_k is None else f'top {top_k} training answers'})")
        if rep["missing"]:
            out.append(f"  missing: {', '.join(rep['missing'])} (training and evaluation need it)")
        out.append("")
    return "\n".join(out).rstrip()
