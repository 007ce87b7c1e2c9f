"""The VideoQA explainability workbench: router and shared sidebar.

    streamlit run dashboard/app.py [-- --checkpoints DIR [DIR ...]]

Opens on the demo (``checkpoints/demo/...``, the full model of the Count task). More
checkpoint folders come from ``--checkpoints`` or ``$VIDEOQA_CHECKPOINTS``
(os.pathsep-separated). The URL carries the checkpoint, split, question and step, so a
copied link reopens the same view.

A page is a file in ``dashboard/views/``; add it to :data:`PAGES` and it gets the sidebar
(checkpoint, split, question) and the session keys of :mod:`dashboard.state`.
"""
from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts dashboard/ on sys.path, not the project root the packages live in.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from dashboard import figures, state  # noqa: E402

HERE = Path(__file__).resolve().parent
MARKS = {True: "✓", False: "✗"}      # the question's outcome in the picker

# (file relative to this script, title, icon, url path); the first one is the default
# and lives at "/" (Streamlit serves the default page at the root, whatever its path).
PAGES = [
    ("views/inspector.py", "Inspector", ":material/search:", None),
    ("views/figure1.py", "Figure 1", ":material/image:", "figure"),
    ("views/upload.py", "Ask your own clip", ":material/upload:", "upload"),
    ("views/attribution.py", "Attribution", ":material/insights:", "attribution"),
    ("views/counterfactual.py", "Counterfactuals", ":material/edit_note:", "counterfactual"),
    ("views/side_by_side.py", "Two checkpoints", ":material/compare:", "side-by-side"),
    ("views/failures.py", "Failure browser", ":material/bug_report:", "failures"),
    ("views/grounding.py", "Grounding", ":material/my_location:", "grounding"),
    ("views/compare.py", "Results tables", ":material/table_chart:", "tables"),
]


def sidebar() -> None:
    """Checkpoint, split and question pickers; sets ``_entry`` for the pages."""
    sb = st.sidebar
    roots = state.checkpoint_roots()
    entries = state.checkpoints(tuple(str(r) for r in roots))
    st.session_state["_entry"] = None
    if not entries:
        sb.warning("No checkpoints found in " + ", ".join(f"`{r}`" for r in roots) +
                   ". Build the demo with `python -m videoqa_core demo`, or start the app with "
                   "`-- --checkpoints DIR`.")
        return

    tasks = sorted({e.task for e in entries if e.task})
    if st.session_state["task_filter"] not in ["all", *tasks]:
        st.session_state["task_filter"] = "all"
    sb.selectbox("Task", ["all", *tasks], **state.bind("task_filter"))
    shown = [e for e in entries if st.session_state["task_filter"] in ("all", e.task)] or entries
    by_label = {e.label: e for e in shown}
    if st.session_state["ckpt"] not in by_label:
        wanted = st.session_state["ckpt"]
        if wanted is not None and wanted not in {e.label for e in entries}:
            sb.warning(f"Checkpoint '{wanted}' from the link is not among the checkpoints found; showing the default.")
        st.session_state["ckpt"] = state.default_checkpoint(shown).label
        st.session_state["qid"] = None if wanted is not None else st.session_state["qid"]
    sb.selectbox("Checkpoint", list(by_label), format_func=lambda lab: _entry_label(by_label[lab]),
                 **state.bind("ckpt"))
    entry = by_label[st.session_state["ckpt"]]
    st.session_state["_entry"] = entry

    if st.session_state["split"] not in state.SPLITS:
        st.session_state["split"] = "test"
    sb.selectbox("Split", state.SPLITS, **state.bind("split"))
    try:
        df = state.questions(entry.path, entry.mtime, st.session_state["split"])
    except Exception as exc:  # noqa: BLE001 - shown in the page; the sidebar stays usable
        st.session_state["_load_error"] = exc
        return
    st.session_state.pop("_load_error", None)
    question_picker(df)


