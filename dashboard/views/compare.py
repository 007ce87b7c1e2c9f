"""Results tables: the paper's Tables 1-4 and Figure 5, from the runs found, beside the
numbers reported in the paper.

    streamlit run dashboard/app.py            (then "Results tables", /tables)

Run results come from every run folder under the checkpoint roots (see
:func:`dashboard.tables.scan_runs`: ``metrics_<split>.json`` written by ``evaluate``), so
runs whose checkpoint was not kept still count. A *collection* is the folder that holds
``<task>/<run>/`` (``demo`` for ``checkpoints/demo``). Every table downloads as CSV and
LaTeX; they are static tables (``st.table``): small, and readable as text in the page.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import figures, state, tables

CHART = {"displaylogo": False}
LAYOUT_TITLES = {"table2": "Table 2 · TGIF-QA (Count: mean L2 loss, lower is better; others: accuracy)",
                 "table3": "Table 3 · MSVD-QA (accuracy per question type)",
                 "table4": "Table 4 · MSRVTT-QA (accuracy per question type)"}


@st.cache_data(ttl=30, show_spinner="Reading the run results…")
def runs(roots: tuple[str, ...], split: str) -> pd.DataFrame:
    from pathlib import Path
    return tables.scan_runs([Path(r) for r in roots], split)


@st.cache_data(show_spinner=False)
def paper() -> dict:
    return tables.load_paper()


def downloads(table: pd.DataFrame, *, name: str, caption: str) -> None:
    """CSV and LaTeX of one table, rendered when the page is (both are a few kB)."""
    c1, c2, _ = st.columns([1, 1, 4])
    c1.download_button("CSV", tables.to_csv(table), file_name=f"{name}.csv", mime="text/csv", key=f"csv_{name}",
                       on_click="ignore", icon=":material/download:")
    c2.download_button("LaTeX", tables.to_latex(table, caption=caption, label=f"tab:{name}"), file_name=f"{name}.tex",
                       mime="text/x-tex", key=f"tex_{name}", on_click="ignore", icon=":material/download:")


def _style_source(df: pd.DataFrame):
    """The paper's rows in grey italics, so they are never mistaken for a result here."""
    def row_style(r):
        paper_row = r.get("source") == tables.PAPER_LABEL
        return ["color: #6b7280; font-style: italic" if paper_row else "" for _ in r]
    return df.style.apply(row_style, axis=1).format(precision=3, na_rep="–")


def per_type_section(all_runs: pd.DataFrame, collection: str, split: str) -> None:
    labels = all_runs["label"].tolist()
    # the full model, in the collection's reading and (where it has one, as the demo does)
    # in the spec's: what the switches do is then one row away; and the blind baselines,
    # so that whether a task is learned at all (above them) is too
    default = all_runs[(all_runs["collection"] == collection)
                       & all_runs["name"].isin(("Attvt-all", "Attvt-all-spec", *tables.BASELINE_ROWS))
                       & (all_runs["seed"] == 0)]["label"].tolist()
    chosen = st.multiselect("Runs to compare", labels, default=default, key=f"cmp_runs_{split}",
                            help="any runs found; the default is the full model of the chosen collection on every "
                                 "task, Attvt-all-spec (the spec's reading, no model switches) where there is one, "
                                 "and the question-only / candidates-only baselines, which never see the video")
    sel = all_runs[all_runs["label"].isin(chosen)]
    p = paper()
    for layout, title in LAYOUT_TITLES.items():
        dataset = tables.LAYOUTS[layout]
        has_runs = (sel["dataset"] == dataset).any()
        if not has_runs and layout == "table4":
            continue                  # MSRVTT-QA only when a run of it is chosen (the demo has none)
        st.markdown(f"##### {title}")
        table = tables.per_type_table(sel, layout, paper=p)
        if not has_runs:
            st.caption(f"No chosen run is on {dataset}: only the rows {tables.PAPER_LABEL}.")
        st.table(_style_source(table).hide(axis="index"))
        downloads(table.set_index("method"), name=layout, caption=p[layout]["title"])
    if not sel.empty:
        st.markdown("##### Every question type of the chosen runs")
        bt = tables.by_type_table(sel)
        st.table(bt.style.format(precision=3, na_rep="–").hide(axis="index"))
        downloads(bt.set_index("run"), name="by_question_type", caption="Results per question type")
    st.caption(f"Rows in grey italics are {tables.PAPER_LABEL} (copied from its tables, `dashboard/paper_results.json`); "
               "the paper's numbers are on the real datasets, the demo's on a small synthetic benchmark. "
               "A row of Tables 2-4 joins the runs of one name across tasks, whose model switches may differ "
               "(the demo's Count keeps the spec's reading): the `model` column of the last table names them per run.")


