"""The part-2 pages under ``AppTest``: attribution, counterfactuals, two checkpoints,
failure browser, grounding, results tables.

    python -m pytest tests/test_app_part2.py -q

Checkpoints come from tests/dashboard_fixtures.py (trained once per session, hence
``slow``); run results for the tables page are written by tests/test_tables.write_run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from tests import dashboard_fixtures, test_app
from tests.test_app import assert_no_traceback, chart, charts, open_app, texts
from tests.test_tables import write_run
from videoqa_core.config import VARIANTS

# Fixtures the tests take by name, bound here so that pytest finds them in this module
# (imported by name they would read as unused imports).
checkpoints_root = dashboard_fixtures.checkpoints_root
_fresh_caches = test_app._fresh_caches          # autouse: fresh caches around every test
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _no_project_checkpoints(monkeypatch, tmp_path):
    """The app also scans the project's own checkpoints/ (the demo): tests see only theirs."""
    from dashboard import state
    monkeypatch.setattr(state, "PROJECT_ROOT", tmp_path / "project")




def page(root: Path, monkeypatch, view: str, **link):
    at = open_app(root, monkeypatch, **link)
    at.switch_page(f"views/{view}.py").run()
    assert_no_traceback(at)
    return at


def frames_of(at) -> list[pd.DataFrame]:
    return [d.value for d in (*at.dataframe, *at.table)]


def titles(at) -> list[str]:
    return [c["layout"].get("title", {}).get("text", "") for c in charts(at)]


# ------------------------------------------------------------------------------ attribution

@pytest.mark.parametrize("ckpt", ["tiny/action/Attvt-all", "tiny/count/Attvt-all", "tiny/frameqa/Attvt-all"])
def test_attribution_runs_on_the_button_and_then_comes_from_the_cache(checkpoints_root, monkeypatch, ckpt):
    import videoqa_core.explain.attribution as attribution
    calls = []
    original = attribution.attribute

    def counting(*a, **kw):
        calls.append(kw["methods"])
        return original(*a, **kw)
    monkeypatch.setattr(attribution, "attribute", counting)

    at = page(checkpoints_root, monkeypatch, "attribution", ckpt=ckpt)
    assert not calls and not charts(at) and "Compute attributions" in texts(at)
    at.select_slider(key="attr_steps").set_value(8).run()
    at.button(key="attr_run").click().run()
    assert_no_traceback(at)
    assert not at.error, [e.value for e in at.error]
    assert sorted(m[0] for m in calls) == ["ig", "occlusion", "words"]
    strips = chart(at, "attribution per frame")
    names = [d.get("name") for d in strips["data"] if d["type"] == "heatmap"]
    assert names == ["IG appearance", "IG motion", "occlusion (both)", "occlusion appearance", "occlusion motion"]
    assert strips["data"][0]["type"] == ("image" if "frameqa" not in ckpt else "heatmap")   # frameqa has no videos
    words = chart(at, "attribution per word")
    assert "object" in words["layout"]["xaxis"]["ticktext"]
    summary = frames_of(at)[0].set_index("method")
    assert summary.loc["Layer IG (words)", "baseline"] == "PAD"
    assert summary.loc["Integrated Gradients (frames)", "baseline"] == "zeros"
    assert summary["convergence delta"].notna().sum() == 2
    n = len(calls)
    at.run()                                              # a rerun (any widget move) reads the cache
    chart(at, "attribution per frame")
    assert len(calls) == n


def test_attribution_mean_baseline_and_another_candidate(checkpoints_root, monkeypatch):
    at = page(checkpoints_root, monkeypatch, "attribution", ckpt="tiny/action/Attvt-all")
    radio = [r for r in at.radio if r.label == "Explain the score of candidate"][0]
    other = (radio.index + 1) % 5
    radio.set_value(other).run()
    at.radio(key="attr_baseline").set_value("mean").run()
    at.multiselect(key="attr_methods_0").set_value(["ig"]).run()
    at.select_slider(key="attr_steps").set_value(8).run()
    at.button(key="attr_run").click().run()
    assert_no_traceback(at)
    summary = frames_of(at)[0]
    assert summary["baseline"].tolist() == ["video mean"]
    assert radio.options[other].split("  ")[0] in "\n".join(at.markdown[i].value for i in range(len(at.markdown)))
    assert not [t for t in titles(at) if t.startswith("attribution per word")]


