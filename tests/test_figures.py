"""Figure builders: the plotly ones of the dashboard and the matplotlib Figure-1 panel.

    python -m pytest tests/test_figures.py -q
"""
from __future__ import annotations

import numpy as np
import pytest

from dashboard import figures
from videoqa_core import figure as fig1
from videoqa_core.errors import UserError
from videoqa_core.inference import Explanation
from videoqa_core.model.trace import Trace

N, S, T, ST = 6, 4, 5, 3


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return (e / e.sum(axis, keepdims=True)).astype(np.float32)


def fake_trace(rows: int = 1, *, attention: bool = True, seed: int = 0) -> Trace:
    """A numpy Trace with the model's shapes (text axis padded to T+2, as T_max pads it)."""
    g = np.random.default_rng(seed)
    Tm = T + 2
    tmask = np.zeros((rows, Tm), bool)
    tmask[:, :T] = True
    att = (lambda *s: _softmax(g.normal(size=(rows, *s)))) if attention else (lambda *s: None)
    return Trace(visual_read=_softmax(g.normal(size=(rows, N, S))), visual_write_app=_softmax(g.normal(size=(rows, N, S))),
                 visual_write_mot=_softmax(g.normal(size=(rows, N, S))), visual_gates=_softmax(g.normal(size=(rows, N, 3))),
                 visual_memory_norm=np.abs(g.normal(size=(rows, N, S))).astype(np.float32),
                 text_read=_softmax(g.normal(size=(rows, Tm, ST))), text_write=_softmax(g.normal(size=(rows, Tm, ST))),
                 text_memory_norm=np.abs(g.normal(size=(rows, Tm, ST))).astype(np.float32),
                 video_self_attn=att(N, N), text_self_attn=att(Tm, Tm),
                 affinity=None if not attention else g.normal(size=(rows, N, Tm)).astype(np.float32),
                 v2t_attn=att(N, Tm), t2v_attn=att(N, N),
                 video_mask=np.ones((rows, N), bool), text_mask=tmask)


def fake_explanation(kind: str = "open", *, attention: bool = True) -> Explanation:
    words = ["what", "is", "the", "red", "the"][:T]
    if kind == "mc":
        cands = ["jump", "spin", "grow", "shrink", "flash"]
        scores = np.array([0.1, 2.0, -1.0, 0.5, 0.0], np.float32)
        probs = _softmax(scores)
        order = np.argsort(-probs)
        return Explanation("mc", cands[order[0]], scores, [(cands[i], float(probs[i])) for i in order],
                           [words] * 5, fake_trace(5, attention=attention), [], predicted_row=int(order[0]))
    if kind == "count":
        return Explanation("count", "3", np.array([3.2]), [("3", 3.2)], [words], fake_trace(1, attention=attention))
    return Explanation("open", "red", np.array([0.6, 0.3, 0.1]), [("red", 0.6), ("blue", 0.3), ("green", 0.1)],
                       [words], fake_trace(1, attention=attention))


def _step_traces(fig):
    return [t for t in fig.data if t.name == figures.STEP_TRACE]


def _step_annotations(fig):
    return [a.text for a in fig.layout.annotations if a.text.startswith("step ")]


# ------------------------------------------------------------------------ plotly builders

def test_memory_over_steps_puts_steps_on_x_and_marks_the_step():
    w = _softmax(np.random.default_rng(1).normal(size=(N, S)))
    fig = figures.memory_over_steps(w, title="read weights β", step=3)
    hm = fig.data[0]
    assert np.asarray(hm.z).shape == (S, N)                       # slots x steps
    np.testing.assert_allclose(np.asarray(hm.z), w.T, rtol=1e-6)
    assert fig.layout.xaxis.title.text == "frame" and fig.layout.yaxis.title.text == "memory slot"
    assert list(fig.layout.xaxis.ticktext) == [str(i) for i in range(N)]
    (marker,) = _step_traces(fig)
    assert list(marker.x) == [3, 3]                               # a vertical line at frame 3
    assert _step_annotations(fig) == ["step 3"]
    assert fig.layout.title.text == "read weights β"


def test_marker_moves_with_the_step():
    w = np.ones((N, S), np.float32) / S
    a = figures.memory_over_steps(w, title="t", step=1)
    b = figures.memory_over_steps(w, title="t", step=4)
    assert _step_traces(a)[0].x[0] == 1 and _step_traces(b)[0].x[0] == 4
    assert _step_annotations(b) == ["step 4"]
    assert not _step_traces(figures.memory_over_steps(w, title="t", step=None))


