"""The analysis store: round trip against the Predictor, resume after an interruption,
refusal of a foreign store, and filters checked against plain pandas.

    python -m pytest tests/test_analysis_store.py -q
"""
import json

import numpy as np
import pandas as pd
import pytest

from helpers import make_tgif_dataset
from test_train import train_cli
from videoqa_core.__main__ import main as cli
from videoqa_core.explain import store as store_mod
from videoqa_core.explain.store import confusion, filter_frame, open_store, synthetic_chunk
from videoqa_core.inference import Predictor


@pytest.fixture(scope="module")
def action_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    ann, feats = make_tgif_dataset(root, "action", videos=24)
    run = root / "run"
    assert train_cli(ann, feats, run, "action", epochs=1) == 0
    return run


def analyze(run, out, *extra):
    return cli(["analyze", "--checkpoint", str(run), "--split", "test", "--out", str(out), "--chunk-size", "2",
                "--no-progress", *extra])


def test_round_trip_matches_the_predictor(action_run, tmp_path):
    out = tmp_path / "store"
    assert analyze(action_run, out, "--dtype", "float32") == 0
    st = open_store(out)
    meta = json.loads((out / "meta.json").read_text())
    assert st.complete and meta["complete"] and meta["kind"] == "mc" and len(st) == 6
    assert list(st.frame["row"]) == list(range(6))
    # the predictions are evaluate's
    assert cli(["evaluate", "--checkpoint", str(action_run), "--split", "test", "--out", str(tmp_path / "p.parquet")]) == 0
    ref = pd.read_parquet(tmp_path / "p.parquet")
    for col in ("qid", "prediction", "correct", "prediction_index"):
        assert list(st.frame[col].astype(str)) == list(ref[col].astype(str)), col
    np.testing.assert_allclose(st.frame["confidence"], ref["confidence"], rtol=1e-5)
    # the stored trace is the Predictor's trace of the predicted candidate's row
    p = Predictor.load(action_run)
    fs = p.feature_store()
    recs = {r.qid: r for r in p.records("test")}
    for row in (0, 3, 5):
        line = st.frame.iloc[row]
        ex = p.explain_record(recs[line["qid"]], fs)
        assert int(line["trace_row"]) == ex.predicted_row and ex.prediction == line["prediction"]
        want, got = ex.trace.row(ex.predicted_row), st.trace(row)
        for name in store_mod.TRACE_FIELDS:
            w, g = getattr(want, name), getattr(got, name)
            assert (w is None) == (g is None), name
            if w is not None:
                np.testing.assert_allclose(g[tuple(slice(0, s) for s in w.shape)], w, atol=1e-5, err_msg=name)
    assert st.attributions(0) is None
    # float16 storage: same maps to ~1e-3
    assert analyze(action_run, tmp_path / "half") == 0
    half = open_store(tmp_path / "half").trace(3)
    np.testing.assert_allclose(half.visual_read, st.trace(3).visual_read, atol=2e-3)


def test_resume_after_an_interruption(action_run, tmp_path, monkeypatch):
    out = tmp_path / "store"
    real = store_mod.StoreWriter.write_chunk
    written = []

    def flaky(self, k, frame, arrays):
        if len(written) == 2:
            raise KeyboardInterrupt      # the user pressed Ctrl-C during chunk 2
        written.append(k)
        return real(self, k, frame, arrays)

    monkeypatch.setattr(store_mod.StoreWriter, "write_chunk", flaky)
    assert analyze(action_run, out) == 130
    partial = open_store(out)
    assert not partial.complete and len(partial) == 4 and list(partial.frame["row"]) == [0, 1, 2, 3]
    partial.trace(3)                                       # complete chunks are readable
    with pytest.raises(Exception, match="not in analysis store"):
        partial.trace(4)

    def counting(self, k, frame, arrays):
        written.append(k)
        return real(self, k, frame, arrays)

    monkeypatch.setattr(store_mod.StoreWriter, "write_chunk", counting)
    assert analyze(action_run, out) == 0
    assert written == [0, 1, 2]                            # chunk 2 only, after 0 and 1 of the first run
    done = open_store(out)
    assert done.complete and len(done) == 6
    fresh = tmp_path / "fresh"
    assert analyze(action_run, fresh) == 0
    pd.testing.assert_frame_equal(done.frame, open_store(fresh).frame)
    np.testing.assert_array_equal(done.trace(5).video_self_attn, open_store(fresh).trace(5).video_self_attn)


