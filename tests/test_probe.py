"""The feature probe: python -m pytest tests/test_probe.py -q

Labels come from the rendering model; the checks that can fail are that real features
find the strongest events and that the same features paired with the wrong videos do not.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from videoqa_core.__main__ import main as cli
from videoqa_core.data import synth
from videoqa_core.data.features import FeatureStore, write_store
from videoqa_core.data.probe import PROBE_EVENTS, frame_labels, probe, roc_auc
from videoqa_core.errors import UserError

VIDEOS, SEED = 30, 3


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe")
    synth.generate(root / "synth", videos=VIDEOS, seed=SEED, difficulty="easy")
    assert cli(["extract", "--videos", str(root / "synth" / "videos"), "--out", str(root / "f.h5"),
                "--appearance", "pixels", "--motion", "framediff", "--workers", "0"]) == 0
    return root


def test_auc_matches_its_definition():
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.4])
    y = np.array([0, 0, 1, 1, 1])
    # pairs (pos, neg) with pos > neg, ties counting 1/2: (0.35>0.1) (0.8>0.1,0.4) (0.4>0.1, 0.4=0.4)
    assert roc_auc(s, y) == pytest.approx((1 + 2 + 1.5) / 6)
    assert np.isnan(roc_auc(s, np.zeros(5)))


def test_labels_follow_the_rendered_events():
    scene = synth.build(videos=1, seed=SEED).scenes[0]
    y = frame_labels(scene, 35)
    for obj in scene.objects:
        for ev in obj.events:
            assert y[list(ev.frames), PROBE_EVENTS.index(ev.kind)].all()
    busy = {t for o in scene.objects for e in o.events for t in e.frames}
    assert not y[[t for t in range(35) if t not in busy]].any()


def test_weight_free_features_show_the_events(made):
    res = probe(made / "synth", made / "f.h5", steps=150)
    auc = {k: v["auc"] for k, v in res["per_event"].items()}
    assert auc["jump"] > 0.9 and auc["shake"] > 0.9, auc
    assert res["mean_auc"] > 0.75, auc
    assert res["feature_dim"] == 817 + 880 and res["train_frames"] + res["test_frames"] == VIDEOS * 35
    motion = probe(made / "synth", made / "f.h5", part="motion", steps=150)
    assert motion["feature_dim"] == 880


def test_features_of_other_videos_show_nothing(made, tmp_path):
    store = FeatureStore(made / "f.h5")
    ids = sorted(store.ids())
    shifted = ids[1:] + ids[:1]  # every video gets its neighbour's features
    write_store(tmp_path / "wrong.h5", ((v, *store.get(w)) for v, w in zip(ids, shifted)), attrs=store.attrs)
    store.close()
    res = probe(made / "synth", tmp_path / "wrong.h5", steps=150)
    # enter / leave sit at the ends of every video, so only the repeatable events are checked
    repeatable = [res["per_event"][k]["auc"] for k in synth.EVENTS]
    assert abs(np.mean(repeatable) - 0.5) < 0.1, res["per_event"]


def test_bad_input_is_one_line(made, tmp_path, capsys):
    assert cli(["probe", "--synth", str(tmp_path), "--features", str(made / "f.h5")]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    other = tmp_path / "other"
    (other).mkdir()
    m = json.loads((made / "synth" / "manifest.json").read_text())
    m["seed"] += 1
    (other / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(UserError, match="do not rebuild"):
        probe(other, made / "f.h5")
    store = FeatureStore(made / "f.h5")
    ids = sorted(store.ids())
    write_store(tmp_path / "few.h5", ((v, *store.get(v)) for v in ids[:5]), attrs=store.attrs)
    store.close()
    with pytest.raises(UserError, match="25 of 30 synth videos are not in the store"):
        probe(made / "synth", tmp_path / "few.h5")
