"""The comparison tables (dashboard/tables.py): runs found on disk, the ablation table with
mean ± std over seeds, Tables 2-4 beside the paper's rows, the memory curve, grounding
and confusion tables, CSV/LaTeX export.

    python -m pytest tests/test_tables.py -q
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import figures, tables
from videoqa_core.config import VARIANTS

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"    # the demo's runs, as committed


def write_run(root: Path, rel: str, *, task: str, value: float, dataset: str = "tgif-qa", by_qtype: dict | None = None,
              slots: int | None = None, config: bool = True, n: int = 40) -> Path:
    """A run folder as `evaluate` leaves it: metrics_test.json (+ config.json)."""
    folder = root / rel
    folder.mkdir(parents=True, exist_ok=True)
    metric = "mse_rounded" if task == "count" else "accuracy"
    name = folder.name
    info = {"task": task, "dataset": dataset, "variant": name.split("-seed")[0] if name.split("-seed")[0] in VARIANTS else "Attvt-all",
            "baseline": name if name in ("question-only", "candidates-only") else "none",
            "overall": {"n": n, metric: value}, "by_qtype": by_qtype or {task: {"n": n, metric: value}}}
    (folder / "metrics_test.json").write_text(json.dumps(info))
    if config:
        cfg = {"data": {"task": task, "dataset": dataset}, "model": {"variant": info["variant"], "baseline": info["baseline"]}}
        if slots is not None:
            cfg["model"]["visual_slots"] = slots
        (folder / "config.json").write_text(json.dumps(cfg))
    return folder


@pytest.fixture
def demo_root(tmp_path) -> Path:
    """Every Table-1 variant on count and action, two seeds of two of them, the baselines,
    the memory sweep, the full model on frameqa and on MSVD-style questions."""
    root = tmp_path / "ckpts"
    for i, v in enumerate(VARIANTS):
        write_run(root, f"demo/count/{v}", task="count", value=4.0 - 0.1 * i, slots=8)
        write_run(root, f"demo/action/{v}", task="action", value=0.5 + 0.02 * i)
    write_run(root, "demo/count/Attvt-all-seed1", task="count", value=3.1, slots=8)
    write_run(root, "demo/action/Attvt-all-seed1", task="action", value=0.70)
    write_run(root, "demo/action/Attvt-all-seed2", task="action", value=0.60)
    write_run(root, "demo/count/question-only", task="count", value=5.5)
    write_run(root, "demo/action/question-only", task="action", value=0.3)
    write_run(root, "demo/action/candidates-only", task="action", value=0.45)
    for s, v in ((2, 4.5), (4, 4.0), (16, 3.9)):
        write_run(root, f"demo/count/Attvt-all-Sv{s}", task="count", value=v, slots=s)
    write_run(root, "demo/frameqa/Attvt-all", task="frameqa", value=0.8,
              by_qtype={"color": {"n": 20, "accuracy": 0.9}, "object": {"n": 20, "accuracy": 0.7}})
    write_run(root, "demo/open/Attvt-all", task="open", dataset="msvd-qa", value=0.4,
              by_qtype={"what": {"n": 30, "accuracy": 0.3}, "who": {"n": 10, "accuracy": 0.7}})
    (root / "demo" / "action" / ".hidden").mkdir()
    (root / "demo" / "action" / ".hidden" / "metrics_test.json").write_text("{}")
    return root


# ----------------------------------------------------------------------------- paper file

def test_paper_file_has_every_table_row_and_cell():
    paper = tables.load_paper()
    assert paper["label"] == tables.PAPER_LABEL == "reported in the paper"
    t1 = paper["table1"]["rows"]
    assert list(t1) == list(VARIANTS)
    assert t1["Attvt-all"] == {"count": 3.79, "action": 0.754, "transition": 0.792, "frameqa": 0.563}
    assert t1["Mv+Mt"]["count"] == 4.10 and t1["Attv2t"]["transition"] == 0.778
    t2 = paper["table2"]["rows"]
    assert list(t2) == ["ST-VQA", "STA", "Co-M", "HME", "Beyond-RNN", "Ours"]
    assert t2["ST-VQA"] == {"count": 4.28, "action": 0.608, "transition": 0.671, "frameqa": 0.493}
    for t in ("table3", "table4"):
        rows = paper[t]["rows"]
        assert list(rows) == ["E-VQA", "E-SA", "E-MN", "Co-M", "AMU", "HME", "Ours"]
        assert all(set(r) == {*tables.OPEN_TYPES, "all"} for r in rows.values())
    assert paper["table3"]["rows"]["Ours"]["all"] == 0.345 and paper["table4"]["rows"]["Ours"]["all"] == 0.332
    assert paper["table4"]["rows"]["HME"]["when"] == 0.760
    for t in ("table1", "table2", "table3", "table4"):
        for row in paper[t]["rows"].values():
            assert all(0 < v < 5 for v in row.values())


# ----------------------------------------------------------------------------- runs

def test_scan_runs_reads_every_run_folder(demo_root):
    runs = tables.scan_runs([demo_root])
    assert len(runs) == 2 * len(VARIANTS) + 3 + 3 + 3 + 2
    assert set(runs["collection"]) == {"demo"}
    row = runs[runs["label"] == "demo/action/Attvt-all-seed2"].iloc[0]
    assert (row["name"], row["seed"], row["task"], row["value"]) == ("Attvt-all", 2, "action", 0.60)
    sv = runs[runs["run"] == "Attvt-all-Sv4"].iloc[0]
    assert sv["visual_slots"] == 4 and sv["name"] == "Attvt-all-Sv4"
    assert not runs["has_checkpoint"].any()


def test_scan_runs_recomputes_metrics_from_a_predictions_file(tmp_path):
    folder = tmp_path / "mine" / "count" / "r1"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"data": {"task": "count", "dataset": "tgif-qa"}, "model": {}}))
    pd.DataFrame({"qtype": ["count"] * 3, "prediction": ["2", "3", "5"], "target": [2.0, 4.0, 5.0],
                  "score": [2.2, 3.1, 4.9], "correct": [True, False, True]}).to_parquet(folder / "predictions_test.parquet")
    runs = tables.scan_runs([tmp_path])
    assert len(runs) == 1
    assert runs.iloc[0]["value"] == pytest.approx(1 / 3)          # mse of the rounded prediction
    assert runs.iloc[0]["collection"] == "mine"


def test_split_seed():
    assert tables.split_seed("Attvt-all-seed3") == ("Attvt-all", 3)
    assert tables.split_seed("Mv+Mt") == ("Mv+Mt", 0)
    assert tables.split_seed("Attvt-all-Sv16") == ("Attvt-all-Sv16", 0)


# ----------------------------------------------------------------------------- Table 1

def test_ablation_table_lists_all_variants_with_mean_and_std_over_seeds(demo_root):
    runs = tables.scan_runs([demo_root])
    t = tables.ablation_table(runs, paper=tables.load_paper())
    assert list(t.index) == [*VARIANTS, "question-only", "candidates-only"]
    full = t.loc["Attvt-all"]
    a = [0.5 + 0.02 * 7, 0.70, 0.60]
    assert full["action mean"] == pytest.approx(np.mean(a))
    assert full["action std"] == pytest.approx(np.std(a, ddof=1))
    assert full["action seeds"] == 3 and full["count seeds"] == 2
    assert t.loc["Mv+Mt", "count seeds"] == 1 and math.isnan(t.loc["Mv+Mt", "count std"])
    assert t.loc["Mv+Mt", "count (paper)"] == 4.10 and t.loc["Attvt-all", "action (paper)"] == 0.754
    assert math.isnan(t.loc["candidates-only", "count mean"])          # candidates-only is multiple choice only
    assert math.isnan(t.loc["question-only", "count (paper)"])
    shown = tables.format_ablation(t)
    assert shown.loc["Attvt-all", "action (accuracy, seeds)"] == f"{np.mean(a):.3f} ± {np.std(a, ddof=1):.3f}"
    assert shown.loc["Mv+Mt", "count (mse_rounded, seeds)"] == "4.000"
    assert shown.loc["candidates-only", "count (mse_rounded, seeds)"] == "–"
    assert shown.loc["Attv", "action, reported in the paper"] == "0.742"


def test_ablation_table_keeps_every_variant_row_when_runs_are_missing(tmp_path):
    write_run(tmp_path, "c/action/Attvt-all", task="action", value=0.9)
    t = tables.ablation_table(tables.scan_runs([tmp_path]))
    assert list(t.index) == list(VARIANTS)
    assert t["action seeds"].tolist() == [0] * 7 + [1]


# ----------------------------------------------------------------------------- Tables 2-4

def test_per_type_table2_puts_each_run_in_its_task_column_beside_the_paper(demo_root):
    runs = tables.scan_runs([demo_root])
    full = runs[(runs["name"] == "Attvt-all") & (runs["seed"] == 0)]
    t = tables.per_type_table(full, "table2", paper=tables.load_paper())
    ours = t[t["source"] == tables.THIS_LABEL]
    assert ours["method"].tolist() == ["Attvt-all (demo)"]
    r = ours.iloc[0]
    assert (r["count"], r["action"], r["frameqa"]) == (pytest.approx(4.0 - 0.7), pytest.approx(0.64), 0.8)
    assert math.isnan(r["transition"])
    paper_rows = t[t["source"] == tables.PAPER_LABEL]
    assert paper_rows["method"].tolist() == ["ST-VQA", "STA", "Co-M", "HME", "Beyond-RNN", "Ours"]
    assert paper_rows.set_index("method").loc["Ours", "count"] == 3.79


def test_per_type_table3_reads_question_types_and_averages_seeds(demo_root):
    runs = tables.scan_runs([demo_root])
    t = tables.per_type_table(runs, "table3", paper=tables.load_paper())
    ours = t[t["source"] == tables.THIS_LABEL].iloc[0]
    assert (ours["what"], ours["who"], ours["all"]) == (0.3, 0.7, 0.4)
    assert math.isnan(ours["when"])
    assert t[t["source"] == tables.PAPER_LABEL].set_index("method").loc["E-VQA", "what"] == 0.097
    two = tables.per_type_table(runs[runs["task"] == "action"], "table2")
    assert two.set_index("method").loc["Attvt-all (demo)", "action"] == pytest.approx(np.mean([0.64, 0.70, 0.60]))
    assert two.set_index("method").loc["Attvt-all (demo)", "seeds"] == 3
    with pytest.raises(ValueError):
        tables.per_type_table(runs, "table9")


def test_by_type_table_lists_each_runs_own_types(demo_root):
    runs = tables.scan_runs([demo_root])
    bt = tables.by_type_table(runs[runs["task"].isin(["frameqa", "open"])]).set_index("run")
    assert bt.loc["demo/frameqa/Attvt-all", "color"] == 0.9
    assert math.isnan(bt.loc["demo/frameqa/Attvt-all", "what"])
    assert list(bt.columns)[-1] == "all"
    assert bt.loc["demo/open/Attvt-all", "model"] == "spec reading"


def test_runs_name_the_switches_their_model_sets(tmp_path):
    """scan_runs' switches column: the config's [switch] fields away from the spec's reading."""
    from videoqa_core.config import switched
    run = write_run(tmp_path, "c/action/Attvt-all", task="action", value=0.5)
    cfg = json.loads((run / "config.json").read_text())
    cfg["model"].update(memory_residual=True, pooling="max", mc_head="candidate", weight_norm=False, hidden=64)
    (run / "config.json").write_text(json.dumps(cfg))
    write_run(tmp_path, "c/action/Mv+Mt", task="action", value=0.4)
    got = tables.scan_runs([tmp_path]).set_index("name")["switches"]
    assert got["Attvt-all"] == "pooling=max, memory_residual, mc_head=candidate, no weight_norm"
    assert got["Mv+Mt"] == "" and switched({"pooling": "mean", "heads": 1}) == []
    assert tables.by_type_table(tables.scan_runs([tmp_path])).set_index("run").loc["c/action/Mv+Mt", "model"] == "spec reading"


