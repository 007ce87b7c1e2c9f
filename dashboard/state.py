"""Where the dashboard's data comes from: checkpoint discovery, cached loaders, the
session's keys and the deep link.

Everything that touches the model goes through :class:`videoqa_core.inference.Predictor`.
Caching, and why it is enough for "the model runs only when the question or the
checkpoint changes":

    st.cache_resource   Predictor per (checkpoint path, mtime)     one model in memory
    st.cache_data       questions / records / frames per (path, mtime, split)
                        Explanation per (path, mtime, split, qid)   one forward pass per question
                        Explanation per (path, mtime, upload hash, question, candidates)

Widget moves (the step slider, play, the candidate row) only read these caches. The
checkpoint's mtime is part of every key, so a retrained ``best.pt`` is picked up.

Session keys live in :data:`DEFAULTS` and are set in :func:`init_session` only. Values
that outlive a page (the step, the question) are kept under these plain keys; widgets use
``w_<key>`` and copy back in ``on_change`` (see :func:`bind`), because Streamlit drops a
widget's own key when a page without that widget runs.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd
import streamlit as st

from videoqa_core.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENV_VAR = "VIDEOQA_CHECKPOINTS"
# Count: in the demo the full model clearly beats its ablations there (test MSE 2.1 vs 3.2
# for Mv+Mt), so its memory maps have something to show at first sight.
DEFAULT_TASK = "count"
DEFAULT_VARIANT = "Attvt-all"
SPLITS = ("test", "val", "train")
MAX_LISTED = 500          # questions offered in the picker at once (search narrows further)
log = logging.getLogger("dashboard")

# Every session key, with its initial value; the deep link (QUERY_KEYS) overrides some.
DEFAULTS: dict[str, object] = {
    "ckpt": None,           # label of the chosen checkpoint (CheckpointEntry.label)
    "split": "test",
    "qid": None,
    "step": 0,              # current frame step of the visual memory
    "word": 0,              # current word step of the textual memory
    "row": None,            # multiple choice: the candidate row shown (None: the predicted one)
    "search": "",
    "task_filter": "all",
    "qtype_filter": [],
    "outcome_filter": "all",
    "playing": False,
    "fig_k": 4,
    "fig_frames": [],
    "upload": None,         # {"hash", "name", "question", "candidates"} of the last clip asked about
    "charts_ready": False,  # the browser has had a chart this session (plotly.js is loaded)
}
QUERY_KEYS = ("ckpt", "split", "qid", "step")


# --------------------------------------------------------------------------- discovery

@dataclass(frozen=True)
class CheckpointEntry:
    label: str          # shown in the picker and written into the deep link
    path: str
    task: Optional[str]
    variant: Optional[str]
    mtime: float

    @property
    def run_dir(self) -> Path:
        return Path(self.path).parent


def roots_from_argv(argv: list[str]) -> list[Path]:
    """``streamlit run dashboard/app.py -- --checkpoints DIR [DIR ...]``: the app's argv."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--checkpoints", nargs="+", default=[])
    args, _ = parser.parse_known_args(argv)
    return [Path(p) for p in args.checkpoints]


