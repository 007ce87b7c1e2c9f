"""The inspector's body for one answered question, shared by the Inspector page (a
question of the dataset) and "Ask your own clip" (an upload).

Everything that depends on the step lives in one ``st.fragment``: moving the slider,
previous/next and play rerun only that part, and it reads only the cached
:class:`~videoqa_core.inference.Explanation` (no model call).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import streamlit as st

from dashboard import figures, state
from videoqa_core.figure import frame_weights

PLAY_SECONDS = 0.8
CHART = {"displaylogo": False}

# Trace fields -> the name of the part, for "this variant has no ..."
ATTENTION = {
    "video_self_attn": "video self-attention",
    "text_self_attn": "text self-attention",
    "affinity": "affinity Sm (co-attention)",
    "v2t_attn": "video-to-text co-attention",
    "t2v_attn": "text-to-video co-attention",
}


def _shift(key: str, delta: int, n: int) -> None:
    st.session_state[key] = int(np.clip(int(st.session_state[key]) + delta, 0, n - 1))


def _absent(part: str, variant: Optional[str]) -> None:
    where = f"The variant {variant}" if variant else "This checkpoint"
    st.info(f"{where} has no {part} (Table 1 ablation), so there is no map of it here.", icon=":material/block:")


def verdict(ex, truth: Optional[str]) -> tuple[bool | None, str]:
    """(correct or None without a truth, one markdown line)."""
    pred = ex.prediction
    if truth is None:
        return None, f"**Prediction:** {pred}"
    if ex.kind == "count":
        from videoqa_core.tasks import count_target
        try:
            ok = float(pred) == count_target(float(truth))
        except ValueError:
            ok = False
    else:
        ok = pred == truth
    mark = ":green[**✓ correct**]" if ok else ":red[**✗ wrong**]"
    return ok, f"**Prediction:** {pred} · **truth:** {truth} · {mark}"


def answer_section(ex, truth: Optional[str], candidates: list[str]) -> None:
    ok, line = verdict(ex, truth)
    st.markdown(line)
    if ex.kind == "count":
        t = None
        if truth is not None:
            from videoqa_core.tasks import count_target
            t = count_target(float(truth))
        st.plotly_chart(figures.count_figure(float(ex.scores[0]), int(ex.prediction), t), key="answer_count",
                        config=CHART)
    elif ex.kind == "mc":
        probs = np.exp(ex.scores - ex.scores.max())
        probs /= probs.sum()
        st.plotly_chart(figures.answer_bars(candidates, probs, predicted=ex.prediction, truth=truth,
                                            value_name="softmax of the 5 scores",
                                            title="candidates (question + candidate scored per row)"),
                        key="answer_mc", config=CHART)
    else:
        labels = [a for a, _ in ex.top]
        st.plotly_chart(figures.answer_bars(labels, [p for _, p in ex.top], predicted=ex.prediction, truth=truth,
                                            value_name="probability", title="top-5 answers"),
                        key="answer_open", config=CHART)
        if truth is not None and truth not in labels:
            st.caption(f"The true answer '{truth}' is not among the top 5.")


def render_explanation(ex, *, question: str, truth: Optional[str], frames: Optional[np.ndarray],
                       frames_note: str, variant: Optional[str], candidates: list[str] | None = None) -> None:
    """The whole inspector for one explanation: answer, then the step-dependent maps."""
    candidates = list(candidates or [])
    st.markdown(f"#### {question}")
    if ex.unknown_words:
        st.caption("Not in this checkpoint's vocabulary (read as <unk>): " + ", ".join(ex.unknown_words))
    answer_section(ex, truth, candidates)

    row = ex.predicted_row
    if ex.kind == "mc" and len(ex.rows) > 1:
        if st.session_state["row"] is None or not 0 <= int(st.session_state["row"]) < len(ex.rows):
            st.session_state["row"] = ex.predicted_row
        labels = {i: f"{c}{'  (predicted)' if i == ex.predicted_row else ''}" for i, c in enumerate(candidates)}
        st.radio("Candidate row shown below (question + candidate)", list(range(len(ex.rows))), horizontal=True,
                 format_func=lambda i: labels.get(i, str(i)), **state.bind("row"))
        row = int(st.session_state["row"])
    trace = ex.trace.row(row)
    words = list(ex.rows[row])
    N = int(trace.video_mask.shape[0])
    playing = bool(st.session_state["playing"])

    @st.fragment(run_every=PLAY_SECONDS if playing else None)
    def stepper() -> None:
        if st.session_state["playing"]:
            st.session_state["step"] = (int(st.session_state["step"]) + 1) % N
        st.session_state["step"] = int(np.clip(int(st.session_state["step"]), 0, N - 1))
        st.session_state["word"] = int(np.clip(int(st.session_state["word"]), 0, max(0, len(words) - 1)))
        step_controls(N)
        state.write_link()
        step = int(st.session_state["step"])
        frames_section(trace, frames, frames_note, step)
        # Lazy tabs: only the open section is computed and drawn. Fifteen plotly charts
        # at once cost the browser seconds per question; one section costs a third.
        tabs = st.tabs(list(SECTIONS), key="section", on_change="rerun")
        for tab, draw in zip(tabs, SECTIONS.values()):
            if tab.open:
                with tab:
                    draw(trace=trace, words=words, step=step, variant=variant)

    stepper()


def step_controls(N: int) -> None:
    cols = st.columns([6, 1, 1, 1.4], vertical_alignment="bottom")
    with cols[0]:
        if N > 1:
            st.slider("Step (frame)", 0, N - 1, **state.bind("step"))
        else:
            st.caption("One frame: a single step.")
    cols[1].button("◀ prev", key="prev_step", on_click=_shift, args=("step", -1, N), disabled=N < 2)
    cols[2].button("next ▶", key="next_step", on_click=_shift, args=("step", 1, N), disabled=N < 2)
    cols[3].toggle("play", **state.bind("playing"))


def frames_section(trace, frames, note: str, step: int) -> None:
    """The current step's frame, large, beside the strip of all frames over their attention."""
    weights, source = frame_weights(trace)
    if note:
        st.caption(note)
    if frames is None:
        st.plotly_chart(figures.frame_strip(None, step=step, weights=weights, weight_name=source,
                                            n_frames=len(weights)), key="frame_strip", config=CHART)
        return
    big, strip = st.columns([1, 4], vertical_alignment="center")
    big.image(figures.enlarge(frames[step]), caption=f"frame {step} (step {step}), attention {weights[step]:.3f}",
              width="stretch")
    with strip:
        st.plotly_chart(figures.frame_strip(frames, step=step, weights=weights, weight_name=source,
                                            n_frames=len(weights), png=_strip_png(frames)),
                        key="frame_strip", config=CHART)


