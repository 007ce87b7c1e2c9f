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


def _step_lines(fig):
    """(axis, position) of every current-step marker line."""
    return [("x", sh.x0) if sh.x0 == sh.x1 and sh.xref[0] == "x" and "domain" not in sh.xref else ("y", sh.y0)
            for sh in fig.layout.shapes if sh.name == figures.STEP_MARK]


def _step_annotations(fig):
    return [a.text for a in fig.layout.annotations if a.text.startswith(("step ", "word "))]


def _panel_titles(fig):
    return [a.text for a in fig.layout.annotations if a.xref == "paper"]


def _axes(fig, title):
    """(trace, x axis, y axis) of the panel whose heatmap is named ``title``."""
    (trace,) = [t for t in fig.data if t.name == title]
    return trace, fig.layout[trace.xaxis.replace("x", "xaxis")], fig.layout[trace.yaxis.replace("y", "yaxis")]


def _visual(step=3, n=N):
    g = np.random.default_rng(1)
    w = [_softmax(g.normal(size=(n, S))) for _ in range(3)]
    return w, figures.visual_memory(*w, _softmax(g.normal(size=(n, 3))), np.abs(g.normal(size=(n, S))), step=step)


# ------------------------------------------------------------------------ plotly builders

VISUAL_TITLES = ["read weights β  [N×S]", "appearance write weights αᵃ  [N×S]", "motion write weights αᵐ  [N×S]",
                 "gates μ: retain / write", "memory contents: ‖M_t[slot]‖ after each step"]


def test_visual_memory_is_one_figure_with_every_panel_over_the_frames():
    (read, wa, wm), fig = _visual(step=3)
    assert _panel_titles(fig) == VISUAL_TITLES
    hm, x, y = _axes(fig, VISUAL_TITLES[0])
    assert np.asarray(hm.z).shape == (S, N)                       # slots x steps: time reads left to right
    np.testing.assert_allclose(np.asarray(hm.z), read.T, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(_axes(fig, VISUAL_TITLES[2])[0].z), wm.T, rtol=1e-6)
    assert y.title.text == "memory slot" and list(x.ticktext) == [str(i) for i in range(N)]
    assert _axes(fig, VISUAL_TITLES[4])[1].title.text == "frame"  # the bottom panel names the step axis
    for title in VISUAL_TITLES[:3] + VISUAL_TITLES[4:]:           # every panel labels its frame indices
        assert _axes(fig, title)[1].showticklabels is True
    gates = [t.name for t in fig.data if t.type == "scatter"]
    assert gates == list(figures.GATE_NAMES)
    assert _step_lines(fig) == [("x", 3)] * 5                     # a marker line in every panel
    assert _step_annotations(fig) == ["step 3"]                   # labelled once, at the top


def test_weights_share_a_colour_bar_and_norms_have_their_own():
    _, fig = _visual()
    read, _, _ = _axes(fig, VISUAL_TITLES[0])
    norm, _, _ = _axes(fig, VISUAL_TITLES[4])
    assert read.coloraxis == _axes(fig, VISUAL_TITLES[1])[0].coloraxis == _axes(fig, VISUAL_TITLES[2])[0].coloraxis
    assert norm.coloraxis != read.coloraxis
    assert fig.layout[read.coloraxis].cmin == 0.0
    assert fig.layout[read.coloraxis].cmax == pytest.approx(max(float(np.max(_axes(fig, t)[0].z))
                                                                for t in VISUAL_TITLES[:3]))


def test_marker_moves_with_the_step():
    _, a = _visual(step=1)
    _, b = _visual(step=4)
    assert set(_step_lines(a)) == {("x", 1)} and set(_step_lines(b)) == {("x", 4)}
    assert _step_annotations(b) == ["step 4"]
    _, none = _visual(step=None)
    assert not _step_lines(none) and not _step_annotations(none)


def test_step_outside_the_steps_is_refused():
    with pytest.raises(ValueError, match="outside"):
        _visual(step=N)