def checkpoint_roots(argv: list[str] | None = None, environ: dict | None = None) -> list[Path]:
    """The project's ``checkpoints/``, then ``$VIDEOQA_CHECKPOINTS`` (os.pathsep-separated),
    then ``--checkpoints``; duplicates dropped, order kept."""
    environ = os.environ if environ is None else environ
    argv = sys.argv[1:] if argv is None else argv
    roots = [PROJECT_ROOT / "checkpoints"]
    roots += [Path(p) for p in environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    roots += roots_from_argv(argv)
    seen, out = set(), []
    for r in roots:
        key = str(r.expanduser().resolve())
        if key not in seen:
            seen.add(key)
            out.append(r.expanduser())
    return out


def _run_info(run_dir: Path) -> tuple[Optional[str], Optional[str]]:
    """(task, variant) from the run folder's config.json or metrics file, without
    loading the checkpoint (a paper-size one is hundreds of MB)."""
    cfg = run_dir / "config.json"
    try:
        if cfg.is_file():
            d = json.loads(cfg.read_text(encoding="utf-8"))
            return d.get("data", {}).get("task"), d.get("model", {}).get("variant")
        for m in sorted(run_dir.glob("metrics_*.json")):
            d = json.loads(m.read_text(encoding="utf-8"))
            return d.get("task"), d.get("variant")
    except (OSError, ValueError, AttributeError):
        pass
    return None, None


def scan_checkpoints(roots: list[Path]) -> list[CheckpointEntry]:
    """Every ``best.pt`` under the roots (``last.pt`` where a run has no best, and any
    other ``*.pt`` file that is not beside one of those), labelled by its path relative
    to its root. Hidden and temporary files are skipped."""
    entries: list[CheckpointEntry] = []
    labels: set[str] = set()
    for root in roots:
        if not root.is_dir():
            continue
        files = sorted(p for p in root.rglob("*.pt") if not any(part.startswith(".") for part in p.relative_to(root).parts))
        by_dir: dict[Path, list[Path]] = {}
        for f in files:
            by_dir.setdefault(f.parent, []).append(f)
        for folder, fs in sorted(by_dir.items()):
            names = {f.name: f for f in fs}
            chosen = [names["best.pt"]] if "best.pt" in names else ([names["last.pt"]] if "last.pt" in names else fs)
            for f in chosen:
                rel = f.relative_to(root)
                label = str(rel.parent) if f.name in ("best.pt", "last.pt") and rel.parent != Path(".") else str(rel)
                if label in labels:
                    label = f"{root.name}/{label}"
                labels.add(label)
                task, variant = _run_info(folder)
                entries.append(CheckpointEntry(label=label, path=str(f), task=task, variant=variant,
                                               mtime=f.stat().st_mtime))
    return entries


def default_checkpoint(entries: list[CheckpointEntry], task: str = DEFAULT_TASK) -> Optional[CheckpointEntry]:
    """The demo's full model of ``task`` if present, else any full model, else the first."""
    def score(e: CheckpointEntry) -> tuple:
        return (e.variant != DEFAULT_VARIANT, e.task != task, "demo" not in Path(e.label).parts, e.label)
    return min(entries, key=score) if entries else None


@st.cache_data(ttl=30, show_spinner=False)
def checkpoints(roots: tuple[str, ...]) -> list[CheckpointEntry]:
    return scan_checkpoints([Path(r) for r in roots])


# ------------------------------------------------------------------------- cached loads

@st.cache_resource(max_entries=4, show_spinner="Loading the checkpoint…")
def predictor(path: str, mtime: float):
    from videoqa_core.inference import Predictor
    return Predictor.load(path)


@st.cache_resource(max_entries=4, show_spinner=False)
def feature_store(path: str, mtime: float):
    return predictor(path, mtime).feature_store()


@st.cache_data(max_entries=16, show_spinner="Reading the questions…")
def records(path: str, mtime: float, split: str) -> dict:
    """qid -> QARecord of one split of the checkpoint's dataset."""
    return {r.qid: r for r in predictor(path, mtime).records(split)}


@st.cache_data(max_entries=16, show_spinner=False)
def questions(path: str, mtime: float, split: str) -> pd.DataFrame:
    """One row per question of the split, with the predictions file's columns
    (prediction, correct, confidence) where ``predictions_<split>.parquet`` is beside the
    checkpoint; ``correct`` is NA for questions it does not cover."""
    recs = records(path, mtime, split)
    df = pd.DataFrame({"qid": list(recs), "video_id": [r.video_id for r in recs.values()],
                       "question": [r.question for r in recs.values()], "task": [r.task for r in recs.values()],
                       "qtype": [r.qtype for r in recs.values()], "answer": [r.answer for r in recs.values()]})
    pred = Path(path).parent / f"predictions_{split}.parquet"
    if pred.is_file():
        try:
            p = pd.read_parquet(pred, columns=["qid", "prediction", "correct", "confidence"])
            p["qid"] = p["qid"].astype(str)
            df = df.merge(p, on="qid", how="left")
        except (OSError, ValueError, KeyError) as exc:
            log.warning("predictions file %s unreadable: %s", pred, exc)
    if "correct" not in df:
        df["prediction"], df["correct"], df["confidence"] = pd.NA, pd.NA, pd.NA
    return df


@st.cache_data(max_entries=256, show_spinner="Running the model on this question…")
def explanation(path: str, mtime: float, split: str, qid: str):
    """The one forward pass of a question (with its trace)."""
    recs = records(path, mtime, split)
    if qid not in recs:
        raise UserError(f"question '{qid}' is not in the {split} split of this checkpoint's dataset")
    return predictor(path, mtime).explain_record(recs[qid], feature_store(path, mtime))


@st.cache_data(max_entries=64, show_spinner=False)
def frames(path: str, mtime: float, video_id: str) -> tuple[Optional[np.ndarray], str]:
    """(N sampled frames or None, a note saying why there are none)."""
    from videoqa_core.video.reader import read_frames
    p = predictor(path, mtime)
    file = p.video_path(video_id)
    if file is None:
        where = p.config.data.videos or "no video folder in the checkpoint's config"
        return None, f"no video file for '{video_id}' ({where}): frames are shown by index only"
    try:
        return read_frames(file, p.config.model.num_frames), ""
    except UserError as exc:
        return None, f"video {file.name} cannot be read ({exc}): frames are shown by index only"


@st.cache_data(max_entries=64, show_spinner="Rendering the figure…")
def panel_bytes(key: tuple, _data, fmt: str) -> bytes:
    """A Figure-1 panel as bytes; ``key`` identifies the inputs (``_data`` is not hashed)."""
    from videoqa_core.figure import draw_panel, render
    return render(draw_panel(_data), fmt)


def upload_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------- session

def init_session() -> None:
    """Set every key of DEFAULTS once per session, then the deep link's values."""
    first = "_initialised" not in st.session_state
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = list(value) if isinstance(value, list) else value
    if first:
        st.session_state["_initialised"] = True
        q = st.query_params
        for key in QUERY_KEYS:
            if key in q and q[key] != "":
                st.session_state[key] = int(q[key]) if key == "step" and q[key].lstrip("-").isdigit() else q[key]
        if isinstance(st.session_state["step"], str):
            st.session_state["step"] = 0
        st.session_state["_deep_link"] = {k: q[k] for k in QUERY_KEYS if k in q}


def write_link() -> None:
    """The current view into the URL (checkpoint, split, question, step)."""
    want = {k: str(st.session_state[k]) for k in QUERY_KEYS if st.session_state.get(k) is not None}
    if {k: st.query_params.get(k) for k in want} != want:
        st.query_params.update(want)


def bind(key: str) -> dict:
    """Keyword arguments that tie a widget (key ``w_<key>``) to the session value ``key``:
    the widget starts from the value, and a change is copied back before the rerun."""
    wkey = f"w_{key}"
    st.session_state[wkey] = st.session_state[key]

    def copy() -> None:
        st.session_state[key] = st.session_state[wkey]
    return {"key": wkey, "on_change": copy}


def current_entry() -> Optional[CheckpointEntry]:
    return st.session_state.get("_entry")


def guard(body: Callable[[], None]) -> None:
    """Run a page body: a UserError is one clear message; anything else too, with the
    traceback in the server log only. The sidebar and other pages stay usable."""
    try:
        body()
    except UserError as exc:
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001 - a page must never show a traceback
        log.exception("page failed")
        st.error(f"Something went wrong here ({exc.__class__.__name__}: {' '.join(str(exc).split())[:200]}). "
                 f"The rest of the app still works; the server log has the details.")


@st.cache_data(max_entries=16, show_spinner="Extracting features and running the model on your clip…")
def upload_explanation(path: str, mtime: float, digest: str, name: str, question: str,
                       candidates: tuple[str, ...], _data: bytes):
    """(Explanation, frames, notes) of an uploaded clip, keyed by the clip's sha256
    (``_data`` itself is not hashed again)."""
    from dashboard.clips import features_from_upload, weight_folders
    p = predictor(path, mtime)
    store = feature_store(path, mtime)
    feats = features_from_upload(name, _data, store.attrs, weight_folders(store.path.parent),
                                 num_frames=p.config.model.num_frames)
    ex = p.explain(feats.appearance, feats.motion, question, list(candidates) or None)
    return ex, feats.frames, feats.notes