# ----------------------------------------------------------------------------- Figure 5

def test_memory_curve_takes_the_sweep_and_the_full_model(demo_root):
    runs = tables.scan_runs([demo_root])
    curve = tables.memory_curve(runs)
    assert curve["visual_slots"].tolist() == [2, 4, 8, 16]
    eight = curve.set_index("visual_slots").loc[8]
    assert eight["mean"] == pytest.approx(np.mean([3.3, 3.1])) and eight["seeds"] == 2
    assert curve.set_index("visual_slots").loc[2, "mean"] == 4.5
    fig = figures.memory_curve(curve, metric="mse_rounded")
    assert list(fig.data[0].x) == [2, 4, 8, 16]


def test_memory_curve_without_config_reads_slots_from_the_name(tmp_path):
    write_run(tmp_path, "c/count/Attvt-all-Sv32", task="count", value=2.0, config=False)
    write_run(tmp_path, "c/count/Attvt-all", task="count", value=3.0, config=False)
    write_run(tmp_path, "c/count/Mv+Mt", task="count", value=9.0, config=False)
    curve = tables.memory_curve(tables.scan_runs([tmp_path]))
    assert curve["visual_slots"].tolist() == [tables.DEFAULT_VISUAL_SLOTS, 32]


# ----------------------------------------------------------------------------- other tables

