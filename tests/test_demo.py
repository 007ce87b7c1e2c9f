"""The demo builder: what it plans, and a miniature build end to end."""
import json

import pandas as pd
import torch

from videoqa_core.__main__ import main as cli
from videoqa_core.checkpoint import load_checkpoint
from videoqa_core.config import VARIANTS
from videoqa_core.demo import plan
from videoqa_core.inference import Predictor


def test_plan_covers_the_issue():
    runs = plan()
    names = {(r.task, r.name) for r in runs}
    for task in ("count", "action", "transition", "frameqa", "open"):
        assert (task, "Attvt-all") in names
    for task in ("count", "action"):
        assert {(task, v) for v in VARIANTS} <= names
    assert {(t, "question-only") for t in ("count", "action", "transition", "frameqa", "open")} <= names
    assert {("action", "candidates-only"), ("transition", "candidates-only")} <= names
    assert sum(1 for t, n in names if t == "count" and n.startswith("Attvt-all-Sv")) >= 3
    kept = {(r.task, r.name) for r in runs if r.keep}
    assert {(t, "Attvt-all") for t in ("count", "action", "transition", "frameqa", "open")} <= kept
    assert {("action", v) for v in VARIANTS} <= kept
    assert len({r.folder for r in plan(seeds=2)}) == 2 * len(runs)
    # the demo's model: the switches per task, and the spec's reading once beside it
    by = {(r.task, r.name): r.overrides for r in runs}
    assert by[("count", "Attvt-all")] == [] and by[("action", "Attvt-all-spec")] == []
    assert "model.mc_head=candidate" in by[("transition", "Attvt-all")]
    assert "model.mc_head=candidate" in by[("action", "candidates-only")]
    assert "model.pooling=max" in by[("frameqa", "Attvt-all")] and "model.mc_head=candidate" not in by[("open", "Attvt-all")]
    assert by[("action", "Mv+Mt")][-1] == "model.variant=Mv+Mt"          # the variant's flags after the switches
    assert ("action", "Attvt-all-spec") in kept
    # Transition's full model first: its worker builds the extra training set on the way
    assert (runs[0].task, runs[0].name) == ("transition", "Attvt-all")


def test_a_whole_build_removes_the_runs_an_earlier_plan_made(tmp_path):
    """checkpoints/demo holds what the plan makes: an earlier build's run that the plan
    dropped (as the warm-up runs were) goes; a folder runs.json never listed stays."""
    from videoqa_core.demo import prune_stale
    ckpt = tmp_path / "ck"
    runs = plan(root=ckpt)
    for rel in ("action/Attvt-all", "action/Attvt-all-warm", "mine/keep"):
        (ckpt / rel).mkdir(parents=True)
    old = [{"run": str(ckpt / "action" / "Attvt-all")}, {"run": str(ckpt / "action" / "Attvt-all-warm")},
           {"run": str(tmp_path / "elsewhere")}]
    (tmp_path / "elsewhere").mkdir()
    assert prune_stale(ckpt, old, runs) == [ckpt / "action" / "Attvt-all-warm"]
    assert (ckpt / "action" / "Attvt-all").is_dir() and (ckpt / "mine" / "keep").is_dir()
    assert (tmp_path / "elsewhere").is_dir()