def _axis_layouts(fig):
    return {k: fig.layout[k] for k in fig.layout.to_plotly_json() if k.startswith(("xaxis", "yaxis"))}


def test_panels_stack_top_to_bottom_and_keep_their_margins():
    _, fig = _visual()
    tops = [fig.layout[t.yaxis.replace("y", "yaxis")].domain for t in fig.data if t.type == "heatmap"]
    assert all(a[0] > b[1] for a, b in zip(tops, tops[1:]))       # in order, apart, none overlapping
    assert all(ax.automargin is False for ax in _axis_layouts(fig).values())   # indices fit the margins
    words = figures.text_memory(np.full((3, ST), 1 / ST), np.full((3, ST), 1 / ST), np.ones((3, ST)),
                                words=["a", "long", "question"], word=0)
    margins = {k: ax.automargin for k, ax in _axis_layouts(words).items()}
    assert {k for k, v in margins.items() if v} == {"xaxis", "xaxis2", "xaxis3"}   # words may push them


def test_heatmap_checks_labels_against_shape():
    with pytest.raises(ValueError, match="labels"):
        figures.heatmap(np.ones((2, 3)), x_labels=["a", "b"], y_labels=["0", "1"], x_title="x", y_title="y", title="t")


def test_text_memory_keeps_repeated_words_as_separate_columns_and_marks_the_word():
    words = ["what", "is", "the", "red", "the"]
    g = np.random.default_rng(4)
    fig = figures.text_memory(_softmax(g.normal(size=(5, ST))), _softmax(g.normal(size=(5, ST))),
                              np.abs(g.normal(size=(5, ST))), words=words, word=2)
    assert _panel_titles(fig)[0].startswith("read weights βᵠ") and len(_panel_titles(fig)) == 3
    _, x, _ = _axes(fig, _panel_titles(fig)[0])
    assert list(x.ticktext) == words                              # both "the" columns present
    assert _axes(fig, _panel_titles(fig)[2])[1].title.text == "word"
    assert _step_lines(fig) == [("x", 2)] * 3 and _step_annotations(fig) == ["word 2"]


def _maps(attention=True):
    tr = fake_trace(attention=attention).row(0)
    return figures.attention_maps({k: getattr(tr, k) for k in ("video_self_attn", "text_self_attn", "affinity",
                                                                "v2t_attn", "t2v_attn")},
                                  n_frames=N, words=["a", "b", "c", "d", "e"], step=2, word=1)


def test_attention_maps_rows_are_queries_top_to_bottom_with_the_current_row_marked():
    maps = _maps()
    assert [m.title.split("  ")[0] for m in maps] == ["video self-attention", "text self-attention",
                                                      "video-to-text co-attention (A)",
                                                      "text-to-video co-attention (Bv)", "affinity Sm"]
    fig = figures.attention_figure(maps)
    assert _panel_titles(fig) == [m.title for m in maps]
    hm, x, y = _axes(fig, maps[2].title)                          # video-to-text: frames x words
    assert np.asarray(hm.z).shape == (N, T)                       # cut to the T real words
    assert y.autorange == "reversed" and y.title.text == "frame"
    assert list(x.ticktext) == ["a", "b", "c", "d", "e"] and x.title.text == "word"
    assert list(_axes(fig, maps[0].title)[1].ticktext) == [str(i) for i in range(N)]
    assert _step_lines(fig) == [("y", 2), ("y", 1), ("y", 2), ("y", 2), ("y", 2)]   # the text row is the word
    assert sorted(_step_annotations(fig)) == ["step 2"] * 4 + ["word 1"]