# ------------------------------------------------------------------------------ counterfactuals

def test_counterfactual_frame_edits_show_the_new_answer_and_every_map_change(checkpoints_root, monkeypatch):
    at = page(checkpoints_root, monkeypatch, "counterfactual", ckpt="tiny/count/Attvt-all", qid="COUNT3")
    body = texts(at)
    assert "**Before:**" in body and "**After:**" in body and "The answer stayed" in "\n".join(s.value for s in at.success)
    table = frames_of(at)[0]
    assert table["mean |Δ|"].max() == 0.0                              # no edit: nothing changed
    at.selectbox(key="cf_edit_COUNT3").set_value("reverse").run()
    assert_no_traceback(at)
    table = frames_of(at)[0].set_index("map")
    assert table.loc["visual_read", "mean |Δ|"] > 0 and table.loc["visual_read", "aligned"] == "frames"
    assert "compared frame by frame in the original order" in texts(at)
    bars = chart(at, "text-to-video attention per frame")
    assert bars["data"][0]["customdata"][0] == "4"                     # frame 0 of the edit is original frame 4
    at.selectbox(key="cf_edit_COUNT3").set_value("drop").run()
    at.multiselect(key="cf_frames_COUNT3").set_value([0, 1]).run()
    assert_no_traceback(at)
    assert "compared on the 3 kept frames of 5" in texts(at)
    at.selectbox(key="cf_map").set_value("video_self_attn").run()
    diff = chart(at, "video_self_attn: after − before")
    assert diff["layout"]["xaxis"]["ticktext"] == ["2", "3", "4"]
    at.text_input(key="cf_q_COUNT3").input("how many times does the object turn ?").run()
    assert_no_traceback(at)
    assert "token rows differ" in texts(at) or "Raw count output" in [m.label for m in at.metric]


def test_counterfactual_page_runs_the_edits_on_the_whole_split(checkpoints_root, monkeypatch):
    at = page(checkpoints_root, monkeypatch, "counterfactual", ckpt="tiny/action/Attvt-all", qid="ACTION3")
    assert not [d for d in frames_of(at) if "answers changed" in d]          # nothing runs before the button
    at.text_input(key="cfs_swap").input("what=how").run()
    at.button(key="cfs_run").click().run()
    assert_no_traceback(at)
    table = next(d for d in frames_of(at) if "answers changed" in d)
    assert table["edit"].tolist() == ["reverse", "shuffle", "blank", "swap:what=how"]
    n = len(table)
    assert (table["n"] > 0).all() and table["answers changed"].between(0, 1).all()
    at.text_input(key="cfs_swap").input("what").run()                       # a bad swap: one clear error
    at.button(key="cfs_run").click().run()
    assert any("swap:WORD=OTHER" in e.value for e in at.error) and n == 4


def test_counterfactual_candidate_swap_moves_the_scores_with_the_candidates(checkpoints_root, monkeypatch):
    at = page(checkpoints_root, monkeypatch, "counterfactual", ckpt="tiny/action/Attvt-all", qid="ACTION3")
    before = chart(at, "candidate scores before and after")
    assert before["data"][0]["y"] == before["data"][1]["y"]
    at.selectbox(key="cf_swap_i_ACTION3").set_value(0).run()
    at.selectbox(key="cf_swap_j_ACTION3").set_value(2).run()
    at.checkbox(key="cf_swap_ACTION3").check().run()
    assert_no_traceback(at)
    after = chart(at, "candidate scores before and after")
    labels = after["data"][0]["customdata"]
    assert labels[0] == before["data"][0]["customdata"][2]
    # a candidate's score moves with it: only the word rows swapped, the model sees the same rows
    assert after["data"][1]["y"] == pytest.approx(after["data"][0]["y"], abs=1e-4)
    assert "rows compared as after->before [2, 1, 0, 3, 4]" in texts(at)


# ------------------------------------------------------------------------------ two checkpoints

