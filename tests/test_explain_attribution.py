"""Attributions (captum) on tiny random models: completeness, alignment, targets, occlusion.

    python -m pytest tests/test_explain_attribution.py -q
"""
import numpy as np
import pytest
import torch

from helpers import tiny_model_config
from videoqa_core.config import Config
from videoqa_core.data.vocab import tokenize
from videoqa_core.errors import UserError
from videoqa_core.explain.attribution import attribute
from videoqa_core.inference import Predictor
from videoqa_core.model.videoqa import VideoQAModel

WORDS = ["<pad>", "<unk>", "how", "many", "times", "does", "the", "red", "circle", "jump", "?", "what",
         "color", "is", "spin", "grow", "shrink", "flash", "blue", "green"]
ANSWERS = ["red", "green", "blue", "yellow", "purple", "white", "black"]
CANDS = ["jump", "spin", "grow", "shrink", "flash"]
Q = "how many times does the red circle jump ?"


def make_predictor(task, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = Config()
    cfg.data.task = task
    cfg.model = tiny_model_config(task, vocab_size=len(WORDS), **kw)
    cfg.validate()
    model = VideoQAModel(cfg.model)
    return Predictor({"config": cfg.to_dict(), "model": model.state_dict(), "vocab": WORDS,
                      "answers": ANSWERS if task == "frameqa" else None, "path": "memory"})


@pytest.fixture(scope="module")
def video():
    rng = np.random.default_rng(0)
    return rng.normal(size=(5, 6)).astype(np.float32), rng.normal(size=(5, 5)).astype(np.float32)


# The last case has every switch that changes the forward: the candidate head reads the same
# word embeddings that LIG interpolates, so completeness must still hold.
SWITCHED = {"mc_head": "candidate", "memory_residual": True, "attention_residual": True, "pooling": "max"}


@pytest.mark.parametrize("task,kw", [("count", {}), ("action", {}), ("frameqa", {}), ("action", SWITCHED)],
                         ids=["count", "action", "frameqa", "action-switched"])
def test_ig_is_complete_and_aligned(task, kw, video):
    p = make_predictor(task, **kw)
    app, mot = video
    cands = CANDS if task == "action" else None
    ex = p.explain(app, mot, Q, cands)
    att = attribute(p, app, mot, Q, cands, steps=64)
    # the explained target is the model's answer, at the model's score
    if task == "count":
        assert att.score == pytest.approx(float(ex.scores[0]), abs=1e-5)
    elif task == "action":
        assert att.target == ex.predicted_row and att.target_label == ex.prediction
        assert att.score == pytest.approx(float(ex.scores[att.target]), abs=1e-5)
    else:
        assert att.target_label == ex.prediction
    # completeness: attributions add up to f(x) - f(baseline), and the delta says by how much
    total = att.appearance_ig.sum() + att.motion_ig.sum()
    assert total == pytest.approx(att.score - att.baseline_scores["ig"], abs=1e-4)
    assert abs(att.deltas["ig"]) < 1e-3 and abs(att.deltas["words"]) < 1e-3
    assert att.word_ig.sum() == pytest.approx(att.score - att.baseline_scores["words"], abs=1e-4)
    # shapes: frames and the explained token row (question + candidate for mc)
    assert att.appearance_ig.shape == att.motion_ig.shape == att.occlusion.shape == (5,)
    assert att.words == ex.rows[ex.predicted_row] and att.word_ig.shape == (len(att.words),)
    assert att.baselines == {"ig": "zeros", "words": "PAD", "occlusion": "zeros"}
    assert np.abs(att.appearance_ig).sum() > 0 and np.abs(att.word_ig).sum() > 0


def test_occlusion_is_the_score_drop_of_one_frame(video):
    p = make_predictor("count")
    app, mot = video
    att = attribute(p, app, mot, Q, methods=("occlusion",))
    assert att.appearance_ig is None and att.word_ig is None
    full = float(p.explain(app, mot, Q).scores[0])
    for t in (0, 3):
        a2, m2 = app.copy(), mot.copy()
        a2[t], m2[t] = 0, 0
        assert att.occlusion[t] == pytest.approx(full - float(p.explain(a2, m2, Q).scores[0]), abs=1e-5)
        a2 = app.copy()
        a2[t] = 0
        assert att.occlusion_appearance[t] == pytest.approx(full - float(p.explain(a2, mot, Q).scores[0]), abs=1e-5)
    assert np.all(att.frame_importance("occlusion") >= 0)


def test_targets_and_baselines(video):
    app, mot = video
    p = make_predictor("frameqa")
    att = attribute(p, app, mot, Q, target="blue", methods=("ig",), frame_baseline="mean", steps=16)
    assert att.target == ANSWERS.index("blue") and att.target_label == "blue"
    assert att.baselines["ig"] == "video mean"
    # the mean baseline is constant over time: the model's answer at the baseline is f(mean video)
    mean_a = np.repeat(app.mean(0, keepdims=True), 5, 0)
    mean_m = np.repeat(mot.mean(0, keepdims=True), 5, 0)
    ex = p.explain(mean_a, mean_m, Q)
    logit_ratio = np.log(ex.scores[att.target] / ex.scores[0])   # logits up to a shared constant
    ref = attribute(p, mean_a, mean_m, Q, target="blue", methods=("ig",), steps=2)
    ref0 = attribute(p, mean_a, mean_m, Q, target=0, methods=("ig",), steps=2)
    assert ref.score - ref0.score == pytest.approx(logit_ratio, abs=1e-4)
    assert att.baseline_scores["ig"] == pytest.approx(ref.score, abs=1e-5)
    mc = make_predictor("action")
    att = attribute(mc, app, mot, Q, CANDS, target=3, methods=("words",))
    assert att.target_label == "shrink" and att.words[-1] == "shrink"
    with pytest.raises(UserError, match="out of range"):
        attribute(mc, app, mot, Q, CANDS, target=7, methods=("words",))
    with pytest.raises(UserError, match="5 candidate"):
        attribute(mc, app, mot, Q, CANDS[:3])
    with pytest.raises(UserError, match="unknown attribution"):
        attribute(p, app, mot, Q, methods=("saliency",))


def test_bare_model_with_token_ids(video):
    p = make_predictor("count")
    app, mot = video
    tokens = tokenize(Q)
    ids = np.array(p.vocab.encode(tokens) + [0, 0])                      # trailing PAD is dropped
    a = attribute(p.model, app, mot, ids, methods=("ig", "words"), steps=16)
    b = attribute(p, app, mot, Q, methods=("ig", "words"), steps=16)
    np.testing.assert_allclose(a.appearance_ig, b.appearance_ig, atol=1e-6)
    np.testing.assert_allclose(a.word_ig, b.word_ig, atol=1e-6)
    assert len(a.words) == len(tokens)


def test_parameters_are_left_as_they_were(video):
    p = make_predictor("count")
    before = [q.requires_grad for q in p.model.parameters()]
    attribute(p, *video, Q, steps=4)
    assert [q.requires_grad for q in p.model.parameters()] == before
    assert not p.model.training


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (cuDNN LSTM backward in eval mode)")
def test_attribution_on_gpu_matches_cpu(video):
    cpu = make_predictor("action")
    gpu = Predictor(dict(cpu.ckpt), device="cuda")
    a = attribute(cpu, *video, Q, CANDS, steps=16)
    b = attribute(gpu, *video, Q, CANDS, steps=16)
    np.testing.assert_allclose(a.appearance_ig, b.appearance_ig, atol=1e-4)
    np.testing.assert_allclose(a.word_ig, b.word_ig, atol=1e-4)
    np.testing.assert_allclose(a.occlusion, b.occlusion, atol=1e-4)
