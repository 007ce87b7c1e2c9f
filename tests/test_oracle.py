"""Oracle features: python -m pytest tests/test_oracle.py -q

The store must say exactly what the rendering model says (checked against the probe's
labels and against object_state, not against the module's own loops), plug into
training like any store, and never overwrite a file.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from videoqa_core.__main__ import main as cli
from videoqa_core.data import synth
from videoqa_core.data.features import FeatureStore
from videoqa_core.data.oracle import APPEARANCE_BLOCK, MOTION_BLOCK, oracle_features, write_oracle
from videoqa_core.data.probe import frame_labels
from videoqa_core.errors import UserError

VIDEOS, SEED = 12, 5


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("oracle")
    synth.generate(root / "synth", videos=VIDEOS, seed=SEED, difficulty="easy")
    return root


def test_motion_blocks_are_the_rendered_events():
    for scene in synth.build(videos=6, seed=SEED).scenes:
        _, mot = oracle_features(scene, 35)
        per_colour = mot.reshape(35, len(synth.COLOR_NAMES), MOTION_BLOCK)
        # summed over colours: "some object is in event k at frame i", the probe's labels
        assert np.array_equal(per_colour.max(1), frame_labels(scene, 35))
        used = {synth.COLOR_NAMES.index(o.color) for o in scene.objects}
        assert not per_colour[:, [c for c in range(len(synth.COLOR_NAMES)) if c not in used]].any()
        for obj in scene.objects:
            block = per_colour[:, synth.COLOR_NAMES.index(obj.color)]
            assert block.sum() == sum(len(e.frames) for e in obj.events)   # one kind per busy frame


def test_appearance_blocks_follow_visibility():
    scene = next(s for s in synth.build(videos=40, seed=SEED).scenes
                 if any(e.kind == "blink" for o in s.objects for e in o.events))
    app, _ = oracle_features(scene, 35)
    for obj in scene.objects:
        block = app[:, synth.COLOR_NAMES.index(obj.color) * APPEARANCE_BLOCK:][:, :APPEARANCE_BLOCK]
        for t in range(35):
            seen = synth.object_state(obj, t, scene.size).visible
            want = np.zeros(APPEARANCE_BLOCK, np.float32)
            if seen:
                want[synth.SHAPES.index(obj.shape)] = 1
                want[len(synth.SHAPES) + synth.SLOT_NAMES.index(obj.slot)] = 1
            assert np.array_equal(block[t], want), (obj.name, t)
        for e in obj.events:
            if e.kind == "blink":
                assert not block[list(e.frames)].any()


def test_store_serves_both_datasets_and_trains(folder, tmp_path):
    out = tmp_path / "oracle.h5"
    assert cli(["oracle", "--synth", str(folder / "synth"), "--out", str(out)]) == 0
    store = FeatureStore(out)
    try:
        a, m = store.get("synth00000")
        a1, m1 = store.get("vid1")
        assert a.shape == (35, 48) and m.shape == (35, 54)
        assert np.array_equal(a, a1) and np.array_equal(m, m1)
        assert store.attrs["appearance"] == "oracle"
        layout = json.loads(store.attrs["oracle_layout"])
        assert layout["colors"] == list(synth.COLOR_NAMES) and len(layout["motion"]) == MOTION_BLOCK
    finally:
        store.close()
    run = tmp_path / "run"
    assert cli(["train", "--dataset", "tgif-qa", "--task", "count", "--annotations", str(folder / "synth" / "tgif-qa"),
                "--features", str(out), "--out", str(run), "model.hidden=16", "model.visual_slots=2",
                "model.text_slots=2", "model.embed_dim=8", "train.epochs=1", "train.progress=false",
                "--evaluate", "test"]) == 0
    assert json.loads((run / "metrics_test.json").read_text())["overall"]["n"] > 0


def test_refuses_to_overwrite_and_needs_a_synth_folder(folder, tmp_path):
    out = tmp_path / "there.h5"
    out.write_bytes(b"keep me")
    with pytest.raises(UserError, match="already exists"):
        write_oracle(folder / "synth", out)
    assert out.read_bytes() == b"keep me"
    with pytest.raises(UserError, match="no manifest.json"):
        write_oracle(tmp_path, tmp_path / "new.h5")
    assert not (tmp_path / "new.h5").exists()


def test_warmup_folder_rebuilds_and_gets_oracle_features(tmp_path):
    """A `synth --warmup` folder is rebuilt from its manifest like the benchmark: the one
    acting object's events are in the motion blocks, the objects at rest have none."""
    synth.generate(tmp_path / "warm", videos=6, seed=SEED, warmup=True)
    write_oracle(tmp_path / "warm", tmp_path / "oracle.h5")
    scenes = synth.build(videos=6, seed=SEED, warmup=True).scenes
    store = FeatureStore(tmp_path / "oracle.h5")
    try:
        assert sorted(store.ids()) == [s.name for s in scenes]
        for scene in scenes:
            _, m = store.get(scene.name)
            for obj in scene.objects:
                block = m[:, synth.COLOR_NAMES.index(obj.color) * MOTION_BLOCK:][:, :MOTION_BLOCK]
                assert (block.sum() > 0) == bool(obj.events)
    finally:
        store.close()
