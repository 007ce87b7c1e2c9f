"""`sensitivity`: the edits on their own, and the command on a trained checkpoint, checked
against the same edits made one question at a time through the Predictor.

    python -m pytest tests/test_sensitivity.py -q
"""
import json

import numpy as np
import pytest

from tests.dashboard_fixtures import checkpoints_root  # noqa: F401  (a pytest fixture)
from videoqa_core.__main__ import main as cli
from videoqa_core.errors import UserError
from videoqa_core.explain.sensitivity import EditedFeatures, parse_edit, swap_words


def test_edits_parse_and_words_swap_whole():
    assert parse_edit("reverse").words == ()
    assert parse_edit("swap:After=before").words == ("after", "before")
    for bad in ("flip", "swap:after", "swap:after=After", "swap:a b=c"):
        with pytest.raises(UserError, match="unknown"):
            parse_edit(bad)
    q = "What does the red circle do after spin ? After that, afterwards before"
    assert swap_words(q, "after", "before") == "What does the red circle do before spin ? before that, afterwards after"
    assert swap_words(swap_words(q, "after", "before"), "after", "before").lower() == q.lower()


class _Store:
    def __init__(self):
        rng = np.random.default_rng(0)
        self.v = {f"v{i}": (rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=(6, 2)).astype(np.float32))
                  for i in range(3)}
        self.attrs = {"appearance": "pixels"}

    def get(self, vid):
        return self.v[vid]


def test_frame_edits_reverse_shuffle_and_blank_every_video():
    s = _Store()
    a, m = s.get("v0")
    ra, rm = EditedFeatures(s, "reverse").get("v0")
    assert np.array_equal(ra, a[::-1]) and np.array_equal(rm, m[::-1])
    sa, _ = EditedFeatures(s, "shuffle", seed=1).get("v0")
    order = [int(np.flatnonzero((a == row).all(1))[0]) for row in sa]
    assert sorted(order) == list(range(6)) and order != list(range(6))          # a permutation, not the identity
    assert np.array_equal(sa, EditedFeatures(s, "shuffle", seed=1).get("v0")[0])  # the same one every time
    assert not np.array_equal(sa, EditedFeatures(s, "shuffle", seed=2).get("v0")[0])
    ba, bm = EditedFeatures(s, "blank").get("v1")
    assert not ba.any() and not bm.any() and ba.shape == a.shape
    assert EditedFeatures(s, "blank").attrs == s.attrs                           # the rest of the store shows through


def test_command_matches_the_edits_made_one_question_at_a_time(checkpoints_root, capsys):  # noqa: F811
    from videoqa_core.explain import counterfactual as cf
    from videoqa_core.inference import Predictor
    ckpt = checkpoints_root / "tiny" / "action" / "Attvt-all" / "best.pt"
    assert cli(["sensitivity", "--checkpoint", str(ckpt), "--edits", "reverse", "swap:what=how", "swap:jump=zzz",
                "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {(r["edit"], r["group"]): r for r in out["rows"]}
    p = Predictor.load(ckpt)
    store, recs = p.feature_store(), p.records("test")
    assert out["questions"] == len(recs) and rows[("reverse", "all")]["n"] == len(recs)
    base, rev, swp = [], [], []
    for r in recs:
        app, mot = store.get(r.video_id)
        base.append(p.explain(app, mot, r.question, r.candidates).prediction)
        e = cf.reverse_frames(app, mot)
        rev.append(p.explain(e.appearance, e.motion, r.question, r.candidates).prediction)
        swp.append(p.explain(app, mot, swap_words(r.question, "what", "how"), r.candidates).prediction)
    answers = [r.candidates[r.answer_index] for r in recs]
    for edit, preds in (("reverse", rev), ("swap:what=how", swp)):
        row = rows[(edit, "all")]
        assert row["before"] == pytest.approx(np.mean([b == t for b, t in zip(base, answers)]))
        assert row["after"] == pytest.approx(np.mean([q == t for q, t in zip(preds, answers)]))
        assert row["changed"] == pytest.approx(np.mean([b != q for b, q in zip(base, preds)]))
    # a word no question holds: the edit is reported as asking nothing, not as "no change"
    assert rows[("swap:jump=zzz", "all")]["n"] == 0 and rows[("swap:jump=zzz", "all")]["after"] is None


def test_a_bad_edit_is_one_line_before_anything_loads(tmp_path, capsys):
    assert cli(["sensitivity", "--checkpoint", str(tmp_path / "missing.pt"), "--edits", "mirror"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "edit 'mirror' is unknown" in err


def test_count_reports_the_raw_shift_and_correlation(checkpoints_root, capsys):  # noqa: F811
    """Count answers are rounded, so "changed" alone cannot tell a model that lost the count
    from one whose raw output moved a little: shift and corr are checked against the raw
    outputs of the same edit made one question at a time."""
    from videoqa_core.explain import counterfactual as cf
    from videoqa_core.inference import Predictor
    ckpt = checkpoints_root / "tiny" / "count" / "Attvt-all" / "best.pt"
    assert cli(["sensitivity", "--checkpoint", str(ckpt), "--edits", "reverse", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["rows"][0]
    p = Predictor.load(ckpt)
    store, recs = p.feature_store(), p.records("test")
    before, after = [], []
    for r in recs:
        app, mot = store.get(r.video_id)
        before.append(float(p.explain(app, mot, r.question).scores[0]))
        e = cf.reverse_frames(app, mot)
        after.append(float(p.explain(e.appearance, e.motion, r.question).scores[0]))
    before, after = np.array(before), np.array(after)
    assert row["shift"] == pytest.approx(float((after - before).mean()), abs=1e-4)
    assert row["corr"] == pytest.approx(float(np.corrcoef(before, after)[0, 1]), abs=1e-4)
    # the text table shows the two columns for Count only
    assert cli(["sensitivity", "--checkpoint", str(ckpt), "--edits", "blank"]) == 0
    assert "shift" in capsys.readouterr().out.splitlines()[0]
    action = checkpoints_root / "tiny" / "action" / "Attvt-all" / "best.pt"
    assert cli(["sensitivity", "--checkpoint", str(action), "--edits", "blank"]) == 0
    assert "shift" not in capsys.readouterr().out.splitlines()[0]
