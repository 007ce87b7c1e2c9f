"""Grounding metrics on hand-made maps with known answers, and `grounding --json` end to end
on a tiny synthetic benchmark.

    python -m pytest tests/test_grounding.py -q
"""
import json
import math

import numpy as np
import pytest

from videoqa_core.__main__ import main as cli
from videoqa_core.data.records import QARecord
from videoqa_core.explain.grounding import (Score, attention_received, evidence_key, evidence_mass, find_evidence,
                                            frame_importance, memory_read_provenance, memory_write_mass,
                                            pointing_accuracy, random_reference, sampled_random_map, summarize)
from videoqa_core.model.trace import Trace


def test_pointing_accuracy():
    assert pointing_accuracy([0, 0.1, 0.9, 0.0], [2]) == 1.0
    assert pointing_accuracy([0, 0.1, 0.9, 0.0], [0, 1, 3]) == 0.0
    assert pointing_accuracy([1, 1, 0, 0], [0]) == 0.5                       # a tie shares the credit
    assert pointing_accuracy([1, 1, 1, 1], [0]) == 0.25                      # flat map = random
    # the top frame is looked for among valid frames only
    assert pointing_accuracy([0.1, 0.2, 5.0], [1], valid=[True, True, False]) == 1.0
    assert pointing_accuracy([0.1, 0.2, 5.0], [2], valid=[True, True, False]) == 0.0
    with pytest.raises(ValueError, match="non-negative"):
        pointing_accuracy([-1, 2], [0])


def test_evidence_mass():
    assert evidence_mass([1, 1, 2, 0], [2]) == pytest.approx(0.5)
    assert evidence_mass([1, 1, 2, 0], [0, 1, 2, 3]) == pytest.approx(1.0)
    assert evidence_mass([0, 0, 0, 0], [1]) == pytest.approx(0.25)          # no information: uniform share
    assert evidence_mass([1, 3, 100], [1], valid=[True, True, False]) == pytest.approx(0.75)
    assert evidence_mass([1, 3], [1, 7, -2]) == pytest.approx(0.75)          # out-of-range evidence ignored


def test_random_reference_is_exact_and_matches_sampling():
    ref = random_reference([1, 3, 3, 9], 5)                                  # duplicates and 9 ignored
    assert ref == {"pointing": 0.4, "mass": 0.4}
    rng = np.random.default_rng(0)
    maps = [sampled_random_map(5, rng) for _ in range(4000)]
    assert np.mean([evidence_mass(m, [1, 3], ) for m in maps]) == pytest.approx(0.4, abs=0.02)
    assert np.mean([pointing_accuracy(m, [1, 3]) for m in maps]) == pytest.approx(0.4, abs=0.03)
    assert math.isnan(random_reference([0], 0)["mass"])


def test_memory_read_provenance_hand_case():
    # frame 0 writes everything into slot 0; frame 1 retains; frame 2 reads half from slot 0
    read = np.array([[0.5, 0.5], [1.0, 0.0], [0.5, 0.5]])
    wa = np.array([[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]])
    wm = np.array([[0.0, 1.0], [0.5, 0.5], [0.5, 0.5]])
    gates = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])   # retain / write-app / write-mot
    out = memory_read_provenance(read, wa, wm, gates)
    np.testing.assert_allclose(out, [1.0 + 0.5, 0.0, 0.0])
    # with a half retain at frame 1 and a write into slot 1, frame 2's read splits
    gates2 = np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])
    wm2 = np.array([[0.0, 1.0], [0.0, 1.0], [0.5, 0.5]])
    out = memory_read_provenance(read, wa, wm2, gates2)
    # step 2 reads slot 0 (share of frame 0 = 0.5) and slot 1 (frame 1 wrote 0.5 there), half each
    np.testing.assert_allclose(out, [1.0 + 0.5 * 0.5, 0.5 * 0.5, 0.0])
    # a padded frame neither reads nor writes
    out = memory_read_provenance(read, wa, wm, gates, valid=[True, False, True])
    np.testing.assert_allclose(out, [0.5, 0.0, 0.0])
    np.testing.assert_allclose(memory_write_mass(gates2, valid=[True, True, False]), [1.0, 0.5, 0.0])


