"""Figure 1: a paper-ready panel of the sidebar's question, with PNG/SVG/PDF downloads.

    streamlit run dashboard/app.py            (then the "Figure 1" page, /figure)

The panel is drawn by :mod:`videoqa_core.figure`, the same code as
``python -m videoqa_core figure``, so a download and a command-line export of the same
choices are the same bytes.
"""
from __future__ import annotations

import streamlit as st

from dashboard import panels, state
from videoqa_core.figure import FORMATS, MIME, panel_data


def render() -> None:
    got = panels.current_question()
    if got is None:
        return
    entry, rec, ex, frames, note = got
    N = int(ex.trace.video_mask.shape[-1])
    if note:
        st.caption(note)
    c1, c2, c3 = st.columns([1, 2, 1])
    c1.slider("Frames shown (most attended)", 1, max(2, min(8, N)), **state.bind("fig_k"))
    st.session_state["fig_frames"] = [f for f in st.session_state["fig_frames"] if 0 <= f < N]
    c2.multiselect("…or choose the frames", list(range(N)), **state.bind("fig_frames"))
    mark = c3.checkbox("Mark the current step", value=True, key="fig_mark_step")
    step = int(st.session_state["step"]) if mark and 0 <= int(st.session_state["step"]) < N else None
    row = st.session_state["row"] if ex.kind == "mc" and st.session_state["row"] is not None else None
    data = panel_data(ex, question=rec.question, frames=frames, truth=rec.answer, row=row,
                      k=int(st.session_state["fig_k"]), chosen=st.session_state["fig_frames"] or None, step=step,
                      title=f"{rec.qid} · {entry.variant or entry.label}")
    key = (entry.path, entry.mtime, st.session_state["split"], rec.qid, row, tuple(data.chosen), step)
    png = state.panel_bytes(key, data, "png")
    st.image(png, caption="Figure-1 panel (preview of the PNG)")
    cols = st.columns(len(FORMATS))
    for col, fmt in zip(cols, FORMATS):
        # SVG/PDF are rendered only when asked for: the callable runs on the click.
        payload = png if fmt == "png" else (lambda f=fmt: state.panel_bytes(key, data, f))
        col.download_button(f"Download {fmt.upper()}", payload, file_name=f"{rec.qid}.{fmt}", mime=MIME[fmt],
                            key=f"download_{fmt}", on_click="ignore", icon=":material/download:")
    cli = (f"python -m videoqa_core figure --checkpoint {entry.path} --split {st.session_state['split']} "
           f"--ids {rec.qid} --out figures/")
    cli += (f" --frame-ids {' '.join(map(str, data.chosen))}" if st.session_state["fig_frames"]
            else f" --frames {len(data.chosen)}")
    cli += f" --step {step}" if step is not None else ""
    cli += f" --candidate {row}" if row is not None else ""
    st.caption("The same panel from the command line:")
    st.code(cli, language="bash")


st.title("Figure 1")
state.guard(render)
