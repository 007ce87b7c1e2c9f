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
        assert (task, "question-only") in names
    assert ("action", "candidates-only") in names
    assert sum(1 for t, n in names if t == "count" and n.startswith("Attvt-all-Sv")) >= 3
    kept = {(r.task, r.name) for r in runs if r.keep}
    assert {(t, "Attvt-all") for t in ("count", "action", "transition", "frameqa", "open")} <= kept
    assert {("action", v) for v in VARIANTS} <= kept
    assert len({r.folder for r in plan(seeds=2)}) == 2 * len(runs)


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
