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
    # the warm-up run before everything, the runs started from it last (no worker waits)
    assert runs[0].is_warmup and [r.warm for r in runs[-2:]] == [True, True]
    assert {(r.task, r.name) for r in runs if r.warm} == {("action", "Attvt-all-warm"), ("transition", "Attvt-all-warm")}
    assert not any(r.warm or r.is_warmup for r in plan(warmup=False))


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


def test_mini_demo_warm_run_starts_from_the_warmup_run(tmp_path):
    """--only a -warm run trains the warm-up set's run first (its data built on the way),
    starts from its weights, and ships neither its checkpoint nor its data."""
    from dashboard.tables import scan_runs
    data, ckpts = tmp_path / "data", tmp_path / "ckpt"
    code = cli(["demo", "--videos", "24", "--warmup-videos", "30", "--data-dir", str(data),
                "--checkpoints-dir", str(ckpts), "--only", "transition/Attvt-all-warm",
                "--epochs-scale", "0.1", "--jobs", "2"])
    assert code == 0
    summary = json.loads((ckpts / "runs.json").read_text())
    assert {(r["task"], r["name"]) for r in summary} == {("action", ".warmup"), ("transition", "Attvt-all-warm")}
    warmup = ckpts / "action" / ".warmup"
    assert (warmup / "metrics_test.json").is_file() and not list(warmup.glob("*.pt"))
    # the warm-up run is scored on its own test split: the single-actor videos
    assert all(v.startswith("warm") for v in pd.read_parquet(warmup / "predictions_test.parquet")["video_id"])
    run = ckpts / "transition" / "Attvt-all-warm"
    rec = json.loads((run / "init_from.json").read_text())
    assert rec["checkpoint"] == str(warmup / "best.pt") and rec["source_task"] == "action"
    assert rec["copied"] == rec["of"] and rec["head_copied"]          # one model, one kind of head
    assert (run / "best.pt").is_file() and (data / ".warmup" / "features.h5").is_file()
    # the dashboard lists the warm run, not the warm-up run (a dot folder)
    assert list(scan_runs([ckpts])["name"]) == ["Attvt-all-warm"]


def test_negative_warmup_videos_is_refused_before_anything_is_written(tmp_path, capsys):
    data, ckpts = tmp_path / "data", tmp_path / "ckpt"
    assert cli(["demo", "--warmup-videos", "-1", "--data-dir", str(data), "--checkpoints-dir", str(ckpts)]) == 2
    assert "--warmup-videos -1" in capsys.readouterr().err
    assert not data.exists() and not ckpts.exists()