def test_grounding_table_has_the_random_reference():
    from videoqa_core.explain.grounding import Score, summarize
    scores = [Score("q1", "count", "count", "memory_read", 1.0, 0.5, 1, 4),
              Score("q1", "count", "count", "coattn", 0.0, 0.25, 1, 4),
              Score("q2", "count", "count", "memory_read", 0.0, 0.1, 2, 4)]
    t = tables.grounding_table(summarize(scores))
    overall = t[(t["task"] == "all") & (t["method"] == "memory_read")].iloc[0]
    assert overall["pointing"] == 0.5 and overall["random"] == pytest.approx((0.25 + 0.5) / 2)
    assert overall["mass − random"] == pytest.approx(0.3 - 0.375)
    assert set(t["task"]) == {"all", "count"}
    assert tables.grounding_table({"overall": {}, "by_group": []}).empty


def test_confusion_by_candidate_position_and_by_count():
    mc = pd.DataFrame({"answer": ["a", "b", "c"], "prediction": ["a", "x", "c"], "answer_index": [0, 1, 4],
                       "prediction_index": [0, 3, 4]})
    cm = tables.confusion_table(mc, "mc")
    assert cm.loc["candidate 2", "candidate 4"] == 1 and cm.loc["candidate 5", "candidate 5"] == 1
    assert cm.to_numpy().sum() == 3
    count = pd.DataFrame({"answer": ["0", "3", "10"], "prediction": ["1", "2", "10"], "target": [1.0, 3.0, 10.0]})
    cc = tables.confusion_table(count, "count")
    assert list(cc.index) == ["1", "2", "3", "10"] and cc.loc["3", "2"] == 1 and cc.loc["1", "1"] == 1
    opn = pd.DataFrame({"answer": ["cat", "dog", "cat"], "prediction": ["cat", "cat", "dog"]})
    assert tables.confusion_table(opn, "open").loc["cat", "dog"] == 1
    fig = figures.confusion_figure(cc)
    assert fig.layout.xaxis.title.text == "prediction"


