"""Counterfactual edits and their comparison: alignment after drop / shuffle / swap.

    python -m pytest tests/test_counterfactual.py -q
"""
import numpy as np
import pytest

from test_explain_attribution import CANDS, Q, make_predictor
from videoqa_core.errors import UserError
from videoqa_core.explain import counterfactual as cf


@pytest.fixture(scope="module")
def video():
    rng = np.random.default_rng(3)
    return rng.normal(size=(5, 6)).astype(np.float32), rng.normal(size=(5, 5)).astype(np.float32)


def test_frame_edits(video):
    app, mot = video
    e = cf.drop_frames(app, mot, [1, 3])
    assert e.appearance.shape == (3, 6) and list(e.frames) == [0, 2, 4]
    np.testing.assert_array_equal(e.motion[1], mot[2])
    e = cf.reverse_frames(app, mot)
    np.testing.assert_array_equal(e.appearance[0], app[4])
    e = cf.shuffle_frames(app, mot, seed=1)
    np.testing.assert_array_equal(e.appearance, app[e.frames])
    assert sorted(e.frames) == list(range(5))
    e = cf.mask_frames(app, mot, [0, 2])
    assert list(e.video_mask) == [False, True, False, True, True]
    np.testing.assert_array_equal(e.appearance, app)
    e = cf.mask_frames(app, mot, [0], mode="mean")
    np.testing.assert_allclose(e.appearance[0], app.mean(0), atol=1e-6)
    assert e.video_mask is None
    with pytest.raises(UserError, match="does not exist"):
        cf.drop_frames(app, mot, [9])
    with pytest.raises(UserError, match="keep at least one"):
        cf.drop_frames(app, mot, range(5))
    assert cf.swap_candidates(["a", "b", "c"], 0, 2) == ["c", "b", "a"]
    assert cf.edit_candidate(["a", "b"], 1, "z") == ["a", "z"]


def test_compare_identity_and_masking(video):
    p = make_predictor("count")
    app, mot = video
    ex = p.explain(app, mot, Q)
    same = cf.compare(ex, ex)
    assert not same["prediction"]["changed"] and all(f["max_abs"] == 0 for f in same["fields"].values())
    e = cf.mask_frames(app, mot, [4])
    after = p.explain(e.appearance, e.motion, Q, video_mask=e.video_mask)
    d = cf.compare(ex, after, frames=e.frames)
    assert d["fields"]["video_mask"]["diff"][0].tolist() == [0, 0, 0, 0, -1]
    # masking the last frame changes nothing before it in the visual memory (causal, one step per frame)
    assert np.abs(d["fields"]["visual_read"]["diff"][0, :4]).max() < 1e-6


def test_compare_aligns_dropped_and_moved_frames(video):
    """An 'after' that is exactly the original gathered at the kept frames compares as zero:
    the comparison lines frames up by the edit's map, not by position."""
    p = make_predictor("count")
    app, mot = video
    ex = p.explain(app, mot, Q)
    keep = np.array([0, 2, 4])
    from dataclasses import replace
    t = ex.trace
    gathered = replace(t, visual_read=t.visual_read[:, keep], video_mask=t.video_mask[:, keep],
                       video_self_attn=t.video_self_attn[:, keep][:, :, keep] /
                       t.video_self_attn[:, keep][:, :, keep].sum(-1, keepdims=True))
    fake = replace(ex, trace=gathered)
    d = cf.compare(ex, fake, frames=keep)
    assert d["fields"]["visual_read"]["max_abs"] == 0 and d["fields"]["video_self_attn"]["max_abs"] < 1e-6
    assert d["fields"]["visual_read"]["aligned"] == "frames" and any("kept frames" in n for n in d["notes"])
    # a real drop: shapes follow the edit and the comparison runs
    e = cf.drop_frames(app, mot, [1, 3])
    after = p.explain(e.appearance, e.motion, Q)
    d = cf.compare(ex, after, frames=e.frames)
    assert d["fields"]["visual_read"]["diff"].shape == (1, 3, t.visual_read.shape[-1])
    assert d["fields"]["video_self_attn"]["tv"] >= 0
    with pytest.raises(UserError, match="frames has"):
        cf.compare(ex, after, frames=[0, 1])


def test_swapping_candidates_swaps_rows(video):
    p = make_predictor("action")
    app, mot = video
    before = p.explain(app, mot, Q, CANDS)
    swapped = cf.swap_candidates(CANDS, 0, 3)
    after = p.explain(app, mot, Q, swapped)
    d = cf.compare(before, after, rows=cf.swap_rows(5, 0, 3))
    # candidates are scored independently: the same answer, the same maps once rows are matched
    assert not d["prediction"]["changed"]
    np.testing.assert_allclose(d["scores"]["change"], 0, atol=1e-5)
    assert max(f["max_abs"] for f in d["fields"].values()) < 1e-5
    q2 = p.explain(app, mot, "what color is the red circle ?", CANDS)
    d = cf.compare(before, q2)
    assert any("by position" in n for n in d["notes"]) and d["fields"]["text_read"]["aligned"].endswith("by-position")