def test_two_checkpoints_side_by_side(checkpoints_root, monkeypatch):
    at = page(checkpoints_root, monkeypatch, "side_by_side", ckpt="tiny/action/Attvt-all", qid="ACTION7")
    assert at.selectbox(key="sbs_other").value == "tiny/action/Mv+Mt"
    body = texts(at)
    assert "A: Attvt-all" in body and "B: Mv+Mt" in body
    at.radio(key="sbs_frame_map").set_value("memory_read").run()
    bars = chart(at, "memory read provenance: A, B and B − A")
    assert [d["name"] for d in bars["data"]] == ["A: Attvt-all", "B: Mv+Mt", "B: Mv+Mt − A: Attvt-all"]
    assert "Not compared" in body and "video_self_attn" in body      # Mv+Mt has no attention maps
    assert at.radio(key="sbs_frame_map").options == ["memory read provenance", "memory write mass (μ₁+μ₂)"]


def test_side_by_side_draws_difference_maps_for_shared_attention(checkpoints_root, monkeypatch):
    at = page(checkpoints_root, monkeypatch, "side_by_side", ckpt="tiny/action/Mv+Mt", qid="ACTION7")
    assert at.selectbox(key="sbs_other").value == "tiny/action/Attvt-all"
    assert not [t for t in titles(at) if ": B − A" in t]             # A lacks every attention map
    only = page(checkpoints_root, monkeypatch, "side_by_side", ckpt="tiny/count/Attvt-all")
    assert "No other checkpoint of the task 'count'" in texts(only)


# ------------------------------------------------------------------------------ failures

def test_failure_browser_filters_and_opens_the_inspector(checkpoints_root, monkeypatch):
    at = page(checkpoints_root, monkeypatch, "failures", ckpt="tiny/frameqa/Attvt-all")
    preds = pd.read_parquet(checkpoints_root / "tiny" / "frameqa" / "Attvt-all" / "predictions_test.parquet")
    listed = frames_of(at)[0]
    wrong = preds[~preds["correct"]]
    assert len(listed) == len(wrong)
    assert listed["confidence"].tolist() == sorted(listed["confidence"], reverse=True)   # most confident first
    chart(at, "confusion (open-ended")
    at.radio(key="fail_outcome").set_value("all").run()
    assert len(frames_of(at)[0]) == len(preds)
    lo = float(preds["confidence"].median())
    [s for s in at.slider if s.label == "Confidence"][0].set_value((lo, float(preds["confidence"].max()))).run()
    assert (frames_of(at)[0]["confidence"] >= lo).all() and len(frames_of(at)[0]) < len(preds)
    first = frames_of(at)[0]["qid"].iloc[0]
    at.button(key=f"open_{first}").click().run()
    assert_no_traceback(at)
    assert at.title[0].value == "Inspector"
    assert at.selectbox(key="w_qid").value == first
    chart(at, "read weights β")


def test_failure_browser_reads_an_analysis_store_and_multiple_choice_confusion(checkpoints_root, monkeypatch, tmp_path):
    from videoqa_core.__main__ import main
    ckpt = checkpoints_root / "tiny" / "action" / "Attvt-all" / "best.pt"
    assert main(["analyze", "--checkpoint", str(ckpt), "--split", "test", "--out", str(tmp_path / "store"),
                 "--no-progress"]) == 0
    at = page(checkpoints_root, monkeypatch, "failures", ckpt="tiny/count/Attvt-all")
    chart(at, "confusion (count")
    at.radio(key="fail_source").set_value("store").run()
    assert "type the folder of an analysis store" in "\n".join(e.value for e in at.error)
    at.text_input(key="fail_store").input(str(tmp_path / "store")).run()
    assert_no_traceback(at)
    assert not at.error, [e.value for e in at.error]
    cm = chart(at, "confusion (multiple choice")
    assert cm["layout"]["xaxis"]["ticktext"][0] == "candidate 1"
    assert "analysis store" in texts(at)
    at.radio(key="fail_outcome").set_value("all").run()
    first = frames_of(at)[0]["qid"].iloc[0]
    at.button(key=f"open_{first}").click().run()
    assert at.selectbox(key="w_ckpt").value == "tiny/action/Attvt-all"   # the store's own checkpoint
    assert at.selectbox(key="w_qid").value == first


# ------------------------------------------------------------------------------ grounding

