"""Grounding: do the explanations point at the frames where the answer happens?

    streamlit run dashboard/app.py            (then "Grounding", /grounding)

The same scores as ``python -m videoqa_core grounding`` (see
:mod:`videoqa_core.explain.grounding`): per method, pointing accuracy and evidence mass
beside the uniform-random reference |E|/N, overall and per task and question type, on the
sidebar's checkpoint and split. Needs the synthetic benchmark's ``evidence.json`` (found
beside the checkpoint's annotations, or typed in). Runs on a button press over the first
K questions, in chunks (a progress bar per chunk); every chunk is cached, so a larger K
reuses the smaller one's work.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import state, tables
from videoqa_core.errors import UserError
from videoqa_core.explain import grounding as gr

CHUNK = 32
METHOD_HELP = "ig and occlusion run captum per question (about a second each); the trace methods are one forward pass"


@st.cache_data(max_entries=8, show_spinner=False)
def evidence(path: str, mtime: float) -> dict:
    return gr.load_evidence(Path(path))


@st.cache_data(max_entries=512, show_spinner=False)
def chunk_scores(path: str, mtime: float, split: str, ev_path: str, ev_mtime: float, qids: tuple[str, ...],
                 methods: tuple[str, ...], steps: int, seed: int) -> list[dict]:
    """Scores of one chunk of questions (as dicts, so the cache pickles plain data)."""
    p = state.predictor(path, mtime)
    recs = state.records(path, mtime, split)
    scores, _ = gr.ground(p, [recs[q] for q in qids], state.feature_store(path, mtime), evidence(ev_path, ev_mtime),
                          dataset=p.config.data.dataset, methods=methods, steps=steps, batch_size=CHUNK, seed=seed)
    return [s.__dict__ for s in scores]


def render() -> None:
    entry = state.current_entry()
    if entry is None:
        st.info("Pick a checkpoint in the sidebar.")
        return
    if "_load_error" in st.session_state:
        raise st.session_state["_load_error"]
    split = st.session_state["split"]
    p = state.predictor(entry.path, entry.mtime)
    found = gr.find_evidence(p.data_path(p.config.data.annotations))
    typed = st.text_input("Evidence file", value=str(found or ""), key=f"gr_evidence_{entry.label}",
                          placeholder="evidence.json of the synthetic benchmark").strip()
    if not typed:
        raise UserError(f"no evidence.json beside the annotations of {entry.label} ({p.config.data.annotations}): "
                        "grounding needs the synthetic benchmark's evidence (python -m videoqa_core synth); "
                        "type its path above")
    ev_path = Path(typed).expanduser()
    if not ev_path.is_file():
        raise UserError(f"evidence file {ev_path} does not exist: type the path of the benchmark's evidence.json")
    ev = evidence(str(ev_path), ev_path.stat().st_mtime)
    dataset = p.config.data.dataset
    recs = state.records(entry.path, entry.mtime, split)
    with_ev = [q for q, r in recs.items() if gr.evidence_key(dataset, r) in ev]
    if not with_ev:
        raise UserError(f"none of the {len(recs)} {split} questions has an entry in {ev_path}: "
                        "is it the evidence of this checkpoint's dataset?")
    gr.check_sampled_frames(ev_path, state.feature_store(entry.path, entry.mtime))

    video_free = bool(getattr(p.model, "video_free", False))
    offered = list(gr.TRACE_METHODS) + ([] if video_free else list(gr.ATTRIBUTION_METHODS))
    with st.container(border=True):
        c1, c2, c3 = st.columns([3, 2, 1])
        methods = c1.multiselect("Methods", offered, default=list(gr.TRACE_METHODS), key="gr_methods", help=METHOD_HELP)
        top = len(with_ev)
        limit = c2.slider("Questions (the first K with evidence)", 1, top, min(top, 64),
                          key=f"gr_limit_{entry.label}_{split}") if top > 1 else 1
        steps = c3.select_slider("IG steps", [8, 16, 32], value=16, key="gr_steps")
        pressed = st.button("Score grounding", type="primary", key="gr_run", icon=":material/play_arrow:")
    st.caption(f"{len(with_ev)} of {len(recs)} {split} questions have evidence frames in `{ev_path}`.")
    if not methods:
        st.info("Choose at least one method.")
        return
    qids = with_ev[:limit]
    chunks = [tuple(qids[i:i + CHUNK]) for i in range(0, len(qids), CHUNK)]
    key = (entry.path, entry.mtime, split, str(ev_path), ev_path.stat().st_mtime)
    settings = (tuple(methods), int(steps))
    done: set = st.session_state.setdefault("_gr_done", set())
    run_key = (*key, tuple(qids), *settings)
    if pressed:
        bar = st.progress(0.0, text="Scoring…")
        for k, chunk in enumerate(chunks):
            bar.progress(k / len(chunks), text=f"Scoring questions {k * CHUNK + 1}-{k * CHUNK + len(chunk)} of {len(qids)}…")
            chunk_scores(*key, chunk, *settings, k)
        bar.empty()
        done.add(run_key)
    if run_key not in done:
        st.info("Press **Score grounding** to score these questions (cached afterwards).")
        return
    scores = [gr.Score(**d) for k, chunk in enumerate(chunks) for d in chunk_scores(*key, chunk, *settings, k)]
    summary = gr.summarize(scores)
    table = tables.grounding_table(summary)
    if table.empty:
        st.info("No method produced a map for this checkpoint (its variant lacks the parts chosen).")
        return
    st.markdown(f"##### Pointing accuracy and evidence mass, {len(qids)} questions")
    st.dataframe(table.style.format(precision=3).background_gradient(subset=["pointing − random", "mass − random"],
                                                                     cmap="RdBu", vmin=-0.5, vmax=0.5),
                 hide_index=True, key="gr_table")
    st.caption("pointing: is the highest frame an evidence frame (ties share the credit); mass: share of the map on "
               "evidence frames; random: |E|/N, the exact expected score of a uniform-random map on the same "
               "questions. random_sampled is one sampled random map per question, a check of that reference.")
    st.download_button("CSV", tables.to_csv(table.set_index(["task", "qtype", "method"])), file_name="grounding.csv",
                       mime="text/csv", key="gr_csv", on_click="ignore", icon=":material/download:")
    missing = [m for m in methods if m not in set(table["method"])]
    if missing:
        st.caption(f"No map for {', '.join(missing)}: the variant {entry.variant or ''} lacks that part.")


st.title("Grounding")
state.guard(render)
