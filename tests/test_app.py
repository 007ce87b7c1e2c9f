"""The Streamlit app under ``AppTest``: every page, the deep link, and the error states.

    python -m pytest tests/test_app.py -q

The checkpoints come from tests/dashboard_fixtures.py (trained once per session, ~1 min
on 2 cores, hence ``slow``). Every test opens its checkpoint through the deep link, so a
demo in the project's own ``checkpoints/`` (which the app also scans) changes nothing.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from dashboard import state
from tests import dashboard_fixtures
from tests.dashboard_fixtures import write_gifs

# Fixtures the tests take by name, bound here so that pytest finds them in this module
# (imported by name they would read as unused imports).
checkpoints_root, pixel_checkpoint = dashboard_fixtures.checkpoints_root, dashboard_fixtures.pixel_checkpoint

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def open_app(root: Path, monkeypatch, **link) -> AppTest:
    monkeypatch.setenv(state.ENV_VAR, str(root))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({k: str(v) for k, v in link.items()})
    return at.run()


def charts(at) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def titles(spec: dict) -> list[str]:
    """A chart's title and its panels' titles (subplot titles are paper-anchored annotations)."""
    lay = spec["layout"]
    return [lay.get("title", {}).get("text", "")] + [a["text"] for a in lay.get("annotations", [])
                                                      if a.get("xref") == "paper" and a.get("text")]


def chart(at, title_start: str) -> dict:
    """The chart with a title or panel title starting with ``title_start``."""
    found = [c for c in charts(at) if any(t.startswith(title_start) for t in titles(c))]
    assert found, f"no chart titled '{title_start}...': {[titles(c) for c in charts(at)]}"
    return found[0]


def panel(spec: dict, title_start: str) -> tuple[dict, dict, dict]:
    """(heatmap trace, its x axis, its y axis) of the panel titled ``title_start``."""
    (trace,) = [d for d in spec["data"] if d.get("name", "").startswith(title_start)]

    def axis(ref: str) -> dict:               # "x3" -> layout["xaxis3"], "x" -> layout["xaxis"]
        return spec["layout"][ref[0] + "axis" + ref[1:]]
    return trace, axis(trace.get("xaxis", "x")), axis(trace.get("yaxis", "y"))


def step_marks(spec: dict) -> list[str]:
    """The distinct "step K" labels of a chart's current-step markers."""
    return sorted({a["text"] for a in spec["layout"].get("annotations", []) if a.get("text", "").startswith("step ")})


def texts(at) -> str:
    parts = [e.value for e in (*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.title)]
    return "\n".join(str(p) for p in parts)


def section(at, name: str) -> AppTest:
    """Open one of the inspector's lazy tabs (Visual memory, Textual memory, Attention)."""
    at.session_state["section"] = name
    return at.run()


