"""Annotation readers: TGIF-QA, MSVD-QA and MSRVTT-QA files -> ``list[QARecord]``.

    from videoqa_core.data.readers import load_dataset
    splits = load_dataset("tgif-qa", "path/to/tgif-qa", task="frameqa")   # {"train", "val", "test"}

File formats, quirks and the rules used here (video ids, question types, the validation
split) are written down in ``data/README.md``. Every problem with a file raises
:class:`~videoqa_core.errors.UserError` with one line naming the file and what to do.

Two layers:

* :func:`read_tgif_file` / :func:`read_qa_json` read ONE file. ``data-stats`` uses them to
  report whatever files exist (the shared sample has only Test files for some tasks).
* :func:`load_dataset` reads a whole dataset for training and evaluation: it insists on
  every file and carves TGIF-QA's validation split out of train.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Iterable

from ..errors import UserError
from .records import QARecord

DATASETS = ("tgif-qa", "msvd-qa", "msrvtt-qa")
TGIF_TASKS = ("count", "action", "transition", "frameqa")
MC_TASKS = ("action", "transition")
SPLITS = ("train", "val", "test")

# FrameQA ``type`` column: the COCO-QA question generator's numbering.
FRAMEQA_TYPES = {"0": "object", "1": "number", "2": "color", "3": "location"}
OPEN_QTYPES = ("what", "who", "how", "when", "where")
NUM_CANDIDATES = 5
CANDIDATE_COLUMNS = tuple(f"a{i}" for i in range(1, NUM_CANDIDATES + 1))

# Columns each task needs, by header name. Releases differ in rows and extra columns
# (``key``, ``description``), so nothing here depends on column positions.
_TGIF_REQUIRED = {
    "count": ("gif_name", "question", "answer", "vid_id"),
    "action": ("gif_name", "question", *CANDIDATE_COLUMNS, "answer", "vid_id"),
    "transition": ("gif_name", "question", *CANDIDATE_COLUMNS, "answer", "vid_id"),
    "frameqa": ("gif_name", "question", "answer", "type", "vid_id"),
}
_OPEN_FILES = {"train": "train_qa.json", "val": "val_qa.json", "test": "test_qa.json"}
_OPEN_KEYS = ("answer", "id", "question", "video_id")
_VIDEO_PREFIX = {"msvd-qa": "vid", "msrvtt-qa": "video"}


def tgif_file_name(split: str, task: str) -> str:
    """``Train_count_question.csv`` etc.; ``split`` is train, test or total."""
    return f"{split.capitalize()}_{task}_question.csv"


def open_file_name(split: str) -> str:
    """MSVD-QA / MSRVTT-QA question file of a split: ``train_qa.json`` etc."""
    return _OPEN_FILES[split]


def check_dataset_task(dataset: str, task: str | None) -> str:
    """Validate a (dataset, task) pair; returns the task name records carry."""
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset '{dataset}': choose one of {', '.join(DATASETS)}")
    if dataset == "tgif-qa":
        if task not in TGIF_TASKS:
            what = "needs a task" if task is None else f"has no task '{task}'"
            raise UserError(f"tgif-qa {what}: choose one of {', '.join(TGIF_TASKS)} (--task)")
        return task
    if task not in (None, "open"):
        raise UserError(f"{dataset} has no task '{task}': its questions are open-ended (task 'open', or leave --task out)")
    return "open"


def open_qtype(question: str) -> str:
    """MSVD/MSRVTT question type: the first word if it is a wh-word, else ``other``."""
    match = re.match(r"\s*([A-Za-z]+)", question)
    word = match.group(1).lower() if match else ""
    return word if word in OPEN_QTYPES else "other"


# --------------------------------------------------------------------------- file access

def _read_text(path: Path, what: str) -> str:
    """Whole file as text; one-line UserError for missing, empty or non-UTF-8 files."""
    if not path.is_file():
        raise UserError(f"{path} does not exist: {what}")
    data = path.read_bytes()
    if not data.strip():
        raise UserError(f"{path} is empty: download the file again ({what})")
    try:
        # utf-8-sig: a byte-order mark written by an editor must not end up in the first header name.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(f"{path} line {line} is not UTF-8 (byte 0x{data[exc.start]:02x}): re-save the file as UTF-8 or download it again") from exc


def _require_dir(directory: Path, expected: Iterable[str]) -> None:
    if not directory.is_dir():
        raise UserError(f"annotation directory {directory} does not exist: pass --annotations DIR holding {', '.join(expected)}")


def _missing(directory: Path, names: Iterable[str]) -> list[str]:
    return [n for n in names if not (directory / n).is_file()]


# --------------------------------------------------------------------------- TGIF-QA

def read_tgif_file(path: str | Path, task: str, *, split: str = "train") -> list[QARecord]:
    """Read one TGIF-QA question file (tab-separated, header row, CRLF or LF).

    Columns are looked up by header name, so both public releases (and files with extra
    or reordered columns) read the same. ``split`` is stored in every record.
    """
    path = Path(path)
    if task not in TGIF_TASKS:
        raise UserError(f"unknown TGIF-QA task '{task}' for {path}: choose one of {', '.join(TGIF_TASKS)}")
    text = _read_text(path, f"expected a TGIF-QA {task} question file")
    # newline="" hands line ends to the csv module, which strips \r\n and honours quoted
    # fields (a few candidates are written as "respond ""no""").
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as exc:
        raise UserError(f"{path} line 1 cannot be parsed ({exc}): the header row is damaged; download the file again") from exc
    needed = _TGIF_REQUIRED[task]
    absent = [c for c in needed if c not in header]
    if absent:
        raise UserError(f"{path} has no column {', '.join(repr(c) for c in absent)} (header: {' '.join(header)}): "
                        f"a TGIF-QA {task} file needs {' '.join(needed)}; is this the right task's file?")
    col = {name: header.index(name) for name in needed}
    width = len(header)
    records: list[QARecord] = []
    try:
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a trailing blank line is harmless
            if len(row) != width:
                raise UserError(f"{path} line {line} has {len(row)} fields, the header has {width}: "
                                f"the file is truncated or damaged; download it again")
            records.append(_tgif_record(path, line, task, split, [f.strip() for f in row], col))
    except csv.Error as exc:
        raise UserError(f"{path} line {reader.line_num} cannot be parsed ({exc}): the file is truncated or damaged; download it again") from exc
    if not records:
        raise UserError(f"{path} has a header but no questions: download the file again")
    return records


