"""Inspector: one question of the checkpoint's dataset, step by step.

    streamlit run dashboard/app.py            (the default page, at /)
"""
from __future__ import annotations

import streamlit as st

from dashboard import panels, state


def render() -> None:
    got = panels.current_question()
    if got is None:
        return
    entry, rec, ex, frames, note = got
    st.caption(f"{entry.label} · {st.session_state['split']} · question {rec.qid} · video {rec.video_id} · "
               f"type {rec.qtype}")
    panels.render_explanation(ex, question=rec.question, truth=rec.answer, frames=frames, frames_note=note,
                              variant=entry.variant, candidates=list(rec.candidates))


st.title("Inspector")
state.guard(render)