def test_step_outside_the_steps_is_refused():
    with pytest.raises(ValueError, match="outside"):
        figures.memory_over_steps(np.ones((N, S)), title="t", step=N)


def test_heatmap_checks_labels_against_shape():
    with pytest.raises(ValueError, match="labels"):
        figures.heatmap(np.ones((2, 3)), x_labels=["a", "b"], y_labels=["0", "1"], x_title="x", y_title="y", title="t")


def test_text_memory_keeps_repeated_words_as_separate_columns():
    words = ["what", "is", "the", "red", "the"]
    fig = figures.memory_over_steps(np.ones((5, ST)) / ST, title="read", step=2, step_name="word", step_labels=words)
    assert list(fig.layout.xaxis.ticktext) == words               # both "the" columns present
    assert fig.layout.xaxis.title.text == "word"


def test_attention_map_rows_are_queries_top_to_bottom():
    z = _softmax(np.random.default_rng(2).normal(size=(N, T)))
    words = ["a", "b", "c", "d", "e"]
    fig = figures.attention_map(z, rows=[str(i) for i in range(N)], cols=words, row_title="frame",
                                col_title="word", title="v2t", step=2)
    assert fig.layout.yaxis.autorange == "reversed"
    assert list(fig.layout.xaxis.ticktext) == words and fig.layout.yaxis.title.text == "frame"
    (marker,) = _step_traces(fig)
    assert list(marker.y) == [2, 2]                               # a horizontal line at query frame 2
    assert fig.data[0].zmin == 0.0


def test_signed_heatmap_is_centred_on_zero():
    z = np.array([[-2.0, 1.0], [0.5, 0.0]])
    fig = figures.attention_map(z, rows=["0", "1"], cols=["a", "b"], row_title="frame", col_title="word",
                                title="affinity", signed=True)
    assert fig.data[0].zmin == -2.0 and fig.data[0].zmax == 2.0


def test_many_steps_get_thinned_ticks_that_stay_true():
    fig = figures.memory_over_steps(np.ones((100, S)) / S, title="t", step=50)
    ticks = list(fig.layout.xaxis.tickvals)
    assert len(ticks) <= figures.MAX_TICKS
    assert [str(v) for v in ticks] == list(fig.layout.xaxis.ticktext)


def test_gates_stack_three_named_series():
    mu = _softmax(np.random.default_rng(3).normal(size=(N, 3)))
    fig = figures.gates(mu, step=2)
    names = [t.name for t in fig.data if t.name != figures.STEP_TRACE]
    assert names == list(figures.GATE_NAMES)
    assert _step_annotations(fig) == ["step 2"]
    with pytest.raises(ValueError):
        figures.gates(np.ones((N, 2)))


def test_frame_strip_frames_the_current_step():
    frames = np.zeros((N, 16, 20, 3), np.uint8)
    w = np.full(N, 1.0 / N)
    fig = figures.frame_strip(frames, step=4, weights=w, weight_name="text-to-video attention")
    assert fig.data[0].type == "image" and fig.data[0].source.startswith("data:image/png;base64,")
    (rect,) = [s for s in fig.layout.shapes if s.type == "rect"]
    assert (rect.x0, rect.x1) == (3.5, 4.5)
    bar = fig.data[1]
    assert bar.marker.color[4] == figures.MARKER_COLOUR and bar.marker.color[0] != figures.MARKER_COLOUR
    assert _step_annotations(fig) == ["step 4"]
    assert "text-to-video attention" in fig.layout.title.text


def test_frame_strip_without_video_still_shows_weights():
    fig = figures.frame_strip(None, step=0, weights=np.full(N, 1.0 / N), weight_name="")
    assert [t.type for t in fig.data] == ["bar"]
    assert "no frame attention" in fig.layout.title.text


def test_frames_png_keeps_aspect():
    uri, tw = figures.frames_png(np.zeros((3, 30, 60, 3), np.uint8), height=40)
    assert tw == 80 and uri.startswith("data:image/png;base64,")


def test_answer_bars_name_prediction_and_truth():
    fig = figures.answer_bars(["red", "blue", "green"], [0.6, 0.3, 0.1], predicted="red", truth="blue",
                              value_name="probability", title="top")
    labels = list(fig.data[0].y)
    assert labels[-1] == "red  (predicted)"                       # best on top (last drawn)
    assert "blue  (truth)" in labels
    assert fig.layout.xaxis.title.text == "probability"


def test_count_figure_shows_raw_prediction_truth():
    fig = figures.count_figure(3.4, 3, 4)
    assert [t.name for t in fig.data] == ["raw output", "prediction", "truth"]
    assert fig.data[0].x[0] == 3.4