def test_attention_received_and_trace_methods():
    attn = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(attention_received(attn), [0.5, 1 / 6, 1 / 3])
    np.testing.assert_allclose(attention_received(attn, [True, True, False]), [0.75, 0.25, 0.0])
    N, T = 3, 2
    tr = Trace(visual_read=None, visual_write_app=None, visual_write_mot=None, visual_gates=None,
               visual_memory_norm=None, text_read=np.zeros((T, 2)), text_write=np.zeros((T, 2)),
               text_memory_norm=np.zeros((T, 2)), video_self_attn=attn, text_self_attn=None, affinity=None,
               v2t_attn=None, t2v_attn=attn.T / attn.T.sum(1, keepdims=True),
               video_mask=np.array([True, True, False]), text_mask=np.ones(T, bool))
    assert frame_importance(tr, "memory_read") is None                     # a variant without the part
    np.testing.assert_allclose(frame_importance(tr, "video_self_attn"), [0.75, 0.25, 0.0])
    assert frame_importance(tr, "coattn").shape == (N,)
    with pytest.raises(ValueError):
        frame_importance(tr, "ig")


def test_summarize_per_group_with_reference():
    s = [Score("1", "count", "count", "m", 1.0, 0.5, 1, 4), Score("2", "count", "count", "m", 0.0, 0.1, 2, 4),
         Score("1", "count", "count", "k", 0.0, 0.2, 1, 4), Score("2", "count", "count", "k", 1.0, 0.3, 2, 4),
         Score("3", "frameqa", "color", "m", 1.0, 0.9, 1, 5)]
    out = summarize(s)
    m = out["overall"]["methods"]["m"]
    assert m["n"] == 3 and m["pointing"] == pytest.approx(2 / 3) and m["mass"] == pytest.approx(0.5)
    assert m["random_mass"] == pytest.approx((0.25 + 0.5 + 0.2) / 3)
    assert out["overall"]["random"]["pointing"] == pytest.approx((0.25 + 0.5 + 0.2) / 3)
    groups = {(g["task"], g["qtype"]): g for g in out["by_group"]}
    assert groups[("count", "count")]["methods"]["k"]["mass"] == pytest.approx(0.25)
    assert groups[("count", "count")]["random"]["mass"] == pytest.approx(0.375)
    assert groups[("frameqa", "color")]["n"] == 1


def test_evidence_keys():
    r = QARecord(qid="3", video_id="vid4", question="what jumps ?", task="open", qtype="what", answer="a", split="test")
    assert evidence_key("msvd-qa", r) == "msvd-qa/open/3"


# ----------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def synth_run(tmp_path_factory):
    from test_train import train_cli
    from videoqa_core.data.synth import generate
    root = tmp_path_factory.mktemp("ground")
    synth = root / "synth"
    generate(synth, videos=40, seed=0)
    feats = synth / "feats.h5"
    assert cli(["extract", "--videos", str(synth / "videos"), "--out", str(feats), "--appearance", "pixels",
                "--motion", "framediff", "--workers", "0"]) == 0
    run = root / "run"
    assert train_cli(synth / "tgif-qa", feats, run, "count", epochs=1, batch_size=8) == 0
    return synth, run


@pytest.mark.slow
def test_grounding_json_end_to_end(synth_run, capsys):
    synth, run = synth_run
    capsys.readouterr()
    assert cli(["grounding", "--checkpoint", str(run), "--split", "test", "--json", "--steps", "4",
                "--methods", "memory_read", "memory_write", "video_self_attn", "coattn", "ig", "occlusion"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["evidence"] == str((synth / "evidence.json").resolve())
    evidence = json.loads((synth / "evidence.json").read_text())
    test_keys = [k for k in evidence if k.startswith("tgif-qa/count/")]
    assert out["questions"] > 0
    methods = out["overall"]["methods"]
    assert set(methods) == {"memory_read", "memory_write", "video_self_attn", "coattn", "ig", "occlusion", "random_sampled"}
    for m, s in methods.items():
        assert 0.0 <= s["pointing"] <= 1.0 and 0.0 <= s["mass"] <= 1.0, m
        assert s["n"] == out["questions"]
        assert s["random_pointing"] == s["random_mass"] == pytest.approx(out["overall"]["random"]["mass"])
    # the reference is |E|/N over exactly the scored questions
    n_frames = 35
    ref = [len(evidence[k]["frames"]) / n_frames for k in test_keys]
    assert min(ref) <= out["overall"]["random"]["mass"] <= max(ref)
    assert out["by_group"] and out["by_group"][0]["task"] == "count"


@pytest.mark.slow
def test_grounding_without_evidence_is_one_line(synth_run, tmp_path, capsys):
    synth, run = synth_run
    capsys.readouterr()
    assert cli(["grounding", "--checkpoint", str(run), "--evidence", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no evidence file" in err
    assert find_evidence(tmp_path) is None and find_evidence(synth / "tgif-qa") == (synth / "evidence.json").resolve()
