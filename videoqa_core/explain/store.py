"""The analysis store: every question of a split answered and traced once, for the dashboard.

    python -m videoqa_core analyze --checkpoint CKPT --split test --out DIR [--attributions]
        [--chunk-size 256] [--batch-size 32] [--limit K] [--dtype float16|float32] [--overwrite]
    python -m videoqa_core.explain.store --bench [--questions 100000] [--repeats 25]

Layout of DIR::

    meta.json                 identity (checkpoint path + sha256, split, question-id hash),
                              chunk size, trace field shapes, complete: true|false
    chunks/NNNNN.h5           traces of questions NNNNN*chunk .. +chunk: one dataset per
                              Trace field, [n, ...] padded to the store's N / T, stored as
                              --dtype, lzf-compressed in HDF5 chunks of 16 questions
                              (opening one question decompresses only its 16)
    chunks/NNNNN.parquet      those questions' prediction rows; written after the .h5, so
                              its presence marks the chunk complete
    predictions.parquet       all rows (evaluate.predictions_frame's columns + row,
                              trace_row, attribution deltas), written when the run ends

Multiple choice keeps the explained row only (the predicted candidate; ``trace_row``): the
five rows would multiply the size by five, and the Predictor recomputes any other row in
~40 ms when a view asks for it.

Atomic and resumable like the feature store: every file appears by renaming a finished
temporary file; a killed run leaves complete chunks, which :func:`open_store` reads (the
store opens with only those), and a rerun with the same checkpoint, split and questions
skips them. A different checkpoint or question list in the same DIR is refused.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections import OrderedDict
from dataclasses import fields
from pathlib import Path
from typing import Iterator, Optional, Sequence

import h5py
import numpy as np
import pandas as pd

from ..errors import UserError
from ..model.trace import Trace

VERSION = 1
TRACE_FIELDS = tuple(f.name for f in fields(Trace))
ATTRIBUTION_FIELDS = ("ig_appearance", "ig_motion", "ig_words", "occlusion")
_BOOL_FIELDS = ("video_mask", "text_mask")


# ----------------------------------------------------------------------------- model side

def iter_traced(predictor, records, features, *, batch_size: int = 32) -> Iterator[tuple[list, list, np.ndarray, Trace]]:
    """Batched traced forward: yields (records, scores per record, explained row per record,
    numpy Trace with one row per record: the predicted candidate's row for multiple choice)."""
    import torch
    from ..data.dataset import collate
    from ..data.pipeline import make_dataset
    ds = make_dataset(records, features, predictor.config, predictor.vocab, predictor.answers)
    model, dev = predictor.model, predictor.device
    model.eval()
    for start in range(0, len(ds), batch_size):
        idx = range(start, min(start + batch_size, len(ds)))
        batch = collate([ds[i] for i in idx]).to(dev)
        with torch.no_grad():
            out = model(**batch.inputs(), trace=True)
        scores = out.scores.float().cpu()
        if predictor.kind == "mc":
            C = scores.shape[1]
            pred = scores.argmax(-1)                                              # (B,)
            sel = torch.arange(len(idx)) * C + pred                               # (B,) rows b*C + c
            trace = out.trace.select(sel.to(dev)).numpy()
        else:
            pred = torch.zeros(len(idx), dtype=torch.long)
            trace = out.trace.numpy()
        yield [ds.records[i] for i in idx], list(scores.numpy()), pred.numpy(), trace


def file_sha256(path, block: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(block), b""):
            h.update(chunk)
    return h.hexdigest()


def qids_sha256(qids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(map(str, qids)).encode()).hexdigest()


# ----------------------------------------------------------------------------- writing

def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class StoreWriter:
    """Chunk files under DIR/chunks, meta.json, and predictions.parquet at :meth:`finalize`.

    ``identity`` (checkpoint sha, split, question-id hash, ...) decides whether an existing
    DIR is resumed (same identity) or refused."""

    def __init__(self, out: str | os.PathLike, *, identity: dict, chunk_size: int = 256, dtype: str = "float16",
                 extra_meta: dict | None = None, overwrite: bool = False):
        if chunk_size < 1:
            raise UserError(f"--chunk-size must be >= 1 (got {chunk_size})")
        if dtype not in ("float16", "float32"):
            raise UserError(f"--dtype {dtype}: use float16 or float32")
        self.out = Path(out)
        self.chunks = self.out / "chunks"
        self.identity = dict(identity)
        meta_path = self.out / "meta.json"
        if self.out.exists() and not self.out.is_dir():
            raise UserError(f"--out {self.out}: exists and is not a folder")
        if meta_path.is_file():
            old = json.loads(meta_path.read_text(encoding="utf-8"))
            if overwrite or old.get("identity") != self.identity:
                if not overwrite:
                    raise UserError(f"{self.out} holds an analysis store of another checkpoint, split or question list: "
                                    f"pick another --out or pass --overwrite")
                shutil.rmtree(self.chunks, ignore_errors=True)
                (self.out / "predictions.parquet").unlink(missing_ok=True)
            else:
                chunk_size, dtype = old["chunk_size"], old["dtype"]     # resume with the stored layout
        elif self.out.is_dir() and any(self.out.iterdir()):
            raise UserError(f"--out {self.out}: folder is not empty and holds no analysis store (meta.json); "
                            f"pick an empty or new folder")
        self.chunk_size, self.dtype = int(chunk_size), dtype
        self.chunks.mkdir(parents=True, exist_ok=True)
        for stale in self.chunks.glob(".*.tmp"):         # left by a killed run
            stale.unlink()
        self.meta = {"version": VERSION, "identity": self.identity, "chunk_size": self.chunk_size, "dtype": self.dtype,
                     "complete": False, **(extra_meta or {})}
        if meta_path.is_file():
            old = json.loads(meta_path.read_text(encoding="utf-8"))
            self.meta["fields"] = old.get("fields", {})
        self._write_meta()

    def _write_meta(self) -> None:
        _atomic_write(self.out / "meta.json", lambda p: p.write_text(json.dumps(self.meta, indent=1), encoding="utf-8"))

    def chunk_path(self, k: int, ext: str) -> Path:
        return self.chunks / f"{k:05d}.{ext}"

    def done_chunks(self) -> set[int]:
        return {int(p.stem) for p in self.chunks.glob("[0-9]*.parquet")}

    def write_chunk(self, k: int, frame: pd.DataFrame, arrays: dict[str, np.ndarray]) -> None:
        """One chunk: arrays [n, ...] per field (None values skipped), then its rows."""
        n = len(frame)
        for name, a in arrays.items():
            if a is not None and a.shape[0] != n:
                raise ValueError(f"field {name} has {a.shape[0]} rows, the frame {n}")

        def write_h5(tmp):
            with h5py.File(tmp, "w") as f:
                for name, a in arrays.items():
                    if a is None:
                        continue
                    a = np.asarray(a, bool if name in _BOOL_FIELDS else self.dtype)
                    # 16 questions per HDF5 chunk: reading one question decompresses ~0.4 MB
                    # at most (lzf: about 1 ms), with far fewer chunk records than 1 per question.
                    f.create_dataset(name, data=a, chunks=(min(16, n), *a.shape[1:]) if a.ndim > 1 and n else None,
                                     compression="lzf" if a.ndim > 1 and n else None)

        _atomic_write(self.chunk_path(k, "h5"), write_h5)
        _atomic_write(self.chunk_path(k, "parquet"), lambda p: frame.to_parquet(p, index=False))
        if not self.meta.get("fields"):
            self.meta["fields"] = {name: list(a.shape[1:]) for name, a in arrays.items() if a is not None}
            self._write_meta()

    def finalize(self, total: int) -> pd.DataFrame:
        frame = _read_chunk_frames(self.chunks, sorted(self.done_chunks()))
        if len(frame) != total:
            raise RuntimeError(f"store has {len(frame)} of {total} rows after the last chunk")
        frame = _categorical(frame)
        _atomic_write(self.out / "predictions.parquet", lambda p: frame.to_parquet(p, index=False))
        self.meta.update(complete=True, questions=total)
        self._write_meta()
        return frame


def _categorical(frame: pd.DataFrame) -> pd.DataFrame:
    # Filtering 100k rows on a categorical compares small integer codes, not strings.
    for col in ("task", "qtype", "answer", "prediction"):
        if col in frame and frame[col].dtype == object:
            frame[col] = frame[col].astype("category")
    return frame


def _read_chunk_frames(folder: Path, ks: Sequence[int]) -> pd.DataFrame:
    parts = [pd.read_parquet(folder / f"{k:05d}.parquet") for k in ks]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _pad(a: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Zero-pad the trailing axes of a [n, ...] array up to ``shape`` (frames / tokens)."""
    if tuple(a.shape[1:]) == tuple(shape):
        return a
    if any(s < t for s, t in zip(shape, a.shape[1:])):
        raise UserError(f"a trace array of shape {a.shape[1:]} does not fit the store's {tuple(shape)}: "
                        f"videos with more frames than the feature store's first video")
    out = np.zeros((a.shape[0], *shape), a.dtype)
    out[(slice(None), *(slice(0, s) for s in a.shape[1:]))] = a
    return out


def trace_arrays(trace: Trace, *, frames: int) -> dict[str, Optional[np.ndarray]]:
    """Trace fields of a batch (leading axis = questions) with the frame axes padded to ``frames``."""
    out = {}
    for name in TRACE_FIELDS:
        a = getattr(trace, name)
        if a is None:
            out[name] = None
            continue
        shape = list(a.shape[1:])
        if name.startswith("visual_") or name in ("affinity", "v2t_attn", "video_mask"):
            shape[0] = frames
        if name in ("video_self_attn", "t2v_attn"):
            shape[0] = shape[1] = frames
        out[name] = _pad(np.asarray(a), shape)
    return out


# ----------------------------------------------------------------------------- building

def build_store(predictor, records, features, out, *, split: str, chunk_size: int = 256, batch_size: int = 32,
                attributions: bool = False, steps: int = 16, dtype: str = "float16", overwrite: bool = False,
                progress: bool = True) -> Path:
    """Answer, trace (and optionally attribute) every record into the store at ``out``."""
    from ..evaluate import predictions_frame
    from ..data.pipeline import make_dataset
    ckpt_path = Path(predictor.path)
    identity = {"checkpoint": str(ckpt_path), "checkpoint_sha256": file_sha256(ckpt_path) if ckpt_path.is_file() else "",
                "split": split, "questions": len(records), "qids_sha256": qids_sha256([r.qid for r in records]),
                "attributions": bool(attributions), "steps": int(steps) if attributions else None}
    cfg = predictor.config
    writer = StoreWriter(out, identity=identity, chunk_size=chunk_size, dtype=dtype, overwrite=overwrite,
                         extra_meta={"dataset": cfg.data.dataset, "task": cfg.data.task, "kind": predictor.kind,
                                     "variant": cfg.model.variant, "frames": features.num_frames,
                                     "max_question_len": cfg.model.max_question_len,
                                     "answers": predictor.answers, "created_by": "python -m videoqa_core analyze"})
    chunk_size = writer.chunk_size
    done = writer.done_chunks()
    n_chunks = (len(records) + chunk_size - 1) // chunk_size
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(records), unit="q", desc="analyze", initial=sum(
            min(chunk_size, len(records) - k * chunk_size) for k in done if k < n_chunks))
    for k in range(n_chunks):
        if k in done:
            continue
        recs = records[k * chunk_size:(k + 1) * chunk_size]
        scores, rows, traces = [], [], []
        for _recs, s, r, tr in iter_traced(predictor, recs, features, batch_size=batch_size):
            scores += s
            rows.append(r)
            traces.append(trace_arrays(tr, frames=features.num_frames))
        arrays = {name: (None if traces[0][name] is None else np.concatenate([t[name] for t in traces]))
                  for name in TRACE_FIELDS}
        ds = make_dataset(recs, features, cfg, predictor.vocab, predictor.answers)
        frame = predictions_frame(ds, scores, predictor.answers)
        frame.insert(0, "row", np.arange(k * chunk_size, k * chunk_size + len(recs)))
        frame["trace_row"] = np.concatenate(rows)
        if attributions:
            frame, extra = _attribute_chunk(predictor, recs, features, frame, steps=steps,
                                            frames=features.num_frames, max_len=cfg.model.max_question_len)
            arrays.update(extra)
        writer.write_chunk(k, frame, arrays)
        if bar is not None:
            bar.update(len(recs))
    if bar is not None:
        bar.close()
    writer.finalize(len(records))
    return writer.out


def _attribute_chunk(predictor, recs, features, frame, *, steps, frames, max_len):
    from .attribution import attribute
    if getattr(predictor.model, "video_free", False):
        raise UserError("--attributions needs a model that sees the video (this checkpoint is a video-free baseline)")
    n = len(recs)
    arr = {"ig_appearance": np.zeros((n, frames), np.float32), "ig_motion": np.zeros((n, frames), np.float32),
           "ig_words": np.zeros((n, max_len), np.float32), "occlusion": np.zeros((n, frames), np.float32)}
    deltas = np.zeros((n, 2))
    for i, r in enumerate(recs):
        app, mot = features.get(r.video_id)
        target = int(frame["trace_row"].iloc[i]) if predictor.kind == "mc" else None
        a = attribute(predictor, app, mot, r.question, r.candidates or None, steps=steps, target=target)
        N, T = len(a.appearance_ig), len(a.word_ig)
        arr["ig_appearance"][i, :N], arr["ig_motion"][i, :N] = a.appearance_ig, a.motion_ig
        arr["ig_words"][i, :T], arr["occlusion"][i, :N] = a.word_ig, a.occlusion
        deltas[i] = a.deltas["ig"], a.deltas["words"]
    frame = frame.assign(ig_delta=deltas[:, 0], words_ig_delta=deltas[:, 1])
    return frame, arr


# ----------------------------------------------------------------------------- reading

class AnalysisStore:
    """A store opened for reading: ``.frame`` (one row per question), ``.trace(row)``."""

    def __init__(self, path: str | os.PathLike, *, max_open: int = 8):
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        if not meta_path.is_file():
            raise UserError(f"{self.path} is not an analysis store (no meta.json): build one with "
                            f"`python -m videoqa_core analyze --checkpoint CKPT --split SPLIT --out DIR`")
        try:
            self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UserError(f"{meta_path} is damaged ({exc}): rebuild the store with --overwrite") from exc
        if self.meta.get("version") != VERSION:
            raise UserError(f"{self.path} is an analysis store of version {self.meta.get('version')}, this code reads {VERSION}: rebuild it")
        self.chunk_size = int(self.meta["chunk_size"])
        self.complete = bool(self.meta.get("complete")) and (self.path / "predictions.parquet").is_file()
        if self.complete:
            frame = pd.read_parquet(self.path / "predictions.parquet")
        else:   # an interrupted run: only the chunks that finished
            ks = sorted(int(p.stem) for p in (self.path / "chunks").glob("[0-9]*.parquet"))
            frame = _categorical(_read_chunk_frames(self.path / "chunks", ks))
        self.frame: pd.DataFrame = frame
        self._rows = set(frame["row"].tolist()) if "row" in frame else set()
        self._open: OrderedDict[int, h5py.File] = OrderedDict()
        self._pid = os.getpid()
        self.max_open = max_open

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def kind(self) -> str:
        return self.meta.get("kind", "")

    def _chunk(self, k: int) -> h5py.File:
        if self._pid != os.getpid():      # h5py handles must not cross fork
            self._open.clear()
            self._pid = os.getpid()
        f = self._open.get(k)
        if f is None:
            f = h5py.File(self.path / "chunks" / f"{k:05d}.h5", "r")
            self._open[k] = f
            if len(self._open) > self.max_open:
                self._open.popitem(last=False)[1].close()
        else:
            self._open.move_to_end(k)
        return f

    def _read(self, row: int, names: Sequence[str]) -> dict[str, Optional[np.ndarray]]:
        row = int(row)
        if row not in self._rows:
            raise UserError(f"row {row} is not in analysis store {self.path} ({len(self)} questions stored)")
        f = self._chunk(row // self.chunk_size)
        i = row % self.chunk_size
        return {n: (np.asarray(f[n][i]) if n in f else None) for n in names}

    def trace(self, row: int) -> Trace:
        """The stored trace of question ``row`` (the frame's ``row`` column): numpy float32
        maps and bool masks, no leading axis, padded to the store's N and T (use the masks)."""
        d = self._read(row, TRACE_FIELDS)
        return Trace(**{k: (None if v is None else (v.astype(bool) if k in _BOOL_FIELDS else v.astype(np.float32)))
                        for k, v in d.items()})

    def attributions(self, row: int) -> Optional[dict[str, np.ndarray]]:
        """IG appearance/motion/words and occlusion per frame, if the store was built with them."""
        d = self._read(row, ATTRIBUTION_FIELDS)
        return None if all(v is None for v in d.values()) else {k: v.astype(np.float32) for k, v in d.items()}

    def filter(self, *, task=None, qtype=None, correct: Optional[bool] = None, answer=None, prediction=None,
               min_conf: Optional[float] = None, max_conf: Optional[float] = None,
               min_len: Optional[int] = None, max_len: Optional[int] = None,
               sort: Optional[str] = "confidence", ascending: bool = False, limit: Optional[int] = None) -> pd.DataFrame:
        return filter_frame(self.frame, task=task, qtype=qtype, correct=correct, answer=answer, prediction=prediction,
                            min_conf=min_conf, max_conf=max_conf, min_len=min_len, max_len=max_len,
                            sort=sort, ascending=ascending, limit=limit)

    def close(self) -> None:
        for f in self._open.values():
            f.close()
        self._open.clear()


def open_store(path: str | os.PathLike) -> AnalysisStore:
    return AnalysisStore(path)


def _is_in(col: pd.Series, value) -> np.ndarray:
    values = [value] if isinstance(value, (str, int, float, bool, np.integer)) else list(value)
    return col.isin(values).to_numpy()


def filter_frame(frame: pd.DataFrame, *, task=None, qtype=None, correct=None, answer=None, prediction=None,
                 min_conf=None, max_conf=None, min_len=None, max_len=None, sort="confidence", ascending=False,
                 limit=None) -> pd.DataFrame:
    """Rows matching every given condition (a value or a list for task/qtype/answer/prediction;
    bounds inclusive), sorted by ``sort`` (stable, so ties keep question order)."""
    keep = np.ones(len(frame), bool)
    for col, value in (("task", task), ("qtype", qtype), ("answer", answer), ("prediction", prediction)):
        if value is not None:
            keep &= _is_in(frame[col], value)
    if correct is not None:
        keep &= frame["correct"].to_numpy(bool) == bool(correct)
    conf = frame["confidence"].to_numpy() if (min_conf is not None or max_conf is not None) else None
    if min_conf is not None:
        keep &= conf >= min_conf
    if max_conf is not None:
        keep &= conf <= max_conf
    qlen = frame["question_len"].to_numpy() if (min_len is not None or max_len is not None) else None
    if min_len is not None:
        keep &= qlen >= min_len
    if max_len is not None:
        keep &= qlen <= max_len
    idx = np.flatnonzero(keep)
    if sort:
        if sort not in frame:
            raise UserError(f"cannot sort by '{sort}': the store has columns {', '.join(map(str, frame.columns))}")
        key = frame[sort].to_numpy()[idx]
        if isinstance(frame[sort].dtype, pd.CategoricalDtype):
            key = frame[sort].astype(str).to_numpy()[idx]
        # descending: negate the key rather than reverse the result, so ties keep question order
        idx = idx[np.argsort(key if ascending else _descending_key(key), kind="stable")]
    if limit is not None:
        idx = idx[: max(0, int(limit))]
    return frame.iloc[idx]


def _descending_key(key: np.ndarray) -> np.ndarray:
    if key.dtype.kind in "fiub":
        return -key.astype(np.float64)
    _, inv = np.unique(key, return_inverse=True)
    return -inv


def _codes(col: pd.Series, labels: list[str]) -> np.ndarray:
    """Index of every value in ``labels`` (-1 if absent); via the categories when categorical,
    so 100k rows cost a lookup per distinct value, not a string per row."""
    pos = {x: i for i, x in enumerate(labels)}
    if isinstance(col.dtype, pd.CategoricalDtype):
        lut = np.array([pos.get(str(c), -1) for c in col.cat.categories] + [-1], dtype=np.int64)
        return lut[col.cat.codes.to_numpy()]          # code -1 (missing) reads the trailing -1
    return np.array([pos.get(str(v), -1) for v in col.to_numpy()], dtype=np.int64)


def confusion(frame: pd.DataFrame, top: int = 20) -> pd.DataFrame:
    """Counts of (true answer, prediction): rows = answers, columns = predictions, for the
    ``top`` most frequent true answers; everything else is lumped into '(other)'."""
    if frame.empty:
        return pd.DataFrame()
    keep = [str(x) for x in frame["answer"].value_counts(sort=True).index[:top]]
    other = "(other)"
    # label -> code (-1 outside the top answers), then one bincount over (answer, prediction)
    t, p = _codes(frame["answer"], keep), _codes(frame["prediction"], keep)
    labels = keep + ([other] if (t < 0).any() or (p < 0).any() else [])
    L = len(labels)
    t[t < 0], p[p < 0] = L - 1, L - 1
    counts = np.bincount(t * L + p, minlength=L * L).reshape(L, L)
    return pd.DataFrame(counts, index=pd.Index(labels, name="answer"), columns=pd.Index(labels, name="prediction"))


# ----------------------------------------------------------------------------- CLI

def configure(p) -> None:
    p.add_argument("--checkpoint", required=True, help="best.pt / last.pt, or a run folder")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--out", required=True, help="store folder (created; a rerun resumes it)")
    p.add_argument("--attributions", action="store_true", help="also store IG and occlusion per frame (slow: ~1 s/question)")
    p.add_argument("--steps", type=int, default=16, help="IG steps with --attributions (default 16)")
    p.add_argument("--chunk-size", type=int, default=256, help="questions per chunk file (default 256)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--limit", type=int, help="only the first K questions of the split")
    p.add_argument("--dtype", default="float16", choices=["float16", "float32"], help="storage type of the maps")
    p.add_argument("--device", default="cpu")
    p.add_argument("--overwrite", action="store_true", help="replace a store of another checkpoint/split in --out")
    p.add_argument("--no-progress", action="store_true")


def main(args) -> int:
    from ..inference import Predictor
    predictor = Predictor.load(args.checkpoint, device=args.device)
    records = predictor.records(args.split)
    if args.limit is not None:
        records = records[: max(0, args.limit)]
    if not records:
        raise UserError(f"the {args.split} split of {predictor.config.data.annotations} is empty")
    features = predictor.feature_store()
    missing = sorted({r.video_id for r in records if r.video_id not in features})
    if missing:
        raise UserError(f"{len(missing)} video(s) of the {args.split} split are not in feature store {features.path} "
                        f"(e.g. '{missing[0]}'): extract them")
    t0 = time.perf_counter()
    out = build_store(predictor, records, features, args.out, split=args.split, chunk_size=args.chunk_size,
                      batch_size=args.batch_size, attributions=args.attributions, steps=args.steps, dtype=args.dtype,
                      overwrite=args.overwrite, progress=not args.no_progress)
    store = open_store(out)
    acc = float(store.frame["correct"].mean())
    print(f"{out}: {len(store)} questions in {time.perf_counter() - t0:.1f} s, share correct {acc:.4f}")
    return 0


# ----------------------------------------------------------------------------- benchmark

def synthetic_chunk(rng: np.random.Generator, start: int, n: int, *, frames: int, tokens: int, slots_v: int,
                    slots_t: int, traces: bool) -> tuple[pd.DataFrame, dict]:
    """Prediction rows and trace maps shaped like a real store's (values are random)."""
    tasks = np.array(["count", "action", "transition", "frameqa"])
    answers = np.array([f"answer{i}" for i in range(300)])
    qtypes = np.array(["object", "number", "color", "location"])
    ans = answers[np.minimum(rng.zipf(1.6, n), 300) - 1]
    pred = np.where(rng.random(n) < 0.6, ans, answers[rng.integers(0, 300, n)])
    frame = pd.DataFrame({
        "row": np.arange(start, start + n), "qid": [f"q{i}" for i in range(start, start + n)],
        "video_id": [f"tumblr_{i // 4}" for i in range(start, start + n)],
        "question": ["what does the red circle do after it jumps ?"] * n,
        "task": tasks[rng.integers(0, 4, n)], "qtype": qtypes[rng.integers(0, 4, n)], "answer": ans,
        "question_len": rng.integers(4, 20, n), "prediction": pred, "correct": pred == ans,
        "confidence": rng.random(n), "score": rng.normal(size=n), "trace_row": rng.integers(0, 5, n)})
    if not traces:
        return frame, {}

    def dist(*shape):   # row-stochastic maps with realistic peaks
        x = np.exp(rng.normal(0, 2, shape).astype(np.float32))
        return x / x.sum(-1, keepdims=True)

    N, T = frames, tokens
    arrays = {"visual_read": dist(n, N, slots_v), "visual_write_app": dist(n, N, slots_v),
              "visual_write_mot": dist(n, N, slots_v), "visual_gates": dist(n, N, 3),
              "visual_memory_norm": rng.random((n, N, slots_v), np.float32) * 4,
              "text_read": dist(n, T, slots_t), "text_write": dist(n, T, slots_t),
              "text_memory_norm": rng.random((n, T, slots_t), np.float32) * 4,
              "video_self_attn": dist(n, N, N), "text_self_attn": dist(n, T, T),
              "affinity": rng.normal(0, 3, (n, N, T)).astype(np.float32), "v2t_attn": dist(n, N, T),
              "t2v_attn": dist(n, N, N), "video_mask": np.ones((n, N), bool),
              "text_mask": np.arange(T)[None] < frame["question_len"].to_numpy()[:, None]}
    return frame, arrays


BENCH_QUERIES = {
    "task+correct, sort by confidence": dict(task="frameqa", correct=False),
    "qtype list + confidence band": dict(qtype=["color", "object"], min_conf=0.2, max_conf=0.6),
    "one answer, sort by question length": dict(answer="answer3", sort="question_len"),
    "length band, wrong, top 50": dict(min_len=6, max_len=12, correct=False, limit=50),
    "everything, sorted": dict(),
}


def bench(questions: int = 100_000, *, out: Optional[Path] = None, repeats: int = 25, chunk_size: int = 256,
          traces: bool = True, frames: int = 35, tokens: int = 20, slots_v: int = 50, slots_t: int = 30,
          seed: int = 0) -> dict:
    """Build a synthetic store of ``questions`` rows, open it, time the dashboard's filters."""
    tmp = None
    if out is None:
        tmp = tempfile.mkdtemp(prefix="analysis-bench-")
        out = Path(tmp) / "store"
    try:
        rng = np.random.default_rng(seed)
        # A few pre-made chunks are cycled: the benchmark times the store, not the RNG.
        pool = [synthetic_chunk(rng, 0, chunk_size, frames=frames, tokens=tokens, slots_v=slots_v,
                                slots_t=slots_t, traces=traces) for _ in range(4)]
        t0 = time.perf_counter()
        writer = StoreWriter(out, identity={"bench": questions, "seed": seed}, chunk_size=chunk_size, overwrite=True,
                             extra_meta={"kind": "open", "task": "frameqa", "created_by": "bench"})
        for k in range((questions + chunk_size - 1) // chunk_size):
            n = min(chunk_size, questions - k * chunk_size)
            frame, arrays = pool[k % len(pool)]
            frame = frame.iloc[:n].assign(row=np.arange(k * chunk_size, k * chunk_size + n),
                                          qid=[f"q{i}" for i in range(k * chunk_size, k * chunk_size + n)])
            writer.write_chunk(k, frame, {name: a[:n] for name, a in arrays.items()})
        writer.finalize(questions)
        build_s = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())

        t0 = time.perf_counter()
        store = open_store(out)
        open_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        if traces:
            for row in rng.integers(0, questions, 20):
                store.trace(int(row))
        trace_ms = (time.perf_counter() - t0) / 20 * 1e3 if traces else None
        latency = {}
        for name, query in BENCH_QUERIES.items():
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                res = store.filter(**query)
                times.append(time.perf_counter() - t)
            latency[name] = {"median_ms": float(np.median(times) * 1e3), "max_ms": float(np.max(times) * 1e3),
                             "rows": int(len(res))}
        t = time.perf_counter()
        confusion(store.frame, top=20)
        confusion_ms = (time.perf_counter() - t) * 1e3
        store.close()
        return {"questions": questions, "chunk_size": chunk_size, "traces": traces,
                "trace_shapes": {"frames": frames, "tokens": tokens, "visual_slots": slots_v, "text_slots": slots_t},
                "build_s": round(build_s, 2), "store_mb": round(size / 2 ** 20, 1), "open_s": round(open_s, 3),
                "trace_read_ms": None if trace_ms is None else round(trace_ms, 2), "confusion_ms": round(confusion_ms, 1),
                "filter_ms": latency, "filter_median_ms_worst": max(v["median_ms"] for v in latency.values()),
                "budget_ms": 200}
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _bench_main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m videoqa_core.explain.store",
                                description="benchmark the analysis store on synthetic questions")
    p.add_argument("--bench", action="store_true", required=True)
    p.add_argument("--questions", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=25)
    p.add_argument("--chunk-size", type=int, default=256)
    p.add_argument("--no-traces", action="store_true", help="predictions only (time the frame and filters)")
    p.add_argument("--visual-slots", type=int, default=50)
    p.add_argument("--text-slots", type=int, default=30)
    p.add_argument("--out", help="keep the store here (default: a temporary folder, removed)")
    a = p.parse_args(argv)
    res = bench(a.questions, out=Path(a.out) if a.out else None, repeats=a.repeats, chunk_size=a.chunk_size,
                traces=not a.no_traces, slots_v=a.visual_slots, slots_t=a.text_slots)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(_bench_main())
