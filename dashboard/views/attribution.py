"""Attribution: which frames and which words moved the sidebar question's answer (captum).

    streamlit run dashboard/app.py            (then "Attribution", /attribution)

Integrated Gradients over the appearance and motion features per frame (kept apart),
LayerIntegratedGradients over the word embeddings with a PAD baseline, and forward-only
occlusion per frame; see :mod:`videoqa_core.explain.attribution`. IG costs a backward pass
per step, so nothing runs until "Compute" is pressed; each method's result is cached per
(checkpoint, question, settings), so a second look, or a return to the page, is instant.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import figures, panels, state

METHOD_NAMES = {"ig": "Integrated Gradients (frames)", "words": "Layer IG (words)", "occlusion": "Occlusion (frames)"}
CHART = panels.CHART


@st.cache_data(max_entries=256, show_spinner=False)
def attribution(path: str, mtime: float, split: str, qid: str, method: str, steps: int, baseline: str,
                target: Optional[int]):
    """One method's attribution of one question (one captum run)."""
    from videoqa_core.explain.attribution import attribute
    rec = state.records(path, mtime, split)[qid]
    app, mot = state.feature_store(path, mtime).get(rec.video_id)
    return attribute(state.predictor(path, mtime), app, mot, rec.question, list(rec.candidates) or None,
                     methods=(method,), steps=steps, target=target, frame_baseline=baseline)


def _target_picker(ex, candidates: list[str], answers: Optional[list[str]]) -> tuple[Optional[int], str]:
    """(target index for attribute(), its label): what the attributions explain."""
    if ex.kind == "count":
        st.caption("Explained: the count head's raw output (before rounding).")
        return None, "raw count"
    if ex.kind == "mc":
        i = st.radio("Explain the score of candidate", list(range(len(candidates))), index=ex.predicted_row,
                     format_func=lambda k: f"{candidates[k]}{'  (predicted)' if k == ex.predicted_row else ''}",
                     horizontal=True, key=f"attr_target_{hash(tuple(candidates))}")
        return int(i), candidates[int(i)]
    top = [a for a, _ in ex.top]
    a = st.selectbox("Explain the logit of answer", top, index=0, key=f"attr_target_open_{hash(tuple(top))}",
                     format_func=lambda s: f"{s}{'  (predicted)' if s == ex.prediction else ''}")
    return int(answers.index(a)), a


def render() -> None:
    got = panels.current_question()
    if got is None:
        return
    entry, rec, ex, frames, note = got
    split = st.session_state["split"]
    st.caption(f"{entry.label} · {split} · question {rec.qid} · video {rec.video_id} · type {rec.qtype}")
    st.markdown(f"#### {rec.question}")
    st.markdown(panels.verdict(ex, rec.answer)[1])
    predictor = state.predictor(entry.path, entry.mtime)
    video_free = bool(getattr(predictor.model, "video_free", False))
    offered = ["words"] if video_free else ["ig", "words", "occlusion"]
    if video_free:
        st.info(f"The variant {entry.variant or ''} is a video-free baseline: only word attributions exist.",
                icon=":material/block:")

    with st.container(border=True):
        target, target_label = _target_picker(ex, list(rec.candidates), predictor.answers)
        c1, c2, c3 = st.columns([2, 1, 1])
        methods = c1.multiselect("Methods", offered, default=offered, format_func=METHOD_NAMES.get,
                                 key=f"attr_methods_{int(video_free)}")
        steps = c2.select_slider("IG steps", [8, 16, 32, 64], value=16, key="attr_steps",
                                 help="More steps: a smaller convergence delta, a longer wait (one backward per step).")
        baseline = c3.radio("Frame baseline", ["zeros", "mean"], key="attr_baseline",
                            format_func=lambda b: {"zeros": "zeros", "mean": "video's mean frame"}[b],
                            help="What 'absent' means for a frame: zero features, or this video's average frame.")
        pressed = st.button("Compute attributions", type="primary", key="attr_run", icon=":material/play_arrow:")

    keys = {m: (entry.path, entry.mtime, split, rec.qid, m, int(steps), baseline, target) for m in methods}
    done: set = st.session_state.setdefault("_attr_done", set())
    if pressed and methods:
        bar = st.progress(0.0, text="Attributing…")
        for i, (m, key) in enumerate(keys.items()):
            bar.progress(i / len(keys), text=f"{METHOD_NAMES[m]} ({i + 1}/{len(keys)})…")
            attribution(*key)
            done.add(key)
        bar.empty()
    ready = {m: attribution(*k) for m, k in keys.items() if k in done}
    if not methods:
        st.info("Choose at least one method.")
        return
    if not ready:
        st.info("Press **Compute attributions**: IG runs one backward pass per step, so it waits for the button.")
        return
    show(ready, frames=frames, note=note, target_label=target_label)


def show(ready: dict, *, frames: Optional[np.ndarray], note: str, target_label: str) -> None:
    any_att = next(iter(ready.values()))
    st.markdown(f"**Explained:** {target_label} · score at the input **{any_att.score:.4g}**")
    rows = []
    for m, att in ready.items():
        base_score = att.baseline_scores.get(m, np.nan)
        total = np.nan
        if m == "ig":
            total = float(att.appearance_ig.sum() + att.motion_ig.sum())
        elif m == "words":
            total = float(att.word_ig.sum())
        rows.append({"method": METHOD_NAMES[m], "baseline": att.baselines.get(m, ""),
                     "f(input)": att.score, "f(baseline)": base_score,
                     "sum of attributions": total, "f(input) − f(baseline)": att.score - base_score,
                     "convergence delta": att.deltas.get(m, np.nan)})
    summary = pd.DataFrame(rows)
    # the delta is small by design: scientific notation, or it reads as 0.0000
    st.dataframe(summary.style.format(precision=4, na_rep="–").format("{:.2e}", subset=["convergence delta"], na_rep="–"),
                 hide_index=True, key="attr_summary")
    st.caption("IG's convergence delta is sum(attributions) − (f(input) − f(baseline)): near zero means enough "
               "steps. Occlusion is exact by construction (one forward per frame, no delta).")

    strips = {}
    if "ig" in ready:
        strips["IG appearance"] = ready["ig"].appearance_ig
        strips["IG motion"] = ready["ig"].motion_ig
    if "occlusion" in ready:
        o = ready["occlusion"]
        strips["occlusion (both)"] = o.occlusion
        strips["occlusion appearance"] = o.occlusion_appearance
        strips["occlusion motion"] = o.occlusion_motion
    if strips:
        if note:
            st.caption(note)
        st.plotly_chart(figures.attribution_strips(strips, frames=frames, title="attribution per frame (score units)",
                                                   value_name="attribution"), key="attr_frames", config=CHART)
        st.caption("Red raises the explained score, blue lowers it. Occlusion: score with the frame minus score "
                   "with the frame replaced by the baseline.")
    if "words" in ready:
        w = ready["words"]
        st.plotly_chart(figures.word_strip(w.words, w.word_ig, title="attribution per word (Layer IG, PAD baseline)"),
                        key="attr_words", config=CHART)


st.title("Attribution")
state.guard(render)
