"""Two checkpoints on the same question, side by side, with the differences of their maps.

    streamlit run dashboard/app.py            (then "Two checkpoints", /side-by-side)

Checkpoint A is the sidebar's; B is any other checkpoint of the same task (in the demo:
the Action ablations). Both answer the sidebar's question (one cached forward pass each).
Per-frame maps (how much each frame was attended, read from, written) are compared
frame by frame; attention maps of the same shape are subtracted (B − A). Memory maps
indexed by slot are not subtracted: slot i of one model has nothing to do with slot i of
another.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import streamlit as st

from dashboard import figures, panels, state
from videoqa_core.explain import counterfactual as cf
from videoqa_core.explain.grounding import frame_importance
from videoqa_core.figure import frame_weights

CHART = panels.CHART
FRAME_MAPS = {"attention": "attention received (as in the frame strip)",
              "memory_read": "memory read provenance", "memory_write": "memory write mass (μ₁+μ₂)",
              "video_self_attn": "video self-attention received", "coattn": "text-to-video co-attention received"}
# Trace field -> (row axis, column axis) of maps whose both axes are frames or words.
PAIR_MAPS = {"video_self_attn": ("frame", "frame"), "t2v_attn": ("frame", "frame"), "affinity": ("frame", "word"),
             "v2t_attn": ("frame", "word"), "text_self_attn": ("word", "word")}


def data_of(entry) -> tuple | None:
    """(dataset, annotation folder) from the run folder's config.json, without loading the
    checkpoint; None when the folder has no readable config."""
    try:
        d = json.loads((entry.run_dir / "config.json").read_text(encoding="utf-8"))["data"]
        return d.get("dataset"), str(Path(d.get("annotations", "")).as_posix()).rstrip("/")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def frame_map(trace, name: str):
    """(N,) map of one trace row, or None where the variant lacks the part."""
    if name == "attention":
        w, source = frame_weights(trace)
        return w if source else None
    return frame_importance(trace, name)


def render() -> None:
    got = panels.current_question()
    if got is None:
        return
    entry, rec, ex_a, _frames, _note = got
    split = st.session_state["split"]
    roots = tuple(str(r) for r in state.checkpoint_roots())
    here = Path(entry.label).parent
    mine = data_of(entry)
    # Same task and the same annotations (else the question does not exist for B); runs of
    # the same collection first (the demo's Action ablations beside its full model), and
    # first of all the same variant otherwise trained (the demo's Attvt-all and
    # Attvt-all-spec: what the model switches change in the maps).
    everything = state.checkpoints(roots)
    others = sorted((e for e in everything if e.task == entry.task and e.label != entry.label
                     and (mine is None or data_of(e) in (None, mine))),
                    key=lambda e: (Path(e.label).parent != here, e.variant != entry.variant, e.label))
    if not others:
        counts = Counter(e.task for e in everything)
        more = ", ".join(f"{t} ({n})" for t, n in sorted(counts.items()) if n > 1)
        st.info(f"No other checkpoint of the task '{entry.task}' was found to compare {entry.label} with."
                + (f" Tasks with two or more checkpoints: {more}; pick one of their runs in the sidebar." if more else ""))
        return
    labels = [e.label for e in others]
    if st.session_state.get("sbs_other") not in labels:
        st.session_state["sbs_other"] = labels[0]
    other_label = st.selectbox("Checkpoint B", labels, key="sbs_other",
                               format_func=lambda lab: f"{lab}  ({next(e.variant for e in others if e.label == lab)})")
    other = next(e for e in others if e.label == other_label)
    ex_b = state.explanation(other.path, other.mtime, split, rec.qid)
    st.markdown(f"#### {rec.question}")
    row_a = ex_a.predicted_row
    if entry.variant and entry.variant != other.variant:
        names = (f"A: {entry.variant}", f"B: {other.variant}")
    else:   # one variant twice (e.g. Attvt-all and Attvt-all-spec): the run names tell them apart
        names = (f"A: {Path(entry.label).name}", f"B: {Path(other.label).name}")
    c1, c2 = st.columns(2)
    for col, ex, e, nm in ((c1, ex_a, entry, names[0]), (c2, ex_b, other, names[1])):
        with col:
            st.markdown(f"**{nm}** · `{e.label}`")
            st.markdown(panels.verdict(ex, rec.answer)[1])
    agree = ex_a.prediction == ex_b.prediction
    st.caption("The two checkpoints " + ("agree." if agree else "disagree.")
               + (" Maps below are of the row of A's predicted candidate." if ex_a.kind == "mc" else ""))

    ta, tb = ex_a.trace.row(row_a), ex_b.trace.row(row_a)
    n = int(np.asarray(ta.video_mask).shape[0])
    avail = [m for m in FRAME_MAPS if frame_map(ta, m) is not None and frame_map(tb, m) is not None]
    if avail:
        m = st.radio("Per-frame map", avail, format_func=FRAME_MAPS.get, horizontal=True, key="sbs_frame_map")
        a, b = frame_map(ta, m), frame_map(tb, m)
        st.plotly_chart(figures.compare_bars(a[:n], b[:n], names=names, title=f"{FRAME_MAPS[m]}: A, B and B − A"),
                        key="sbs_frames", config=CHART)
    else:
        st.info("The two checkpoints share no per-frame map (one of them lacks every such part).")

    diff = cf.compare(ex_a, ex_b)
    words = list(ex_a.rows[row_a])
    T = len(words)
    shown = [f for f in PAIR_MAPS if f in diff["fields"]]
    missing = [f for f in PAIR_MAPS if f not in diff["fields"]]
    if shown:
        st.markdown("##### Attention maps: B − A")
        cols = st.columns(2)
        for i, f in enumerate(shown):
            d = np.asarray(diff["fields"][f]["diff"])[row_a]
            ra, ca = PAIR_MAPS[f]
            d = d[: (T if ra == "word" else n), : (T if ca == "word" else n)]
            rl = words if ra == "word" else [str(k) for k in range(d.shape[0])]
            cl = words if ca == "word" else [str(k) for k in range(d.shape[1])]
            with cols[i % 2]:
                st.plotly_chart(figures.difference_map(d, rows=rl, cols=cl, row_title=ra, col_title=ca,
                                                       title=f"{f}: B − A  (mean |Δ| {diff['fields'][f]['mean_abs']:.4f})"),
                                key=f"sbs_{f}", config=CHART)
    if missing:
        st.caption("Not compared (absent in A or B, Table 1 ablation): " + ", ".join(missing) + ".")


st.title("Two checkpoints")
state.guard(render)