def test_affinity_is_signed_on_its_own_row_and_colour_bar():
    maps = _maps()
    fig = figures.attention_figure(maps)
    aff, _, _ = _axes(fig, maps[-1].title)
    soft, _, _ = _axes(fig, maps[0].title)
    assert aff.coloraxis != soft.coloraxis
    assert fig.layout[aff.coloraxis].cmin == -fig.layout[aff.coloraxis].cmax
    assert fig.layout[soft.coloraxis].cmin == 0.0
    assert aff.xaxis not in {t.xaxis for t in fig.data if t is not aff} and aff.xaxis == "x5"
    rows = [tuple(fig.layout[t.yaxis.replace("y", "yaxis")].domain) for t in fig.data]
    assert rows.count(rows[-1]) == 1 and rows[-1][0] == 0.0       # the bottom row holds the affinity alone
    # each colour bar right beside the last panel of its rows: the affinity's beside it,
    # left of the second column, not at the figure's right edge
    aff_right = fig.layout[aff.xaxis.replace("x", "xaxis")].domain[1]
    assert fig.layout[aff.coloraxis].colorbar.x == pytest.approx(aff_right + 0.01) and aff_right < 0.5
    assert fig.layout[soft.coloraxis].colorbar.x == pytest.approx(1.01)


def test_a_variant_without_attention_has_no_map():
    assert _maps(attention=False) == []
    with pytest.raises(ValueError, match="no attention map"):
        figures.attention_figure([])


def test_signed_heatmap_is_centred_on_zero():
    z = np.array([[-2.0, 1.0], [0.5, 0.0]])
    fig = figures.attention_map(z, rows=["0", "1"], cols=["a", "b"], row_title="frame", col_title="word",
                                title="affinity", signed=True)
    assert fig.data[0].zmin == -2.0 and fig.data[0].zmax == 2.0
    assert fig.layout.yaxis.autorange == "reversed"


def test_many_frames_get_every_fifth_index_and_words_stay_all():
    _, fig = _visual(step=20, n=35)
    ticks = list(_axes(fig, VISUAL_TITLES[0])[1].tickvals)
    assert ticks == list(range(0, 35, 5))
    assert [str(v) for v in ticks] == list(_axes(fig, VISUAL_TITLES[0])[1].ticktext)
    many = [f"w{i}" for i in range(30)]
    fig = figures.heatmap(np.ones((2, 30)), x_labels=many, y_labels=["0", "1"], x_title="word", y_title="slot",
                          title="t")
    assert list(fig.layout.xaxis.ticktext) == many
    fig = figures.heatmap(np.ones((2, 100)), x_labels=[str(i) for i in range(100)], y_labels=["0", "1"],
                          x_title="frame", y_title="slot", title="t")
    assert len(fig.layout.xaxis.tickvals) <= figures.FRAME_TICKS and fig.layout.xaxis.tickvals[1] == 10


def test_gates_must_be_three_columns():
    with pytest.raises(ValueError, match="gates"):
        figures.steps_figure([figures.Gates("g", np.ones((N, 2)))], step=0, step_name="frame",
                             step_labels=[str(i) for i in range(N)])


def test_enlarge_scales_small_frames_by_a_whole_factor():
    frame = np.arange(32 * 40 * 3, dtype=np.uint8).reshape(32, 40, 3)
    big = figures.enlarge(frame, side=256)
    assert big.shape == (256, 320, 3) and (big[:8, :8] == frame[0, 0]).all()
    assert figures.enlarge(np.zeros((300, 400, 3), np.uint8)).shape == (300, 400, 3)


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


def test_frame_strip_takes_the_strip_already_encoded():
    frames = np.zeros((N, 16, 20, 3), np.uint8)
    png = figures.frames_png(frames)
    fig = figures.frame_strip(frames, step=0, weights=np.full(N, 1.0 / N), weight_name="", png=png)
    assert fig.data[0].source == png[0]


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
    # labels never overlap: the raw output's goes below; a correct count splits the other two
    assert [t.textposition for t in fig.data] == ["bottom center", "top center", "top center"]
    right = figures.count_figure(3.2, 3, 3)
    assert [t.textposition for t in right.data] == ["bottom center", "top left", "top right"]


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