@st.cache_data(max_entries=16, show_spinner=False)
def _strip_png(frames: np.ndarray) -> tuple[str, int]:
    """The clip's thumbnails encoded once, not again at every step."""
    return figures.frames_png(frames)


def visual_section(*, trace, step: int, variant: Optional[str], **_) -> None:
    st.caption("Visual memory: one step per frame (Eq. 1-10).")
    if trace.visual_read is None:
        _absent("visual memory (a video-free baseline)", variant)
        return
    st.plotly_chart(figures.visual_memory(trace.visual_read, trace.visual_write_app, trace.visual_write_mot,
                                          trace.visual_gates, trace.visual_memory_norm, step=step),
                    key="visual_memory", config=CHART)


def text_section(*, trace, words: list[str], **_) -> None:
    st.caption("Textual memory: one step per word (Eq. 11-16); the word step is its own slider.")
    T = len(words)
    if T > 1:
        st.select_slider("Word step", options=list(range(T)), format_func=lambda i: f"{i}: {words[i]}",
                         **state.bind("word"))
    st.plotly_chart(figures.text_memory(trace.text_read[:T], trace.text_write[:T], trace.text_memory_norm[:T],
                                        words=words, word=int(st.session_state["word"])),
                    key="text_memory", config=CHART)


def attention_section(*, trace, words: list[str], step: int, variant: Optional[str]) -> None:
    st.caption("Self- and co-attention (Eq. 17-22); rows are queries, the marked row is the current frame or word.")
    for name, part in ATTENTION.items():
        if getattr(trace, name) is None:
            _absent(part, variant)
    maps = figures.attention_maps({name: getattr(trace, name) for name in ATTENTION},
                                  n_frames=int(trace.video_mask.shape[0]), words=words, step=step,
                                  word=int(st.session_state["word"]))
    if maps:
        st.plotly_chart(figures.attention_figure(maps), key="attention", config=CHART)


def current_question():
    """(entry, record, explanation, frames, note) of the sidebar's choice, or None after
    saying on the page why there is nothing to show."""
    entry = state.current_entry()
    if entry is None:
        st.info("Pick a checkpoint in the sidebar.")
        return None
    if "_load_error" in st.session_state:
        raise st.session_state["_load_error"]
    qid = st.session_state["qid"]
    if qid is None:
        st.info("Pick a question in the sidebar.")
        return None
    split = st.session_state["split"]
    rec = state.records(entry.path, entry.mtime, split)[qid]
    ex = state.explanation(entry.path, entry.mtime, split, qid)
    frames, note = state.frames(entry.path, entry.mtime, rec.video_id)
    return entry, rec, ex, frames, note


# Tab title -> section; the first is open by default.
SECTIONS = {
    "Visual memory": visual_section,
    "Textual memory": text_section,
    "Attention": attention_section,
}
