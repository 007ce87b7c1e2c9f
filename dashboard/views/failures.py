"""Failure browser: the checkpoint's answers filtered, the most confident errors first.

    streamlit run dashboard/app.py            (then "Failure browser", /failures)

Reads ``predictions_<split>.parquet`` beside the sidebar's checkpoint (written by
``python -m videoqa_core evaluate``), or an analysis store (``python -m videoqa_core
analyze``) when one is given. Filters: task, question type, answer, correct/wrong,
confidence and question length; a confusion matrix (by answer for open-ended questions,
by candidate position for multiple choice, by count for Count). "Open" on a row sets the
inspector's deep-link state (checkpoint, split, question) and switches to it.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import figures, state, tables
from videoqa_core.errors import UserError
from videoqa_core.explain.store import filter_frame

BUTTONS = 20         # rows with an "open in the inspector" button (the table lists more)
LISTED = 500
SHOWN_COLUMNS = ["qid", "question", "answer", "prediction", "confidence", "correct", "qtype", "task", "question_len"]


@st.cache_data(max_entries=16, show_spinner="Reading the predictions…")
def predictions(path: str, mtime: float) -> pd.DataFrame:
    return tables.prepare_predictions(pd.read_parquet(path))


@st.cache_data(max_entries=4, show_spinner="Opening the analysis store…")
def store_frame(path: str, mtime: float) -> tuple[pd.DataFrame, dict]:
    from videoqa_core.explain.store import open_store
    store = open_store(path)
    try:
        return tables.prepare_predictions(store.frame), dict(store.meta)
    finally:
        store.close()


def _kind(frame: pd.DataFrame, meta: dict) -> str:
    if meta.get("kind"):
        return meta["kind"]
    if "prediction_index" in frame:
        return "mc"
    return "count" if "target" in frame else "open"


def load(entry, split: str) -> tuple[pd.DataFrame, dict, str]:
    """(frame, store meta or {}, where it came from)."""
    src = st.radio("Source", ["predictions", "store"], horizontal=True, key="fail_source",
                   format_func=lambda s: {"predictions": f"predictions file beside the checkpoint ({split} split)",
                                          "store": "an analysis store"}[s])
    if src == "store":
        path = st.text_input("Analysis store folder", key="fail_store",
                             placeholder="the --out folder of `python -m videoqa_core analyze`").strip()
        if not path:
            raise UserError("type the folder of an analysis store (built by `python -m videoqa_core analyze "
                            "--checkpoint CKPT --split SPLIT --out DIR`)")
        meta_file = Path(path).expanduser() / "meta.json"
        mtime = meta_file.stat().st_mtime if meta_file.is_file() else 0.0
        frame, meta = store_frame(str(Path(path).expanduser()), mtime)
        return frame, meta, f"analysis store {path}"
    pred = Path(entry.path).parent / f"predictions_{split}.parquet"
    if not pred.is_file():
        raise UserError(f"no {pred.name} beside {entry.path}: run `python -m videoqa_core evaluate --checkpoint "
                        f"{entry.path} --split {split}`, or point this page at an analysis store")
    return predictions(str(pred), pred.stat().st_mtime), {}, str(pred)


def _range(label: str, values: np.ndarray, key: str, step: float) -> tuple[float, float]:
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    if hi <= lo:
        st.caption(f"{label}: {lo:g} for every question")
        return lo, hi
    return st.slider(label, lo, hi, (lo, hi), step=step, key=key)


def filters(frame: pd.DataFrame, tag: str) -> tuple[dict, str]:
    """The filter widgets, keyed by the source (``tag``): another file has other answers
    and ranges, and a widget must not keep a value its new options lack."""
    c1, c2, c3 = st.columns(3)
    tasks = sorted(frame["task"].unique())
    task = c1.multiselect("Task", tasks, key=f"fail_task_{tag}") if len(tasks) > 1 else []
    qtype = c2.multiselect("Question type", sorted(frame["qtype"].unique()), key=f"fail_qtype_{tag}")
    by_freq = frame["answer"].value_counts().index.tolist()[:300]
    answer = c3.multiselect("True answer", by_freq, key=f"fail_answer_{tag}",
                            help="the 300 most frequent answers of the split" if len(by_freq) == 300 else None)
    c4, c5, c6 = st.columns(3)
    outcome = c4.radio("Outcome", ["wrong", "correct", "all"], horizontal=True, key="fail_outcome")
    conf = frame["confidence"].to_numpy()
    with c5:
        conf_lo, conf_hi = _range("Confidence", conf, f"fail_conf_{tag}", 0.01)
    with c6:
        len_lo, len_hi = _range("Question length (words)", frame["question_len"].to_numpy(), f"fail_len_{tag}", 1.0)
    query = dict(task=task or None, qtype=qtype or None, answer=answer or None, min_conf=conf_lo, max_conf=conf_hi,
                 min_len=int(len_lo), max_len=int(len_hi))
    return query, outcome


def open_in_inspector(entry_label: str, split: str, qid: str) -> None:
    """The inspector's deep-link state, then the page switch (one click)."""
    st.session_state.update(ckpt=entry_label, split=split, qid=str(qid), step=0, word=0, row=None,
                            search="", qtype_filter=[], outcome_filter="all", task_filter="all")
    st.switch_page("views/inspector.py",
                   query_params={"ckpt": entry_label, "split": split, "qid": str(qid), "step": "0"})