def test_foreign_store_is_refused(action_run, tmp_path, capsys):
    out = tmp_path / "store"
    assert analyze(action_run, out, "--limit", "3") == 0
    capsys.readouterr()
    assert analyze(action_run, out) == 2                  # another question list
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--overwrite" in err
    assert analyze(action_run, out, "--overwrite") == 0 and len(open_store(out)) == 6
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    assert analyze(action_run, tmp_path / "other") == 2
    assert cli(["analyze", "--checkpoint", str(action_run), "--out", str(tmp_path / "s2"), "--split", "val",
                "--limit", "0"]) == 2


def test_attributions_are_stored(action_run, tmp_path):
    out = tmp_path / "store"
    assert analyze(action_run, out, "--limit", "3", "--attributions", "--steps", "4") == 0
    st = open_store(out)
    a = st.attributions(2)
    assert set(a) == {"ig_appearance", "ig_motion", "ig_words", "occlusion"}
    assert a["ig_appearance"].shape == (5,) and np.abs(a["ig_appearance"]).sum() > 0
    assert {"ig_delta", "words_ig_delta"} <= set(st.frame.columns)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(1)
    parts = [synthetic_chunk(rng, k * 500, 500, frames=5, tokens=4, slots_v=2, slots_t=2, traces=False)[0]
             for k in range(4)]
    return store_mod._categorical(pd.concat(parts, ignore_index=True))


@pytest.mark.parametrize("query", [
    dict(task="frameqa", correct=False),
    dict(qtype=["color", "object"], min_conf=0.2, max_conf=0.6, sort="question_len", ascending=True),
    dict(answer="answer0", sort="score"),
    dict(min_len=6, max_len=12, correct=True, limit=17),
    dict(prediction=["answer1", "answer2"], sort="qid"),
    dict(),
])
def test_filter_matches_pandas(frame, query):
    got = filter_frame(frame, **query)
    ref = frame.copy()
    ref["_pos"] = np.arange(len(ref))
    for col in ("task", "qtype", "answer", "prediction"):
        if col in query:
            v = query[col]
            ref = ref[ref[col].astype(str).isin([v] if isinstance(v, str) else v)]
    if "correct" in query:
        ref = ref[ref["correct"] == query["correct"]]
    if "min_conf" in query:
        ref = ref[ref["confidence"] >= query["min_conf"]]
    if "max_conf" in query:
        ref = ref[ref["confidence"] <= query["max_conf"]]
    if "min_len" in query:
        ref = ref[ref["question_len"] >= query["min_len"]]
    if "max_len" in query:
        ref = ref[ref["question_len"] <= query["max_len"]]
    key = query.get("sort", "confidence")
    ref = ref.assign(_k=ref[key].astype(str) if key == "qid" else ref[key])
    ref = ref.sort_values(["_k", "_pos"], ascending=[query.get("ascending", False), True], kind="stable")
    if "limit" in query:
        ref = ref.head(query["limit"])
    assert len(got) > 0
    assert list(got["row"]) == list(ref["row"])


def test_confusion_counts():
    f = pd.DataFrame({"answer": ["a", "a", "b", "b", "b", "c"], "prediction": ["a", "b", "b", "b", "z", "c"]})
    c = confusion(f, top=2)
    assert list(c.index) == ["b", "a", "(other)"] and list(c.columns) == ["b", "a", "(other)"]
    assert c.loc["b", "b"] == 2 and c.loc["b", "(other)"] == 1 and c.loc["a", "b"] == 1
    assert c.loc["(other)", "(other)"] == 1 and int(c.values.sum()) == len(f)


def test_bench_reports_build_and_latency(tmp_path):
    res = store_mod.bench(600, out=tmp_path / "b", repeats=3, slots_v=4, slots_t=3)
    assert res["questions"] == 600 and res["build_s"] > 0 and res["trace_read_ms"] > 0
    assert set(res["filter_ms"]) == set(store_mod.BENCH_QUERIES)
    assert open_store(tmp_path / "b").complete and len(open_store(tmp_path / "b")) == 600