def _tgif_record(path: Path, line: int, task: str, split: str, row: list[str], col: dict[str, int]) -> QARecord:
    answer = row[col["answer"]]
    common = dict(qid=row[col["vid_id"]], video_id=row[col["gif_name"]], question=row[col["question"]],
                  task=task, split=split)
    if not common["qid"] or not common["video_id"]:
        raise UserError(f"{path} line {line} has an empty gif_name or vid_id: the file is damaged; download it again")
    if task in MC_TASKS:
        candidates = tuple(row[col[c]] for c in CANDIDATE_COLUMNS)
        if not (answer.isdigit() and int(answer) < NUM_CANDIDATES):
            raise UserError(f"{path} line {line}: answer '{answer}' is not a candidate index 0-{NUM_CANDIDATES - 1}: "
                            f"the file is damaged or columns are shifted; download it again")
        index = int(answer)
        return QARecord(**common, qtype=task, answer=candidates[index], answer_index=index, candidates=candidates)
    if task == "count":
        if not answer.isdigit():
            raise UserError(f"{path} line {line}: count answer '{answer}' is not a whole number: the file is damaged; download it again")
        # Kept raw (0 stays 0): the 0 -> 1 mapping of the public code is a metric rule.
        return QARecord(**common, qtype=task, answer=str(int(answer)))
    qtype = FRAMEQA_TYPES.get(row[col["type"]])
    if qtype is None:
        raise UserError(f"{path} line {line}: FrameQA type '{row[col['type']]}' is not 0-3 (object/number/color/location): "
                        f"the file is damaged or columns are shifted; download it again")
    return QARecord(**common, qtype=qtype, answer=answer)