def test_prepare_predictions_adds_question_length():
    df = pd.DataFrame({"qid": [1], "question": ["what is the color of the circle ?"], "answer": ["red"],
                       "prediction": ["red"], "qtype": ["color"], "task": ["frameqa"], "correct": [1],
                       "confidence": [0.5]})
    out = tables.prepare_predictions(df)
    assert out["question_len"].tolist() == [7] and out["qid"].tolist() == ["1"] and out["correct"].dtype == bool


# ----------------------------------------------------------------------------- export

def test_latex_export_escapes_and_formats(demo_root):
    t = tables.format_ablation(tables.ablation_table(tables.scan_runs([demo_root]), paper=tables.load_paper()))
    tex = tables.to_latex(t, caption="Ablation 100% & more", label="tab:abl")
    assert tex.startswith("\\begin{table}") and tex.rstrip().endswith("\\end{table}")
    assert "\\toprule" in tex and "\\bottomrule" in tex
    assert "Mv+Mt" in tex and "$\\pm$" in tex and "±" not in tex
    assert "Ablation 100\\% \\& more" in tex and "\\label{tab:abl}" in tex
    header = tex.splitlines()[4]
    assert header.count("&") == len(t.columns)
    assert all(line.count("&") == len(t.columns) for line in tex.splitlines() if line.endswith("\\\\"))
    num = tables.to_latex(pd.DataFrame({"x": [0.12345, math.nan], "n": [3, 4]}, index=["a_b", "c"]), digits=2)
    assert "a\\_b & 0.12 & 3" in num and "c & -- & 4" in num