def test_mini_demo_end_to_end(tmp_path):
    data, ckpts = tmp_path / "data", tmp_path / "ckpt"
    code = cli(["demo", "--videos", "24", "--data-dir", str(data), "--checkpoints-dir", str(ckpts),
                "--only", "count/Attvt-all", "open/Attvt-all", "action/Mv+Mt", "--epochs-scale", "0.1", "--jobs", "2"])
    assert code == 0
    assert (data / "synth" / "evidence.json").is_file() and not (data / "features.raw.h5").exists()
    summary = json.loads((ckpts / "runs.json").read_text())
    assert {r["name"] for r in summary} == {"Attvt-all", "Mv+Mt"} and len(summary) == 3
    # kept: the full models and action variants, shrunk to fp16 without optimizer state
    ck = load_checkpoint(ckpts / "action" / "Mv+Mt" / "best.pt")
    assert "optimizer" not in ck and all(v.dtype != torch.float32 for v in ck["model"].values())
    assert not (ckpts / "action" / "Mv+Mt" / "last.pt").exists()
    # a kept run's predictions are the shipped fp16 checkpoint's own, to the last bit
    shipped = pd.read_parquet(ckpts / "action" / "Mv+Mt" / "predictions_test.parquet")
    assert cli(["evaluate", "--checkpoint", str(ckpts / "action" / "Mv+Mt" / "best.pt"), "--split", "test",
                "--out", str(tmp_path / "again.parquet")]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "again.parquet"), shipped,
                                  check_exact=True)
    df = pd.read_parquet(ckpts / "open" / "Attvt-all" / "predictions_test.parquet")
    assert len(df) > 0 and set(df["qtype"]) <= {"what", "who", "how", "when", "where"}
    # the MSVD-style ids resolve through the store's links, and the predictor finds its data
    p = Predictor.load(ckpts / "open" / "Attvt-all" / "best.pt")
    rec = p.records("test")[0]
    ex = p.explain_record(rec, p.feature_store())
    assert ex.trace.visual_read.shape[1] == 35
    assert p.video_path(Predictor.load(ckpts / "count" / "Attvt-all" / "best.pt").records("test")[0].video_id) is not None
    # an MSVD-style id (vidN) finds its clip through youtube_mapping.txt, as real MSVD does
    clip = p.video_path(rec.video_id)
    assert clip is not None and clip.stem != rec.video_id and clip.suffix == ".gif"


def test_mini_demo_transition_trains_on_the_extra_set_and_ships_the_benchmarks_splits(tmp_path):
    """--only a Transition run builds the extra set (another seed, other ids) on the way and
    trains on it through data.train_extra; val and test stay the shipped benchmark's, and
    the run's test split is scored without the extra set."""
    from dashboard.tables import scan_runs
    data, ckpts = tmp_path / "data", tmp_path / "ckpt"
    code = cli(["demo", "--videos", "24", "--transition-videos", "30", "--data-dir", str(data),
                "--checkpoints-dir", str(ckpts), "--only", "transition/Attvt-all", "--epochs-scale", "0.1", "--jobs", "2"])
    assert code == 0
    run = ckpts / "transition" / "Attvt-all"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"]["train_extra"] == str(data / ".transition" / "synth" / "tgif-qa")
    assert cfg["model"]["mc_head"] == "candidate" and cfg["model"]["memory_residual"]
    extra_videos = {p.stem for p in (data / ".transition" / "synth" / "videos").glob("*.gif")}
    assert len(extra_videos) == 30 and all(v.startswith("extra") for v in extra_videos)
    line = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    with_extra = line["train_samples"]
    test = pd.read_parquet(run / "predictions_test.parquet")
    assert len(test) > 0 and not set(test["video_id"]) & extra_videos
    # the extra set is not needed to score or explain the run
    import shutil
    shutil.rmtree(data / ".transition")
    p = Predictor.load(run / "best.pt")
    assert all(not r.video_id.startswith("extra") for r in p.records("train"))
    assert len(p.records("train")) < with_extra
    assert cli(["evaluate", "--checkpoint", str(run / "best.pt"), "--split", "test", "--out", str(tmp_path / "t.parquet")]) == 0
    assert list(scan_runs([ckpts])["name"]) == ["Attvt-all"]


def test_negative_transition_videos_is_refused_before_anything_is_written(tmp_path, capsys):
    data, ckpts = tmp_path / "data", tmp_path / "ckpt"
    assert cli(["demo", "--transition-videos", "-1", "--data-dir", str(data), "--checkpoints-dir", str(ckpts)]) == 2
    assert "--transition-videos -1" in capsys.readouterr().err
    assert not data.exists() and not ckpts.exists()