def split_by_video(records: list[QARecord], *, val_fraction: float, seed: int = 0) -> tuple[list[QARecord], list[QARecord]]:
    """Carve a validation split out of training records, keeping each video on one side.

    A video goes to validation when a hash of ``seed`` and its id falls below
    ``val_fraction``. The hash (sha1, not Python's salted ``hash``) makes the split the
    same in every run, and because each video is decided on its own, the releases that
    differ by a few rows still agree on every shared video.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"val_fraction {val_fraction} must be in [0, 1)")
    decided: dict[str, bool] = {}
    train, val = [], []
    for rec in records:
        is_val = decided.get(rec.video_id)
        if is_val is None:
            digest = hashlib.sha1(f"{seed}:{rec.video_id}".encode()).digest()
            is_val = decided[rec.video_id] = int.from_bytes(digest[:8], "big") / 2.0 ** 64 < val_fraction
        if is_val:
            val.append(dataclasses.replace(rec, split="val"))
        else:
            train.append(rec)
    return train, val


# --------------------------------------------------------------------------- MSVD / MSRVTT

def read_qa_json(path: str | Path, dataset: str, *, split: str) -> list[QARecord]:
    """Read one MSVD-QA / MSRVTT-QA file: a JSON list of ``{answer, id, question, video_id}``.

    Extra fields (MSRVTT's ``category_id``) are ignored. ``video_id`` N becomes ``vidN``
    (MSVD) or ``videoN`` (MSRVTT), the names the feature store uses.
    """
    path = Path(path)
    if dataset not in _VIDEO_PREFIX:
        raise UserError(f"{dataset} has no JSON question files: choose one of {', '.join(_VIDEO_PREFIX)}")
    text = _read_text(path, f"expected a {dataset} question file ({_OPEN_FILES[split]})")
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg}): "
                        f"the file is truncated or damaged; download it again") from exc
    if not isinstance(items, list) or not items:
        raise UserError(f"{path} must hold a non-empty JSON list of questions ({', '.join(_OPEN_KEYS)})")
    prefix = _VIDEO_PREFIX[dataset]
    records = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or any(k not in item for k in _OPEN_KEYS):
            missing = [k for k in _OPEN_KEYS if not isinstance(item, dict) or k not in item]
            raise UserError(f"{path} item {i} lacks {', '.join(missing)}: each question needs {', '.join(_OPEN_KEYS)}")
        vid = item["video_id"]
        if isinstance(vid, bool) or not (isinstance(vid, int) or (isinstance(vid, str) and vid.isdigit())):
            raise UserError(f"{path} item {i}: video_id {vid!r} is not a number: the file is damaged; download it again")
        question = str(item["question"])
        records.append(QARecord(qid=str(item["id"]), video_id=f"{prefix}{int(vid)}", question=question,
                                task="open", qtype=open_qtype(question), answer=str(item["answer"]).strip(),
                                split=split))
    return records


def msvd_video_names(annotations_dir: str | Path) -> dict[str, str]:
    """YouTube clip name (file stem, e.g. ``-4wsuPCjDBc_5_15``) -> ``vid1``, from ``youtube_mapping.txt``."""
    path = Path(annotations_dir) / "youtube_mapping.txt"
    text = _read_text(path, "expected MSVD-QA's youtube_mapping.txt (lines 'CLIP_NAME vidN')")
    names: dict[str, str] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not re.fullmatch(r"vid\d+", parts[1]):
            raise UserError(f"{path} line {line_no} is not 'CLIP_NAME vidN': the file is damaged; download it again")
        names[parts[0]] = parts[1]
    return names


# --------------------------------------------------------------------------- whole datasets

def expected_files(dataset: str, task: str | None = None) -> list[str]:
    """File names :func:`load_dataset` needs for a (dataset, task)."""
    task = check_dataset_task(dataset, task)
    if dataset == "tgif-qa":
        return [tgif_file_name("train", task), tgif_file_name("test", task)]
    return [_OPEN_FILES[s] for s in SPLITS]


def load_dataset(dataset: str, annotations: str | Path, task: str | None = None, *,
                 val_fraction: float = 0.1, seed: int = 0) -> dict[str, list[QARecord]]:
    """``{"train", "val", "test"}`` -> records of one dataset (and TGIF-QA task).

    TGIF-QA has no validation file: ``val_fraction`` of the training videos (all of their
    questions) become ``val``, chosen by :func:`split_by_video` with ``seed``. MSVD-QA and
    MSRVTT-QA use their own val files, and ``val_fraction``/``seed`` are not used.
    """
    task = check_dataset_task(dataset, task)
    directory = Path(annotations)
    names = expected_files(dataset, task)
    _require_dir(directory, names)
    missing = _missing(directory, names)
    if missing:
        raise UserError(f"{directory} lacks {', '.join(missing)}: training and evaluation need all of {', '.join(names)}")
    if dataset == "tgif-qa":
        train_all = read_tgif_file(directory / names[0], task, split="train")
        test = read_tgif_file(directory / names[1], task, split="test")
        train, val = split_by_video(train_all, val_fraction=val_fraction, seed=seed)
        return {"train": train, "val": val, "test": test}
    return {s: read_qa_json(directory / _OPEN_FILES[s], dataset, split=s) for s in SPLITS}
