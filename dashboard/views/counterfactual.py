"""Counterfactuals: edit the sidebar question's inputs and see the new answer and how every
map changed.

    streamlit run dashboard/app.py            (then "Counterfactuals", /counterfactual)

Edits (see :mod:`videoqa_core.explain.counterfactual`): the question text; frames masked
(treated as padding), blanked (zeros or the video's mean frame), dropped, shuffled or
reversed; candidates edited or swapped (multiple choice). Every edit is one forward pass
(cached per edit), so the page follows the widgets live. Maps are lined up frame by frame
through the edit (after a shuffle, a frame is compared with the original frame it came
from) and row by row through a candidate swap.

Below, the same kinds of edit on every question of the split at once
(:mod:`videoqa_core.explain.sensitivity`, as ``python -m videoqa_core sensitivity``): how
often the answer changes when the frames are reversed, shuffled or blanked, or two
question words trade places. That is the check of whether a model uses the order of
events or the question at all.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import figures, panels, state
from videoqa_core.errors import UserError
from videoqa_core.explain import counterfactual as cf
from videoqa_core.explain import sensitivity as sens
from videoqa_core.figure import frame_weights
from videoqa_core.tasks import NUM_CANDIDATES

CHART = panels.CHART
FRAME_EDITS = {"none": "no frame edit", "mask": "mask (treated as padding)", "zeros": "blank (zero features)",
               "mean": "blank (the video's mean frame)", "drop": "drop (shorter video)", "shuffle": "shuffle",
               "reverse": "reverse"}
# Trace field -> names of its two axes (frame / word / slot / gate), for the difference map.
AXES = {"visual_read": ("frame", "slot"), "visual_write_app": ("frame", "slot"), "visual_write_mot": ("frame", "slot"),
        "visual_gates": ("frame", "gate"), "visual_memory_norm": ("frame", "slot"), "text_read": ("word", "slot"),
        "text_write": ("word", "slot"), "text_memory_norm": ("word", "slot"), "video_self_attn": ("frame", "frame"),
        "text_self_attn": ("word", "word"), "affinity": ("frame", "word"), "v2t_attn": ("frame", "word"),
        "t2v_attn": ("frame", "frame")}


def apply_frame_edit(app: np.ndarray, mot: np.ndarray, edit: tuple) -> Optional[cf.FrameEdit]:
    """``edit`` = (kind, frames, seed) as the widgets give it; None for no edit."""
    kind, frames, seed = edit
    if kind == "none":
        return None
    if kind in ("mask", "zeros", "mean"):
        return cf.mask_frames(app, mot, frames, mode=kind)
    if kind == "drop":
        return cf.drop_frames(app, mot, frames)
    if kind == "shuffle":
        return cf.shuffle_frames(app, mot, seed=seed)
    return cf.reverse_frames(app, mot)


@st.cache_data(max_entries=128, show_spinner="Running the edited question…")
def edited(path: str, mtime: float, split: str, qid: str, question: str, candidates: tuple[str, ...],
           edit: tuple) -> tuple[object, Optional[np.ndarray]]:
    """(Explanation of the edited inputs, edited-frame -> original-frame or None): one forward."""
    rec = state.records(path, mtime, split)[qid]
    app, mot = state.feature_store(path, mtime).get(rec.video_id)
    fe = apply_frame_edit(app, mot, edit)
    if fe is not None:
        app, mot = fe.appearance, fe.motion
    ex = state.predictor(path, mtime).explain(app, mot, question, list(candidates) or None,
                                              video_mask=None if fe is None else fe.video_mask)
    return ex, None if fe is None else fe.frames


def controls(rec, n_frames: int, kind: str) -> tuple[str, tuple[str, ...], tuple, Optional[list[int]]]:
    """The edit widgets (keyed by question, so a new question starts unedited)."""
    q = rec.qid
    question = st.text_input("Question", value=rec.question, key=f"cf_q_{q}")
    c1, c2, c3 = st.columns([2, 3, 1])
    how = c1.selectbox("Frames", list(FRAME_EDITS), format_func=FRAME_EDITS.get, key=f"cf_edit_{q}")
    frames: list[int] = []
    seed = 0
    if how in ("mask", "zeros", "mean", "drop"):
        frames = c2.multiselect("Which frames", list(range(n_frames)), key=f"cf_frames_{q}")
    if how == "shuffle":
        seed = int(c3.number_input("Seed", 0, 10_000, 0, key=f"cf_seed_{q}"))
    cands: tuple[str, ...] = ()
    rows = None
    if kind == "mc":
        st.caption("Candidates (edit the text, or swap two):")
        cols = st.columns(NUM_CANDIDATES)
        texts = [cols[i].text_input(f"Candidate {i + 1}", value=c, key=f"cf_c{i}_{q}")
                 for i, c in enumerate(rec.candidates)]
        s1, s2, s3 = st.columns([1, 1, 2], vertical_alignment="bottom")
        i = s1.selectbox("Swap candidate", list(range(NUM_CANDIDATES)), format_func=lambda k: str(k + 1),
                         key=f"cf_swap_i_{q}")
        j = s2.selectbox("with", list(range(NUM_CANDIDATES)), index=1, format_func=lambda k: str(k + 1),
                         key=f"cf_swap_j_{q}")
        swap = s3.checkbox("swap them", key=f"cf_swap_{q}")
        texts = [t if t.strip() else c for t, c in zip(texts, rec.candidates)]   # an emptied box keeps its text
        if swap and i != j:
            texts = cf.swap_candidates(texts, i, j)
            rows = cf.swap_rows(NUM_CANDIDATES, i, j)
        cands = tuple(texts)
    return question, cands, (how, tuple(frames), seed), rows


def _labels(axis: str, n: int, frames: Optional[np.ndarray], words: list[str]) -> list[str]:
    if axis == "frame":
        return [str(int(frames[k])) if frames is not None else str(k) for k in range(n)]
    if axis == "word":
        return [words[k] if k < len(words) else "·" for k in range(n)]
    if axis == "gate":
        return list(figures.GATE_NAMES)[:n]
    return [str(k) for k in range(n)]


def render() -> None:
    got = panels.current_question()
    if got is None:
        return
    entry, rec, before, _frames, _note = got
    split = st.session_state["split"]
    n = int(np.asarray(before.trace.video_mask).shape[-1])
    st.caption(f"{entry.label} · {split} · question {rec.qid} · video {rec.video_id}")
    with st.container(border=True):
        question, cands, edit, rows = controls(rec, n, before.kind)
    after, frames = edited(entry.path, entry.mtime, split, rec.qid, question, cands, edit)
    diff = cf.compare(before, after, frames=frames, rows=rows)
    truth = rec.answer
    if rows is not None or cands != tuple(rec.candidates):
        truth = None if rec.answer not in cands else rec.answer   # an edited candidate may no longer be the truth
    c1, c2 = st.columns(2)
    c1.markdown("**Before:** " + panels.verdict(before, rec.answer)[1].removeprefix("**Prediction:** "))
    c2.markdown("**After:** " + panels.verdict(after, truth)[1].removeprefix("**Prediction:** "))
    changed = diff["prediction"]["changed"]
    (st.warning if changed else st.success)(
        f"The answer {'changed' if changed else 'stayed'}: {diff['prediction']['before']} → {diff['prediction']['after']}.")
    for note in diff["notes"]:
        st.caption(note)

    scores_section(before, after, diff, cands)
    row_after = after.predicted_row if after.kind == "mc" else 0
    row_before = (rows[row_after] if rows is not None else row_after) if after.kind == "mc" else 0
    wb, _ = frame_weights(before.trace.row(row_before))
    wa, source = frame_weights(after.trace.row(row_after))
    if source:
        idx = frames if frames is not None else np.arange(len(wb))
        st.plotly_chart(figures.compare_bars(np.asarray(wb)[idx], wa, names=("before", "after"),
                                             labels=[str(int(k)) for k in idx], x_title="frame (original index)",
                                             title=f"{source} per frame: before, after and the change"),
                        key="cf_frames", config=CHART)

    table = pd.DataFrame([{"map": f, "mean |Δ|": v["mean_abs"], "max |Δ|": v["max_abs"], "total variation": v.get("tv", np.nan),
                           "aligned": v["aligned"]} for f, v in diff["fields"].items() if f in AXES])
    st.markdown("##### How every map changed")
    st.dataframe(table.sort_values("mean |Δ|", ascending=False).style.format(precision=4, na_rep="–"),
                 hide_index=True, key="cf_table")
    maps = [f for f in AXES if f in diff["fields"]]
    f = st.selectbox("Difference map (after − before)", maps, key="cf_map")
    d = np.asarray(diff["fields"][f]["diff"])[row_after]
    ra, ca = AXES[f]
    words = list(after.rows[row_after])
    T = len(words)
    d = d[: (T if ra == "word" else d.shape[0]), : (T if ca == "word" else d.shape[1])]
    st.plotly_chart(figures.difference_map(d, rows=_labels(ra, d.shape[0], frames, words),
                                           cols=_labels(ca, d.shape[1], frames, words), row_title=ra, col_title=ca,
                                           title=f"{f}: after − before"), key="cf_diff", config=CHART)
    split_section(entry, split)


@st.cache_data(max_entries=16, show_spinner="Answering every question of the split under each edit…")
def split_sensitivity(path: str, mtime: float, split: str, edits: tuple[str, ...]) -> pd.DataFrame:
    recs = list(state.records(path, mtime, split).values())
    return sens.sensitivity(state.predictor(path, mtime), recs, state.feature_store(path, mtime),
                            [sens.parse_edit(e) for e in edits])


def split_section(entry, split: str) -> None:
    st.markdown("##### The same edits on every question of the split")
    c1, c2 = st.columns([3, 2])
    frame_edits = c1.multiselect("Frame edits", list(sens.FRAME_EDITS), default=list(sens.FRAME_EDITS),
                                 key="cfs_edits", help="reverse: the frames backwards; shuffle: one random order "
                                                       "per video; blank: every frame's features zeroed")
    swap = c2.text_input("Swap two question words", value="after=before", key="cfs_swap",
                         help="WORD=OTHER; only the questions holding either word are asked; empty: none")
    edits = tuple(frame_edits) + ((f"swap:{swap.strip()}",) if swap.strip() else ())
    key = (entry.path, split, edits)
    if st.button("Run on the split", key="cfs_run", disabled=not edits):
        st.session_state["cfs_done"] = key
    if st.session_state.get("cfs_done") != key:
        st.caption("Answers every question of the split again under each edit (a few seconds per edit on the demo).")
        return
    try:
        table = split_sensitivity(entry.path, entry.mtime, split, edits)
    except UserError as exc:
        st.error(str(exc))
        return
    st.dataframe(table.rename(columns={"changed": "answers changed"}).style.format(precision=3, na_rep="–"),
                 hide_index=True, key="cfs_table")
    st.caption("before / after: accuracy, or Count's mean L2 loss (lower is better). A model that uses the order of "
               "events changes its Transition answers when the frames are reversed; one that reads the direction "
               "word changes them when after and before trade places. Count also shows shift, the mean change of "
               "the raw count, and corr, its correlation before and after: many answers can move by one while the "
               "model still counts (corr stays high).")


def scores_section(before, after, diff, cands: tuple[str, ...]) -> None:
    sc = diff["scores"]
    if before.kind == "count":
        b, a = float(sc["before"][0]), float(sc["after"][0])
        st.metric("Raw count output", f"{a:.3f}", delta=f"{a - b:+.3f}")
        return
    if "change" not in sc:
        return
    if before.kind == "mc":
        labels = list(cands)
        b, a = sc["before"], sc["after"]
        name = "candidate score"
    else:
        # the answers either run ranks among its top 5
        top = list(dict.fromkeys([x for x, _ in before.top] + [x for x, _ in after.top]))
        answers = state.predictor(*_path()).answers
        idx = [answers.index(x) for x in top]
        labels, b, a = top, sc["before"][idx], sc["after"][idx]
        name = "probability"
    st.plotly_chart(figures.compare_bars(b, a, names=("before", "after"), labels=labels, x_title="answer",
                                         value_name=name, title=f"{name}s before and after the edit"),
                    key="cf_scores", config=CHART)


def _path() -> tuple[str, float]:
    e = state.current_entry()
    return e.path, e.mtime


st.title("Counterfactuals")
state.guard(render)