def _entry_label(e: state.CheckpointEntry) -> str:
    extra = " · ".join(x for x in (e.task, e.variant) if x)
    return f"{e.label}  ({extra})" if extra else e.label


def question_picker(df) -> None:
    sb = st.sidebar
    sb.text_input("Search questions", placeholder="words or question id", **state.bind("search"))
    qtypes = sorted(df["qtype"].dropna().unique().tolist())
    st.session_state["qtype_filter"] = [q for q in st.session_state["qtype_filter"] if q in qtypes]
    sb.multiselect("Question type", qtypes, **state.bind("qtype_filter"))
    has_outcome = df["correct"].notna().any()
    sb.radio("Outcome", ["all", "correct", "wrong"], horizontal=True, disabled=not has_outcome,
             help=None if has_outcome else "no predictions file beside this checkpoint: run `python -m videoqa_core evaluate`",
             **state.bind("outcome_filter"))

    sel = df
    text = st.session_state["search"].strip().lower()
    if text:
        sel = sel[sel["question"].str.lower().str.contains(text, regex=False) |
                  sel["qid"].str.lower().str.contains(text, regex=False)]
    if st.session_state["qtype_filter"]:
        sel = sel[sel["qtype"].isin(st.session_state["qtype_filter"])]
    if has_outcome and st.session_state["outcome_filter"] != "all":
        sel = sel[sel["correct"].fillna(False).astype(bool) == (st.session_state["outcome_filter"] == "correct")]

    qid = st.session_state["qid"]
    options = sel["qid"].tolist()[: state.MAX_LISTED]
    filtered = bool(text or st.session_state["qtype_filter"] or st.session_state["outcome_filter"] != "all")
    if qid is not None and qid not in options and qid in set(df["qid"]) and not filtered:
        options = [qid, *options]   # a linked question beyond the first MAX_LISTED stays selectable
    if not options:
        sb.info("No question matches the search and filters.")
        st.session_state["qid"] = None
        return
    if qid not in options:
        if qid is not None and st.session_state.get("_deep_link", {}).get("qid") == qid:
            sb.warning(f"Question '{qid}' from the link is not in this split.")
        st.session_state["qid"] = options[0]
    # Labels in one pass over the columns: a row lookup per option cost 0.15 ms, 75 ms a
    # run for a full list.
    listed = df[df["qid"].isin(options)]
    labels = {q: f"{'' if pd.isna(ok) else MARKS[bool(ok)]} {q} · {text}".strip()
              for q, text, ok in zip(listed["qid"], listed["question"], listed["correct"])}

    shown = len(sel)
    # Tied by hand rather than with state.bind: a new question also resets the row.
    st.session_state["w_qid"] = st.session_state["qid"]
    sb.selectbox(f"Question ({shown} match{'es' if shown != 1 else ''}"
                 f"{f', first {state.MAX_LISTED} listed' if shown > state.MAX_LISTED else ''})",
                 options, format_func=labels.__getitem__, on_change=_question_changed, key="w_qid")


def _question_changed() -> None:
    st.session_state["qid"] = st.session_state["w_qid"]
    st.session_state["row"] = None


def main() -> None:
    st.set_page_config(page_title="VideoQA workbench", page_icon=":material/movie:", layout="wide")
    state.init_session()
    pages = [st.Page(str(HERE / f), title=t, icon=i, url_path=u or None, default=(n == 0))
             for n, (f, t, i, u) in enumerate(PAGES)]
    nav = st.navigation(pages)
    slot = None if st.session_state["charts_ready"] else st.empty()
    if slot is not None:
        # The browser fetches and parses plotly.js (4.7 MB) only once the first chart of a
        # page load arrives: seconds on a busy machine. A blank chart sent before the
        # checkpoint loads lets that happen while the server is still loading the model.
        slot.plotly_chart(figures.blank(), config={"staticPlot": True}, key="load_plotly")
    try:
        sidebar()
        state.write_link()
        nav.run()
    finally:
        if slot is not None:
            slot.empty()
            st.session_state["charts_ready"] = True


main()