def _entry_for(meta: dict, fallback):
    """The checkpoint a store was built from, among the checkpoints found (else the sidebar's)."""
    ck = (meta.get("identity") or {}).get("checkpoint")
    if ck:
        roots = tuple(str(r) for r in state.checkpoint_roots())
        for e in state.checkpoints(roots):
            if Path(e.path).resolve() == Path(ck).resolve():
                return e
    return fallback


def render() -> None:
    entry = state.current_entry()
    if entry is None:
        st.info("Pick a checkpoint in the sidebar.")
        return
    split = st.session_state["split"]
    frame, meta, where = load(entry, split)
    if frame.empty:
        st.info(f"{where} has no questions.")
        return
    kind = _kind(frame, meta)
    target = _entry_for(meta, entry) if meta else entry
    split = (meta.get("identity") or {}).get("split", split) if meta else split
    st.caption(f"{len(frame)} questions from {where} · share correct {frame['correct'].mean():.3f}")
    query, outcome = filters(frame, hashlib.sha1(where.encode()).hexdigest()[:10])
    scope = filter_frame(frame, sort=None, **query)                   # every filter but the outcome
    sel = filter_frame(scope, correct=None if outcome == "all" else outcome == "correct",
                       sort="confidence", ascending=False)
    noun = {"wrong": "errors", "correct": "correct answers", "all": "answers"}[outcome]
    st.markdown(f"**{len(sel)}** {noun} match, most confident first"
                + (" (confidence of a count: −|raw output − rounded prediction|)" if kind == "count" else "") + ".")

    tab_list, tab_conf = st.tabs(["Questions", "Confusion matrix"])
    with tab_list:
        if sel.empty:
            st.info("No question matches these filters.")
        else:
            cols = [c for c in SHOWN_COLUMNS if c in sel]
            st.dataframe(sel[cols].head(LISTED), hide_index=True, key="fail_table",
                         column_config={"confidence": st.column_config.NumberColumn(format="%.3f")})
            if target is None:
                st.warning("The store's checkpoint is not among the checkpoints found: rows cannot open in the inspector.")
            else:
                st.caption(f"Open a question in the inspector ({target.label}, {split}):")
                for _, r in sel.head(BUTTONS).iterrows():
                    c1, c2 = st.columns([1, 5], vertical_alignment="center")
                    if c1.button("Open", key=f"open_{r['qid']}", icon=":material/search:"):
                        open_in_inspector(target.label, split, r["qid"])
                    mark = "✓" if r["correct"] else "✗"
                    c2.markdown(f"{mark} `{r['qid']}` · {r['question']} · truth **{r['answer']}** · "
                                f"predicted **{r['prediction']}** ({r['confidence']:.3f})")
    with tab_conf:
        what = {"mc": "multiple choice: truth and prediction by candidate position",
                "count": "count: true count (0 read as 1) against the rounded prediction",
                "open": "open-ended: the 15 most frequent true answers, the rest as (other)"}[kind]
        cm = tables.confusion_table(scope, kind)
        if cm.empty:
            st.info("No question matches these filters.")
        else:
            st.plotly_chart(figures.confusion_figure(cm, title=f"confusion ({what})"), key="fail_confusion",
                            config={"displaylogo": False})
            st.download_button("Download CSV", tables.to_csv(cm), file_name=f"confusion_{split}.csv", mime="text/csv",
                               key="fail_confusion_csv", on_click="ignore", icon=":material/download:")


st.title("Failure browser")
state.guard(render)