# ------------------------------------------------------------------------ Figure 1 (matplotlib)

def test_frame_and_word_weights_use_the_co_attention():
    tr = fake_trace(1).row(0)
    fw, src = fig1.frame_weights(tr)
    np.testing.assert_allclose(fw, tr.t2v_attn.mean(0), rtol=1e-5)
    assert src == "text-to-video attention" and abs(fw.sum() - 1) < 1e-6
    ww, wsrc = fig1.word_weights(tr, T)
    assert ww.shape == (T,) and abs(ww.sum() - 1) < 1e-6 and wsrc == "video-to-text attention"


def test_weights_fall_back_and_say_so_without_attention():
    tr = fake_trace(1, attention=False).row(0)
    fw, src = fig1.frame_weights(tr)
    assert src == "" and np.allclose(fw, 1.0 / N)
    ww, wsrc = fig1.word_weights(tr, T)
    assert wsrc == "" and np.allclose(ww, 1.0 / T)


def test_top_frames_are_in_time_order():
    assert fig1.top_frames(np.array([0.1, 0.5, 0.05, 0.3, 0.05]), 2) == [1, 3]
    assert fig1.top_frames(np.ones(3), 10) == [0, 1, 2]


def test_panel_data_defaults_to_the_predicted_row_and_top_frames():
    ex = fake_explanation("mc")
    d = fig1.panel_data(ex, question="what does it do ?", truth="spin", k=3, step=2)
    tr = ex.trace.row(ex.predicted_row)
    np.testing.assert_allclose(d.visual_read, tr.visual_read)
    assert d.chosen == fig1.top_frames(fig1.frame_weights(tr)[0], 3)
    assert d.words == ex.rows[ex.predicted_row] and d.step == 2
    d2 = fig1.panel_data(ex, question="q", chosen=[5, 0, 5])
    assert d2.chosen == [0, 5]
    with pytest.raises(UserError, match="step"):
        fig1.panel_data(ex, question="q", step=N)
    with pytest.raises(UserError, match="outside"):
        fig1.panel_data(ex, question="q", chosen=[99])


@pytest.mark.parametrize("kind", ["mc", "open", "count"])
def test_panel_renders_all_formats_deterministically(kind):
    ex = fake_explanation(kind)
    frames = np.random.default_rng(0).integers(0, 255, (N, 24, 24, 3), dtype=np.uint8)
    truth = {"mc": "spin", "open": "blue", "count": "3"}[kind]
    data = fig1.panel_data(ex, question="what is the red the ?", frames=frames, truth=truth, k=3, step=1, title=kind)
    out = {}
    for fmt in fig1.FORMATS:
        a = fig1.render(fig1.draw_panel(data), fmt)
        b = fig1.render(fig1.draw_panel(data), fmt)
        assert a == b, f"{fmt} differs between two renders of the same panel"
        out[fmt] = a
    assert out["png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert out["pdf"][:5] == b"%PDF-" and b"CreationDate" not in out["pdf"]
    assert out["svg"].lstrip().startswith(b"<?xml") and b"<dc:date>" not in out["svg"]


def test_panel_axes_show_frames_question_and_memory():
    ex = fake_explanation("open")
    data = fig1.panel_data(ex, question="what is the red the ?", truth="blue", k=2, step=4)
    fig = fig1.draw_panel(data)
    titles = [ax.get_title() for ax in fig.axes] + [ax.get_title(loc="left") for ax in fig.axes]
    assert any(t.startswith(f"t={data.chosen[0]}  w=") for t in titles)
    assert any("visual memory read weights" in t for t in titles)
    assert any("word weights (video-to-text attention)" in t for t in titles)
    assert any("truth: blue" in t and "✗ wrong" in t for t in titles)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert all(w in texts for w in ex.rows[0])
    (mem,) = [ax for ax in fig.axes if "visual memory" in ax.get_title()]
    assert mem.get_xlabel() == "step (frame)" and mem.get_ylabel() == "memory slot"
    assert any(np.allclose(line.get_xdata(), [4, 4]) for line in mem.get_lines())   # the step line


def test_panel_says_when_there_is_no_attention_or_video_file():
    ex = fake_explanation("open", attention=False)
    data = fig1.panel_data(ex, question="q", truth="red", k=2)
    fig = fig1.draw_panel(data)
    assert "no frame attention" in fig._suptitle.get_text()
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("no video file" in t for t in texts)


def test_render_refuses_unknown_format():
    fig = fig1.draw_panel(fig1.panel_data(fake_explanation("open"), question="q"))
    with pytest.raises(UserError, match="format"):
        fig1.render(fig, "jpg")