def assert_no_traceback(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


# ------------------------------------------------------------------------------ inspector

def test_inspector_opens_on_a_question_with_every_map(checkpoints_root, monkeypatch):
    at = open_app(checkpoints_root, monkeypatch, ckpt="tiny/action/Attvt-all")
    assert_no_traceback(at)
    assert at.selectbox(key="w_ckpt").value == "tiny/action/Attvt-all"
    qid = at.selectbox(key="w_qid").value
    assert qid.startswith("ACTION")
    body = texts(at)
    assert "what does the object do" in body and "**Prediction:**" in body and "truth:" in body
    for title in ("frames and their attention", "candidates", "read weights β", "gates μ", "appearance write weights",
                  "motion write weights", "memory contents: ‖M_t"):
        chart(at, title)
    section(at, "Textual memory")
    for title in ("frames and their attention", "read weights βᵠ", "write weights α  [T×S]", "memory contents: ‖Mᵠ"):
        chart(at, title)
    section(at, "Attention")
    for title in ("video self-attention", "text self-attention", "affinity Sm", "video-to-text", "text-to-video"):
        chart(at, title)
    assert not [c for c in charts(at) if any(t.startswith("read weights β ") for t in titles(c))], \
        "a closed tab was drawn"
    assert_no_traceback(at)
    _, x, y = panel(chart(at, "affinity Sm"), "affinity Sm")
    assert x["title"]["text"] == "word" and y["title"]["text"] == "frame"
    assert "object" in x["ticktext"]
    assert at.query_params["qid"] == [qid] or at.query_params["qid"] == qid


def test_the_step_slider_moves_the_marker_and_never_reruns_the_model(checkpoints_root, monkeypatch):
    from videoqa_core.inference import Predictor
    calls = []
    original = Predictor.explain

    def counting(self, *a, **kw):
        calls.append(1)
        return original(self, *a, **kw)
    monkeypatch.setattr(Predictor, "explain", counting)

    at = open_app(checkpoints_root, monkeypatch, ckpt="tiny/count/Attvt-all")
    assert_no_traceback(at)
    assert len(calls) == 1
    assert step_marks(chart(at, "read weights β")) == ["step 0"]
    at.slider(key="w_step").set_value(3).run()
    assert step_marks(chart(at, "read weights β")) == ["step 3"]
    section(at, "Attention")
    assert step_marks(chart(at, "video self-attention")) == ["step 3"]
    section(at, "Visual memory")
    at.button(key="next_step").click().run()
    assert at.slider(key="w_step").value == 4
    at.button(key="prev_step").click().run()
    at.button(key="prev_step").click().run()
    assert step_marks(chart(at, "gates μ")) == ["step 2"]
    assert len(calls) == 1, "a step move ran the model again"
    assert at.query_params["step"] in ("2", ["2"])

    first = at.selectbox(key="w_qid").value
    at.selectbox(key="w_qid").select_index(1).run()
    assert_no_traceback(at)
    assert at.selectbox(key="w_qid").value != first
    assert len(calls) == 2, "a new question runs the model exactly once"
    count = chart(at, "count:")
    assert [d["name"] for d in count["data"]] == ["raw output", "prediction", "truth"]


def test_deep_link_restores_checkpoint_question_and_step(checkpoints_root, monkeypatch):
    at = open_app(checkpoints_root, monkeypatch, ckpt="tiny/count/Attvt-all", split="test", qid="COUNT11", step=2)
    assert_no_traceback(at)
    assert at.selectbox(key="w_ckpt").value == "tiny/count/Attvt-all"
    assert at.selectbox(key="w_qid").value == "COUNT11"
    assert at.slider(key="w_step").value == 2
    assert step_marks(chart(at, "read weights β")) == ["step 2"]


def test_deep_link_to_unknown_things_warns_and_falls_back(checkpoints_root, monkeypatch):
    at = open_app(checkpoints_root, monkeypatch, ckpt="no/such/run", qid="NOPE")
    assert_no_traceback(at)
    assert "not among the checkpoints found" in texts(at) or any("not among" in w.value for w in at.sidebar.warning)
    assert at.selectbox(key="w_qid").value is not None


def test_filters_and_search_narrow_the_questions(checkpoints_root, monkeypatch):
    at = open_app(checkpoints_root, monkeypatch, ckpt="tiny/action/Attvt-all")
    n_all = len(at.selectbox(key="w_qid").options)
    at.text_input(key="w_search").input("ACTION11").run()
    assert at.selectbox(key="w_qid").options == [o for o in at.selectbox(key="w_qid").options if "ACTION11" in o]
    assert len(at.selectbox(key="w_qid").options) == 1
    at.text_input(key="w_search").input("").run()
    for outcome in ("correct", "wrong"):
        at.radio(key="w_outcome_filter").set_value(outcome).run()
        opts = at.selectbox(key="w_qid").options
        mark = "✓" if outcome == "correct" else "✗"
        assert all(o.startswith(mark) for o in opts) or any("No question matches" in i.value for i in at.sidebar.info)
    at.radio(key="w_outcome_filter").set_value("all").run()
    assert len(at.selectbox(key="w_qid").options) == n_all
    assert_no_traceback(at)


def test_multiple_choice_row_selector_switches_the_maps(checkpoints_root, monkeypatch):
    at = open_app(checkpoints_root, monkeypatch, ckpt="tiny/action/Attvt-all")
    section(at, "Textual memory")
    radio = at.radio(key="w_row")
    assert len(radio.options) == 5 and "(predicted)" in radio.options[radio.index]
    before = panel(chart(at, "read weights βᵠ"), "read weights βᵠ")[1]["ticktext"]
    other = (radio.index + 1) % 5
    radio.set_value(other).run()
    after = panel(chart(at, "read weights βᵠ"), "read weights βᵠ")[1]["ticktext"]
    assert before[-1] != after[-1]           # the candidate word at the end of the row changed
    assert_no_traceback(at)


def test_ablation_says_which_parts_it_lacks(checkpoints_root, monkeypatch):
    at = open_app(checkpoints_root, monkeypatch, ckpt="tiny/action/Mv+Mt")
    assert_no_traceback(at)
    chart(at, "read weights β")
    section(at, "Attention")
    info = "\n".join(i.value for i in at.info)
    for part in ("video self-attention", "text self-attention", "video-to-text co-attention",
                 "text-to-video co-attention"):
        assert f"has no {part}" in info
    assert not any(t.startswith("video self-attention") for c in charts(at) for t in titles(c))


def test_missing_video_file_shows_frame_indices_with_a_note(checkpoints_root, monkeypatch):
    at = open_app(checkpoints_root, monkeypatch, ckpt="tiny/frameqa/Attvt-all")
    assert_no_traceback(at)
    assert "frames are shown by index only" in texts(at)
    strip = chart(at, "frames and their attention")
    assert [d["type"] for d in strip["data"]] == ["bar"]
    chart(at, "top-5 answers")


# ------------------------------------------------------------------------------ Figure 1

def test_figure_page_previews_and_offers_three_downloads(checkpoints_root, monkeypatch):
    at = open_app(checkpoints_root, monkeypatch, ckpt="tiny/action/Attvt-all", step=1)
    at.switch_page("views/figure1.py").run()
    assert_no_traceback(at)
    assert at.title[0].value == "Figure 1"
    assert len(at.get("image")) == 1
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download PNG", "Download SVG", "Download PDF"]
    assert any("python -m videoqa_core figure" in c.value and "--step 1" in c.value for c in at.code)
    at.multiselect(key="w_fig_frames").set_value([0, 4]).run()
    assert any("--frame-ids 0 4" in c.value for c in at.code)
    assert_no_traceback(at)


def test_figure_cli_writes_every_format(checkpoints_root, tmp_path):
    from videoqa_core.__main__ import main
    ckpt = checkpoints_root / "tiny" / "action" / "Attvt-all" / "best.pt"
    assert main(["figure", "--checkpoint", str(ckpt), "--split", "test", "--ids", "ACTION3", "ACTION7",
                 "--out", str(tmp_path), "--step", "2"]) == 0
    for qid in ("ACTION3", "ACTION7"):
        for fmt in ("png", "svg", "pdf"):
            assert (tmp_path / f"{qid}.{fmt}").stat().st_size > 1000
    first = (tmp_path / "ACTION3.svg").read_bytes()
    assert main(["figure", "--checkpoint", str(ckpt), "--ids", "ACTION3", "--out", str(tmp_path),
                 "--formats", "svg", "--step", "2"]) == 0
    assert (tmp_path / "ACTION3.svg").read_bytes() == first
    assert main(["figure", "--checkpoint", str(ckpt), "--ids", "NOPE", "--out", str(tmp_path)]) == 2
    assert main(["figure", "--checkpoint", str(ckpt), "--ids", "ACTION3", "--out", str(tmp_path),
                 "--formats", "gif"]) == 2


# ------------------------------------------------------------------------------ upload

def _gif_bytes(tmp_path: Path) -> bytes:
    write_gifs(tmp_path, ["clip"], frames=8)
    return (tmp_path / "clip.gif").read_bytes()


def _ask(at, name: str, data: bytes, question: str) -> AppTest:
    at.file_uploader(key="upload_file").set_value((name, data, "application/octet-stream"))
    at.text_input(key="upload_question").input(question)
    return at.get("form_submit_button")[0].click().run()


def test_clip_extractors_refuse_random_weights_made_another_way():
    """A store whose CNN had random weights can be matched for a new clip only by the same
    seeded initialisation: one from torchvision's init ("random (seed 0)") cannot."""
    from dashboard.clips import extractors_for
    from videoqa_core.errors import UserError
    attrs = {"appearance": "resnet18", "motion": "framediff", "appearance_weights": "random (seed 0)",
             "motion_weights": "none"}
    with pytest.raises(UserError, match="made another way.*extract the store again"):
        extractors_for(attrs, [])
    attrs["appearance_weights"] = "random (seed 0, cnn.py init)"
    app, mot, notes = extractors_for(attrs, [])
    assert app.random_weights and mot.name == "framediff" and "random weights" in notes[0]


def test_upload_page_runs_a_clip_through_the_checkpoints_extractors(pixel_checkpoint, monkeypatch, tmp_path):
    root = pixel_checkpoint.parents[2]
    at = open_app(root, monkeypatch, ckpt="count/Attvt-all")
    at.switch_page("views/upload.py").run()
    assert_no_traceback(at)
    _ask(at, "clip.gif", _gif_bytes(tmp_path), "how many times does the object jump ?")
    assert_no_traceback(at)
    assert not at.error, [e.value for e in at.error]
    chart(at, "read weights β")
    chart(at, "count:")
    at.slider(key="w_step").set_value(2).run()
    assert step_marks(chart(at, "read weights β")) == ["step 2"]


@pytest.mark.parametrize("name,data,question,message", [
    ("notes.txt", b"hello", "how many ?", "not a video file"),
    ("clip.mp4", b"\x00" * 64, "how many times does the object jump ?", "cannot"),
    ("clip.gif", None, "zzz qqq", "none of the question's words"),
])
def test_upload_errors_are_one_clear_message(pixel_checkpoint, monkeypatch, tmp_path, name, data, question, message):
    root = pixel_checkpoint.parents[2]
    at = open_app(root, monkeypatch, ckpt="count/Attvt-all")
    at.switch_page("views/upload.py").run()
    _ask(at, name, _gif_bytes(tmp_path) if data is None else data, question)
    assert_no_traceback(at)
    errors = "\n".join(e.value for e in at.error)
    assert message in errors, errors
    assert at.selectbox(key="w_ckpt").value == "count/Attvt-all"   # the rest of the app is still there


def test_upload_too_large_is_refused_before_decoding():
    from dashboard.clips import check_upload
    from videoqa_core.errors import UserError
    with pytest.raises(UserError, match="over the 50 MB limit"):
        check_upload("big.mp4", 51 * 2**20)
    with pytest.raises(UserError, match="not a video"):
        check_upload("movie.exe", 10)


def test_upload_says_when_the_extractor_cannot_be_rebuilt(checkpoints_root, monkeypatch, tmp_path):
    at = open_app(checkpoints_root, monkeypatch, ckpt="tiny/frameqa/Attvt-all")
    at.switch_page("views/upload.py").run()
    _ask(at, "clip.gif", _gif_bytes(tmp_path), "what is the color of the object ?")
    assert_no_traceback(at)
    errors = "\n".join(e.value for e in at.error)
    assert "resnet18-f37072fd.pth" in errors and "not on this machine" in errors


def test_upload_with_features_of_other_dims_is_refused(checkpoints_root, monkeypatch, tmp_path):
    at = open_app(checkpoints_root, monkeypatch, ckpt="tiny/count/Attvt-all")
    at.switch_page("views/upload.py").run()
    _ask(at, "clip.gif", _gif_bytes(tmp_path), "how many times does the object jump ?")
    assert_no_traceback(at)
    assert "expects 6/5" in "\n".join(e.value for e in at.error)


# ------------------------------------------------------------------------------ broken inputs

def _copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst / "best.pt"


class CodeCarrier:
    """Unpickling this would call os.system: weights_only loading must refuse it."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("breakage,message", [
    ("truncated", "cannot be read"),
    ("pickle", "could run code"),
    ("incompatible", "does not fit this version's model"),
    ("features", "is not on this machine"),
    ("annotations", "are not on this machine"),
])
def test_broken_checkpoints_show_a_message_and_the_app_stays_usable(checkpoints_root, monkeypatch, tmp_path,
                                                                     breakage, message):
    root = tmp_path / "root"
    good = checkpoints_root / "tiny" / "count" / "Attvt-all"
    _copy_run(good, root / "good")
    bad = _copy_run(good, root / "bad")
    if breakage == "truncated":
        bad.write_bytes(bad.read_bytes()[:200])
    elif breakage == "pickle":
        with open(bad, "wb") as f:
            torch.save({"format": "videoqa_core/1", "config": {}, "model": {}, "vocab": [], "x": CodeCarrier()}, f)
    else:
        from videoqa_core.checkpoint import load_checkpoint, save_checkpoint
        ck = load_checkpoint(bad)
        ck.pop("path")
        if breakage == "incompatible":
            ck["model"] = {k: v for i, (k, v) in enumerate(ck["model"].items()) if i > 0}
        elif breakage == "features":
            ck["config"]["data"]["features"] = str(tmp_path / "gone.h5")
        else:
            ck["config"]["data"]["annotations"] = str(tmp_path / "gone")
        save_checkpoint(ck, bad)
    at = open_app(root, monkeypatch, ckpt="bad")
    assert_no_traceback(at)
    errors = "\n".join(e.value for e in at.error)
    assert message in errors, errors
    assert "Traceback" not in errors and "pwned" not in errors
    at.selectbox(key="w_ckpt").set_value("good").run()          # the rest of the app still works
    assert_no_traceback(at)
    assert not at.error
    chart(at, "read weights β")


def test_a_missing_feature_of_one_video_is_a_message(checkpoints_root, monkeypatch, tmp_path):
    import h5py
    root = tmp_path / "root"
    ckpt = _copy_run(checkpoints_root / "tiny" / "count" / "Attvt-all", root / "run")
    from videoqa_core.checkpoint import load_checkpoint, save_checkpoint
    ck = load_checkpoint(ckpt)
    ck.pop("path")
    store = tmp_path / "feats.h5"
    shutil.copy(ck["config"]["data"]["features"], store)
    with h5py.File(store, "a") as f:
        del f["appearance/tumblr_v003"]
    ck["config"]["data"]["features"] = str(store)
    save_checkpoint(ck, ckpt)
    at = open_app(root, monkeypatch, ckpt="run", qid="COUNT3")
    assert_no_traceback(at)
    assert "is not in feature store" in "\n".join(e.value for e in at.error)


# ------------------------------------------------------------------------------ discovery

def test_checkpoint_roots_come_from_env_and_argv(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    roots = state.checkpoint_roots(["--checkpoints", str(b)], {state.ENV_VAR: f"{a}{os.pathsep}{b}"})
    assert roots == [state.PROJECT_ROOT / "checkpoints", a, b]


def test_scan_labels_runs_and_prefers_the_demo_full_model(tmp_path):
    for rel in ("demo/action/Attvt-all/best.pt", "demo/action/Attvt-all/last.pt", "demo/action/Mv+Mt/best.pt",
                "demo/count/Attvt-all/best.pt", "mine/run1/last.pt", "exported.pt", ".hidden/best.pt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    for run, task, variant in (("demo/action/Attvt-all", "action", "Attvt-all"), ("demo/action/Mv+Mt", "action", "Mv+Mt"),
                               ("demo/count/Attvt-all", "count", "Attvt-all")):
        (tmp_path / run / "config.json").write_text(json.dumps({"data": {"task": task}, "model": {"variant": variant}}))
    entries = state.scan_checkpoints([tmp_path])
    labels = sorted(e.label for e in entries)
    assert labels == ["demo/action/Attvt-all", "demo/action/Mv+Mt", "demo/count/Attvt-all", "exported.pt", "mine/run1"]
    assert state.default_checkpoint(entries).label == "demo/count/Attvt-all"
    assert state.default_checkpoint(entries, task="action").label == "demo/action/Attvt-all"
    assert state.default_checkpoint([]) is None