def test_csv_export_round_trips(demo_root):
    t = tables.ablation_table(tables.scan_runs([demo_root]))
    back = pd.read_csv(__import__("io").StringIO(tables.to_csv(t)), index_col=0)
    assert list(back.index) == list(t.index)
    assert back.loc["Attv", "count mean"] == pytest.approx(t.loc["Attv", "count mean"])


def test_figures_for_attributions_and_differences():
    fig = figures.attribution_strips({"IG appearance": np.array([0.1, -0.2, 0.0]), "IG motion": np.zeros(3)},
                                     frames=np.zeros((3, 8, 8, 3), np.uint8))
    assert [t.type for t in fig.data] == ["image", "heatmap", "heatmap"]
    assert fig.layout.coloraxis.cmin == pytest.approx(-0.2)
    with pytest.raises(ValueError):
        figures.attribution_strips({"a": np.zeros(3), "b": np.zeros(4)})
    w = figures.word_strip(["how", "many"], np.array([0.5, -1.0]))
    assert list(w.layout.xaxis.ticktext) == ["how", "many"]
    cb = figures.compare_bars(np.array([0.2, 0.8]), np.array([0.5, 0.5]), names=("A", "B"))
    assert list(cb.data[2].y) == pytest.approx([0.3, -0.3])
    d = figures.difference_map(np.array([[0.1, -0.1]]), rows=["0"], cols=["a", "b"], row_title="frame",
                               col_title="word", title="x")
    assert d.data[0].zmin == pytest.approx(-d.data[0].zmax)


@pytest.mark.skipif(not (SHIPPED / "demo" / "runs.json").exists(), reason="the demo is not built (python -m videoqa_core demo)")
def test_shipped_demo_has_blind_baselines_near_chance_on_every_task():
    """The issue's test of the benchmark: both bias baselines beside the full model on
    every task they apply to, and near chance (Count: near predicting the mean)."""
    runs = tables.scan_runs([SHIPPED])
    demo = runs[runs.collection == "demo"].set_index(["task", "name"])["value"]
    chance = {"action": 0.2, "transition": 0.2, "frameqa": 0.25, "open": 0.22}
    for task in ("count", "action", "transition", "frameqa", "open"):
        assert (task, "Attvt-all") in demo.index and (task, "question-only") in demo.index, task
    for (task, name), value in demo.items():
        if name in ("question-only", "candidates-only"):
            if task == "count":
                assert value > 2.5, (task, name, value)           # no better than the mean (2.9)
            else:
                assert abs(value - chance[task]) < 0.06, (task, name, value)
    assert {("action", "candidates-only"), ("transition", "candidates-only")} <= set(demo.index)
