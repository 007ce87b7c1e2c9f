"""Ask your own clip: upload a video, type a question, see it in the same inspector.

    streamlit run dashboard/app.py            (then "Ask your own clip", /upload)

The clip goes through the checkpoint's own extractors (see :mod:`dashboard.clips`); a
checkpoint whose extractor cannot be rebuilt says so instead of guessing.
"""
from __future__ import annotations

import streamlit as st

from dashboard import clips, panels, state
from videoqa_core.tasks import NUM_CANDIDATES
from videoqa_core.video.reader import VIDEO_EXTENSIONS


def render() -> None:
    entry = state.current_entry()
    if entry is None:
        st.info("Pick a checkpoint in the sidebar.")
        return
    p = state.predictor(entry.path, entry.mtime)
    st.caption(f"Checkpoint {entry.label} · task {p.task} · the clip is sampled to {p.config.model.num_frames} frames.")
    with st.form("ask"):
        # No `type=` filter: the browser's refusal would be silent about why; check_upload
        # names the formats the reader takes.
        up = st.file_uploader(f"Video ({', '.join(e.lstrip('.') for e in VIDEO_EXTENSIONS)}; at most "
                              f"{clips.MAX_UPLOAD_MB} MB)", key="upload_file")
        question = st.text_input("Question", key="upload_question", placeholder="what does the red circle do 3 times ?")
        cands: list[str] = []
        if p.kind == "mc":
            st.caption("Five candidate answers (multiple choice):")
            cols = st.columns(NUM_CANDIDATES)
            cands = [cols[i].text_input(f"Candidate {i + 1}", key=f"upload_cand_{i}") for i in range(NUM_CANDIDATES)]
        asked = st.form_submit_button("Ask", type="primary")
    if asked:
        if up is None:
            st.warning("Choose a video file first.")
            return
        if not question.strip():
            st.warning("Type a question.")
            return
        data = up.getvalue()
        clips.check_upload(up.name, len(data))
        st.session_state["upload"] = {"hash": state.upload_hash(data), "name": up.name, "question": question,
                                      "candidates": tuple(c.strip() for c in cands), "data": data,
                                      "ckpt": entry.path}
        st.session_state["step"], st.session_state["word"], st.session_state["row"] = 0, 0, None
    ask = st.session_state["upload"]
    if not ask or ask.get("ckpt") != entry.path:
        return
    ex, frames, notes = state.upload_explanation(entry.path, entry.mtime, ask["hash"], ask["name"], ask["question"],
                                                 ask["candidates"], ask["data"])
    for note in notes:
        st.caption(note)
    panels.render_explanation(ex, question=ask["question"], truth=None, frames=frames, frames_note="",
                              variant=entry.variant, candidates=list(ask["candidates"]))


st.title("Ask your own clip")
state.guard(render)