def ablation_section(coll_runs: pd.DataFrame, collection: str) -> None:
    table = tables.ablation_table(coll_runs, tasks=("count", "action"), paper=paper())
    shown = tables.format_ablation(table)
    st.markdown(f"##### Table 1 · ablation on Count and Action ({collection})")
    st.table(shown)
    missing = [v for v in table.index if table.loc[v, ["count seeds", "action seeds"]].sum() == 0]
    if missing:
        st.caption("No run found for: " + ", ".join(missing) + " (train them with `python -m videoqa_core demo`).")
    seeds = int(table[["count seeds", "action seeds"]].max().max() or 0)
    st.caption(("Mean ± std over seeds (runs named `-seedK`). " if seeds > 1 else "One seed per run. ")
               + "Count: mean L2 loss of the rounded, clamped prediction (lower is better); Action: accuracy. "
               + f"Columns '{tables.PAPER_LABEL}' are Table 1's numbers.")
    c1, c2, _ = st.columns([1, 1, 4])
    c1.download_button("CSV", tables.to_csv(table), file_name="table1_ablation.csv", mime="text/csv", key="csv_ablation",
                       on_click="ignore", icon=":material/download:")
    c2.download_button("LaTeX", tables.to_latex(shown, caption="Ablation on TGIF-QA Count and Action",
                                                label="tab:ablation"),
                       file_name="table1_ablation.tex", mime="text/x-tex", key="tex_ablation", on_click="ignore",
                       icon=":material/download:")


def memory_section(coll_runs: pd.DataFrame, collection: str) -> None:
    curve = tables.memory_curve(coll_runs, task="count")
    st.markdown(f"##### Figure 5 · Count against the visual memory size ({collection})")
    if curve.empty:
        st.info("No memory-size runs (`Attvt-all-Sv<k>` on Count) in this collection.")
        return
    st.plotly_chart(figures.memory_curve(curve, metric="mse_rounded (test)",
                                         title="Count: test mean L2 loss against visual memory slots S_v"),
                    key="mem_curve", config=CHART)
    st.table(curve.style.format({"mean": "{:.4f}", "std": "{:.4f}"}, na_rep="–").hide(axis="index"))
    downloads(curve.set_index("visual_slots"), name="figure5_memory", caption="Count loss against visual memory size")
    st.caption("The paper's Figure 5 is a plot without printed numbers, so it has no rows here; "
               "it sweeps S_v from 20 to 100 at full size, the demo 2-16 at its small size.")


def render() -> None:
    split = st.radio("Split", ["test", "val"], horizontal=True, key="cmp_split",
                     help="which metrics_<split>.json of the runs")
    roots = tuple(str(r) for r in state.checkpoint_roots())
    all_runs = runs(roots, split)
    if all_runs.empty:
        st.info(f"No run results ({f'metrics_{split}.json'}) under " + ", ".join(f"`{r}`" for r in roots)
                + ". Build the demo with `python -m videoqa_core demo` or evaluate a checkpoint.")
        return
    collections = sorted(all_runs["collection"].unique())
    default = "demo" if "demo" in collections else collections[0]
    collection = st.selectbox("Collection of runs", collections, index=collections.index(default), key="cmp_collection")
    coll_runs = all_runs[all_runs["collection"] == collection]
    tab_types, tab_abl, tab_mem = st.tabs(["Per question type (Tables 2-4)", "Ablation (Table 1)",
                                           "Memory size (Figure 5)"])
    with tab_types:
        per_type_section(all_runs, collection, split)
    with tab_abl:
        ablation_section(coll_runs, collection)
    with tab_mem:
        memory_section(coll_runs, collection)


st.title("Results tables")
state.guard(render)