def test_grounding_needs_evidence_then_scores_against_random(checkpoints_root, monkeypatch, tmp_path):
    at = page(checkpoints_root, monkeypatch, "grounding", ckpt="tiny/count/Attvt-all")
    assert "no evidence.json" in "\n".join(e.value for e in at.error)
    ev = {f"tgif-qa/count/COUNT{v}": {"frames": [0, 1]} for v in range(3, 24, 4)}
    (tmp_path / "evidence.json").write_text(json.dumps(ev))
    box = [t for t in at.text_input if t.label == "Evidence file"][0]
    box.input(str(tmp_path / "evidence.json")).run()
    assert_no_traceback(at)
    assert not at.error, [e.value for e in at.error]
    assert "6 of 6 test questions have evidence frames" in texts(at)
    assert "Score grounding" in texts(at) and not at.dataframe
    at.button(key="gr_run").click().run()
    assert_no_traceback(at)
    table = frames_of(at)[0]
    overall = table[table["task"] == "all"].set_index("method")
    assert set(overall.index) == {"memory_read", "memory_write", "video_self_attn", "coattn", "random_sampled"}
    assert overall["random"].unique().tolist() == [pytest.approx(2 / 5)]
    assert overall.loc["memory_write", "questions"] == 6
    [s for s in at.slider if s.label.startswith("Questions")][0].set_value(2).run()
    assert "Press **Score grounding**" in texts(at)


# ------------------------------------------------------------------------------ results tables

@pytest.fixture
def results_root(tmp_path) -> Path:
    root = tmp_path / "results"
    for v in VARIANTS:
        write_run(root, f"fake/count/{v}", task="count", value=4.0, slots=8)
        write_run(root, f"fake/action/{v}", task="action", value=0.6)
    write_run(root, "fake/action/Attvt-all-seed1", task="action", value=0.7)
    write_run(root, "fake/action/candidates-only", task="action", value=0.4)
    write_run(root, "fake/count/Attvt-all-Sv4", task="count", value=4.5, slots=4)
    write_run(root, "fake/open/Attvt-all", task="open", dataset="msvd-qa", value=0.4,
              by_qtype={"what": {"n": 3, "accuracy": 0.3}})
    return root


def test_results_tables_show_the_ablation_and_the_papers_rows(checkpoints_root, results_root, monkeypatch):
    both = f"{checkpoints_root}{os.pathsep}{results_root}"          # open_app puts it in $VIDEOQA_CHECKPOINTS
    at = page(both, monkeypatch, "compare", ckpt="tiny/count/Attvt-all")
    at.selectbox(key="cmp_collection").set_value("fake").run()
    assert_no_traceback(at)
    dfs = frames_of(at)
    abl = next(d for d in dfs if "Mt2v+Mv2t" in list(d.index))
    assert list(abl.index) == [*VARIANTS, "candidates-only"]
    assert abl.loc["Attvt-all", "action (accuracy, seeds)"] == "0.650 ± 0.071"
    assert abl.loc["Attvt-all", "count, reported in the paper"] == "3.790"
    t2 = next(d for d in dfs if "method" in d and "transition" in d)
    assert "Attvt-all (fake)" in t2["method"].tolist()
    assert "candidates-only (fake)" in t2["method"].tolist()       # the blind baselines are chosen by default
    paper_rows = t2[t2["source"] == "reported in the paper"]["method"].tolist()
    assert paper_rows == ["ST-VQA", "STA", "Co-M", "HME", "Beyond-RNN", "Ours"]
    t3 = next(d for d in dfs if "method" in d and "who" in d)
    assert t3[t3["source"] == "reported in the paper"]["method"].tolist()[0] == "E-VQA"
    assert t3.set_index("method").loc["Attvt-all (fake)", "what"] == pytest.approx(0.3)
    curve = chart(at, "Count: test mean L2 loss")
    assert curve["data"][0]["x"] == [4, 8]
    labels = [b.label for b in at.get("download_button")]
    assert labels.count("LaTeX") >= 4 and labels.count("CSV") >= 4


def test_results_tables_without_runs_say_how_to_make_them(monkeypatch, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    from dashboard import tables
    monkeypatch.setattr(tables, "scan_runs", lambda roots, split="test": tables.pd.DataFrame(columns=tables.RUN_COLUMNS))
    at = page(empty, monkeypatch, "compare")
    assert "No run results" in texts(at)
