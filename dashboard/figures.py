"""Pure figure builders for the dashboard: numpy in, plotly figure out, no ``st.*``.

Conventions every builder follows, so that a page (and a test) can rely on them:

- Axes are numeric positions with tick labels (frame indices, words, slot numbers):
  a question with the same word twice still gets two columns.
- The current step is marked by a line trace named :data:`STEP_TRACE` and an
  annotation whose text is :func:`step_text` (``"step K"``); the browser test reads that
  annotation from the DOM to see the marker move.
- Weights keep their own scale (``zmin=0``; read/write weights and attention rows sum to
  1), so two steps or two questions are compared on one footing.
"""
from __future__ import annotations

import base64
import io
from typing import Optional, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

STEP_TRACE = "step"
MARKER_COLOUR = "#ff2d55"
GATE_NAMES = ("retain", "write appearance", "write motion")   # mu_t columns, Eq. 9-10
MAX_TICKS = 40


def step_text(step: int) -> str:
    return f"step {int(step)}"


def _ticks(labels: Sequence[str]) -> dict:
    """Tick every position up to MAX_TICKS labels, else every k-th, never a guessed one."""
    n = len(labels)
    every = max(1, int(np.ceil(n / MAX_TICKS)))
    pos = list(range(0, n, every))
    return dict(tickmode="array", tickvals=pos, ticktext=[str(labels[i]) for i in pos])


def _layout(fig: go.Figure, *, title: str, height: int) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0.0, xanchor="left", font=dict(size=14)), height=height,
                      margin=dict(l=60, r=20, t=48, b=48), uirevision="keep")
    return fig


def _mark(fig: go.Figure, step: int, *, axis: str, extent: tuple[float, float], row=None, col=None,
          annotate: bool = True) -> None:
    """A line through position ``step`` of ``axis`` ("x": vertical line, "y": horizontal)."""
    lo, hi = extent
    xs, ys = ([step, step], [lo, hi]) if axis == "x" else ([lo, hi], [step, step])
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=STEP_TRACE, showlegend=False, hoverinfo="skip",
                             line=dict(color=MARKER_COLOUR, width=3, dash="dot")), row=row, col=col)
    if annotate:
        # Above a vertical line; at the left end of a horizontal one, inside the plot
        # (the right side belongs to the colour bar).
        pos = dict(x=step, y=1.0, yref="paper", yanchor="bottom") if axis == "x" else \
            dict(x=0.0, xref="paper", xanchor="left", y=step, yanchor="bottom", bgcolor="rgba(255,255,255,0.7)")
        fig.add_annotation(text=step_text(step), showarrow=False, font=dict(color=MARKER_COLOUR, size=12), **pos)


def heatmap(z: np.ndarray, *, x_labels: Sequence[str], y_labels: Sequence[str], x_title: str, y_title: str,
            title: str, step: Optional[int] = None, step_axis: str = "x", y_reversed: bool = False,
            zmax: Optional[float] = None, colorscale: str = "Viridis", value_name: str = "weight",
            height: int = 320, signed: bool = False) -> go.Figure:
    """``z`` (len(y_labels), len(x_labels)) as a heatmap; ``step`` marked on ``step_axis``.
    ``signed``: a diverging scale centred on zero (the affinity), else it starts at 0."""
    z = np.asarray(z, dtype=np.float32)
    if z.shape != (len(y_labels), len(x_labels)):
        raise ValueError(f"z has shape {z.shape}, labels give ({len(y_labels)}, {len(x_labels)})")
    hover = f"{x_title} %{{customdata[0]}}<br>{y_title} %{{customdata[1]}}<br>{value_name} %{{z:.4f}}<extra></extra>"
    custom = np.dstack(np.meshgrid(np.asarray(x_labels, dtype=object), np.asarray(y_labels, dtype=object)))
    top = zmax if zmax is not None else max(float(np.abs(z).max(initial=0.0) if signed else z.max(initial=0.0)), 1e-6)
    fig = go.Figure(go.Heatmap(z=z, x=np.arange(z.shape[1]), y=np.arange(z.shape[0]), colorscale=colorscale,
                               zmin=-top if signed else 0.0, zmax=top,
                               customdata=custom, hovertemplate=hover,
                               colorbar=dict(title=dict(text=value_name, side="right"), thickness=12)))
    fig.update_xaxes(title_text=x_title, **_ticks(x_labels))
    fig.update_yaxes(title_text=y_title, autorange="reversed" if y_reversed else True, **_ticks(y_labels))
    if step is not None:
        n = z.shape[1] if step_axis == "x" else z.shape[0]
        if not 0 <= step < n:
            raise ValueError(f"step {step} is outside 0..{n - 1}")
        other = z.shape[0] if step_axis == "x" else z.shape[1]
        _mark(fig, step, axis=step_axis, extent=(-0.5, other - 0.5))
    return _layout(fig, title=title, height=height)


# ---------------------------------------------------------------- memories over steps

def memory_over_steps(weights: np.ndarray, *, title: str, step: Optional[int] = None,
                      step_name: str = "frame", step_labels: Sequence[str] | None = None,
                      value_name: str = "weight", zmax: Optional[float] = None,
                      colorscale: str = "Viridis") -> go.Figure:
    """(steps, S) weights of a memory -> steps on x, slots on y (time reads left to right).
    Shared by the visual memory (steps = frames) and the textual memory (steps = words):
    the same picture, different steps."""
    w = np.asarray(weights)
    labels = list(step_labels) if step_labels is not None else [str(i) for i in range(w.shape[0])]
    return heatmap(w.T, x_labels=labels, y_labels=[str(i) for i in range(w.shape[1])], x_title=step_name,
                   y_title="memory slot", title=title, step=step, step_axis="x", value_name=value_name,
                   zmax=zmax, colorscale=colorscale)


def gates(mu: np.ndarray, *, step: Optional[int] = None, title: str = "gates μ: retain / write") -> go.Figure:
    """(N, 3) gates (a softmax: the three sum to 1 at every step) as stacked areas."""
    mu = np.asarray(mu, dtype=np.float32)
    if mu.ndim != 2 or mu.shape[1] != 3:
        raise ValueError(f"gates must be (N, 3), got {mu.shape}")
    x = np.arange(mu.shape[0])
    fig = go.Figure()
    colours = ("#636efa", "#ef553b", "#00cc96")
    for j, name in enumerate(GATE_NAMES):
        fig.add_trace(go.Scatter(x=x, y=mu[:, j], name=name, mode="lines", stackgroup="mu",
                                 line=dict(width=0.5, color=colours[j]),
                                 hovertemplate=f"frame %{{x}}<br>{name} %{{y:.3f}}<extra></extra>"))
    fig.update_xaxes(title_text="frame", **_ticks([str(i) for i in x]))
    fig.update_yaxes(title_text="gate", range=[0, 1])
    fig.update_layout(legend=dict(orientation="h", y=-0.3))
    if step is not None:
        _mark(fig, step, axis="x", extent=(0.0, 1.0))
    return _layout(fig, title=title, height=320)


# ------------------------------------------------------------------------ attention

def attention_map(z: np.ndarray, *, rows: Sequence[str], cols: Sequence[str], row_title: str, col_title: str,
                  title: str, step: Optional[int] = None, colorscale: str = "Blues",
                  value_name: str = "attention", signed: bool = False) -> go.Figure:
    """An attention map, rows = queries (top to bottom, as a matrix reads), cols = keys;
    ``step`` marks a query row (the current frame or word)."""
    return heatmap(z, x_labels=cols, y_labels=rows, x_title=col_title, y_title=row_title, title=title,
                   step=step, step_axis="y", y_reversed=True, colorscale=colorscale, value_name=value_name,
                   signed=signed, height=max(300, min(640, 110 + 16 * len(rows))))


# ------------------------------------------------------------------------- frames

def frames_png(frames: np.ndarray, height: int = 72) -> tuple[str, int]:
    """Frames (N, H, W, 3) uint8 side by side as a PNG data URI, and the width of one
    thumbnail in pixels. Thumbnails keep the aspect ratio."""
    from PIL import Image

    frames = np.asarray(frames, dtype=np.uint8)
    n, h, w = frames.shape[:3]
    tw = max(1, int(round(w * height / h)))
    strip = Image.new("RGB", (tw * n, height))
    for i, f in enumerate(frames):
        strip.paste(Image.fromarray(f).resize((tw, height), Image.BILINEAR), (i * tw, 0))
    buf = io.BytesIO()
    strip.save(buf, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), tw


def frame_strip(frames: Optional[np.ndarray], *, step: Optional[int], weights: np.ndarray,
                weight_name: str, n_frames: Optional[int] = None) -> go.Figure:
    """The sampled frames as one strip (when there are frames) above a bar per frame of
    its attention weight; the current step framed and marked. Frame i spans x in
    [i-0.5, i+0.5] in both rows, so a bar sits under its frame."""
    weights = np.asarray(weights, dtype=np.float32)
    n = len(weights) if n_frames is None else n_frames
    has_frames = frames is not None
    fig = make_subplots(rows=2 if has_frames else 1, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        row_heights=[0.55, 0.45] if has_frames else None)
    bar_row = 2 if has_frames else 1
    if has_frames:
        uri, tw = frames_png(frames)
        fig.add_trace(go.Image(source=uri, x0=-0.5 + 0.5 / tw, dx=1.0 / tw, y0=0.5 / tw, dy=1.0 / tw,
                               hoverinfo="skip"), row=1, col=1)
        fig.update_yaxes(visible=False, row=1, col=1)
        if step is not None:
            fig.add_shape(type="rect", x0=step - 0.5, x1=step + 0.5, y0=0, y1=72 / tw * 1.0,
                          line=dict(color=MARKER_COLOUR, width=4), row=1, col=1)
    colours = [MARKER_COLOUR if step is not None and i == step else "#7f8fa6" for i in range(n)]
    fig.add_trace(go.Bar(x=np.arange(n), y=weights, marker_color=colours, name=weight_name or "weight",
                         hovertemplate="frame %{x}<br>weight %{y:.4f}<extra></extra>", showlegend=False),
                  row=bar_row, col=1)
    fig.update_yaxes(title_text="weight", row=bar_row, col=1)
    fig.update_xaxes(title_text="frame", range=[-0.5, n - 0.5], row=bar_row, col=1,
                     **_ticks([str(i) for i in range(n)]))
    if step is not None:
        fig.add_annotation(text=step_text(step), x=step, y=1.0, yref="paper", yanchor="bottom", showarrow=False,
                           font=dict(color=MARKER_COLOUR, size=12))
    label = weight_name or "no frame attention in this variant (uniform)"
    return _layout(fig, title=f"frames and their attention ({label})", height=260 if has_frames else 200)


# ------------------------------------------------------------------------- answers

def answer_bars(labels: Sequence[str], values: Sequence[float], *, predicted: str, truth: Optional[str],
                value_name: str, title: str) -> go.Figure:
    """Horizontal bars, best on top; the prediction and the ground truth coloured and
    named in the hover and the tick label, so the verdict is readable without colour."""
    labels = [str(a) for a in labels]
    vals = np.asarray(values, dtype=np.float64)
    def tag(a: str) -> str:
        marks = (["predicted"] if a == predicted else []) + (["truth"] if truth is not None and a == truth else [])
        return f"{a}  ({', '.join(marks)})" if marks else a
    colours = ["#2a9d3a" if truth is not None and a == truth else ("#d62728" if a == predicted else "#9aa5b1")
               for a in labels]
    order = list(range(len(labels)))[::-1]
    fig = go.Figure(go.Bar(x=vals[order], y=[tag(labels[i]) for i in order], orientation="h",
                           marker_color=[colours[i] for i in order],
                           hovertemplate="%{y}<br>" + value_name + " %{x:.4f}<extra></extra>"))
    fig.update_xaxes(title_text=value_name)
    fig.update_yaxes(title_text="answer")
    return _layout(fig, title=title, height=max(220, 70 + 34 * len(labels)))


def count_figure(raw: float, prediction: int, truth: Optional[float], *, lo: int = 1, hi: int = 10) -> go.Figure:
    """The count head's raw output, its rounded+clamped prediction and the truth on one
    number line [lo, hi] (TGIF-QA Count's range)."""
    fig = go.Figure()
    points = [("raw output", raw, "#9aa5b1", "circle-open"), ("prediction", prediction, "#d62728", "diamond")]
    if truth is not None:
        points.append(("truth", truth, "#2a9d3a", "star"))
    for name, x, colour, symbol in points:
        fig.add_trace(go.Scatter(x=[x], y=[0], mode="markers+text", name=name, text=[f"{name} {x:.2f}" if name == "raw output" else f"{name} {x:g}"],
                                 textposition="top center", marker=dict(size=16, color=colour, symbol=symbol)))
    fig.update_xaxes(title_text="count", range=[min(lo, raw) - 0.7, max(hi, raw) + 0.7], dtick=1)
    fig.update_yaxes(visible=False, range=[-1, 1.5])
    fig.update_layout(showlegend=False)
    return _layout(fig, title="count: raw output, prediction (rounded, clamped to 1-10), truth", height=200)


# ------------------------------------------------------------------- attributions

def attribution_strips(strips: dict[str, np.ndarray], *, frames: Optional[np.ndarray] = None,
                       title: str = "attribution per frame", value_name: str = "attribution") -> go.Figure:
    """One heat strip per method, stacked under the sampled frames (when there are frames):
    frame i spans x in [i-0.5, i+0.5] in every row, so a cell sits under its frame.

    strips: name -> (N,) signed values (e.g. IG appearance, IG motion, occlusion). One
    diverging scale centred on zero for all rows: IG and occlusion are both in units of
    the explained score, so the rows compare on one footing."""
    names = list(strips)
    if not names:
        raise ValueError("no attribution strip to draw")
    vals = [np.asarray(strips[k], np.float32).reshape(-1) for k in names]
    n = vals[0].shape[0]
    if any(v.shape[0] != n for v in vals):
        raise ValueError(f"strips have different lengths: {[v.shape[0] for v in vals]}")
    has_frames = frames is not None
    rows = len(names) + (1 if has_frames else 0)
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=([1.6] if has_frames else []) + [1.0] * len(names))
    if has_frames:
        uri, tw = frames_png(frames)
        fig.add_trace(go.Image(source=uri, x0=-0.5 + 0.5 / tw, dx=1.0 / tw, y0=0.5 / tw, dy=1.0 / tw,
                               hoverinfo="skip"), row=1, col=1)
        fig.update_yaxes(visible=False, row=1, col=1)
    top = max(max(float(np.abs(v).max(initial=0.0)) for v in vals), 1e-9)
    first = 2 if has_frames else 1
    for k, (name, v) in enumerate(zip(names, vals)):
        fig.add_trace(go.Heatmap(z=v[None, :], x=np.arange(n), y=[name], coloraxis="coloraxis", name=name,
                                 hovertemplate=f"{name}<br>frame %{{x}}<br>{value_name} %{{z:.4g}}<extra></extra>"),
                      row=first + k, col=1)
    fig.update_layout(coloraxis=dict(colorscale="RdBu_r", cmin=-top, cmax=top,
                                     colorbar=dict(title=dict(text=value_name, side="right"), thickness=12)))
    fig.update_xaxes(range=[-0.5, n - 0.5])
    fig.update_xaxes(title_text="frame", row=rows, col=1, **_ticks([str(i) for i in range(n)]))
    return _layout(fig, title=title, height=(150 if has_frames else 60) + 70 * len(names))


def word_strip(words: Sequence[str], values: np.ndarray, *, title: str = "attribution per word",
               value_name: str = "attribution") -> go.Figure:
    """A 1×T heat strip over the words (positions on x, the word as tick label), the value
    written in each cell so the sign reads without the colour bar."""
    v = np.asarray(values, np.float32).reshape(-1)
    if v.shape[0] != len(words):
        raise ValueError(f"{v.shape[0]} values for {len(words)} words")
    top = max(float(np.abs(v).max(initial=0.0)), 1e-9)
    fig = go.Figure(go.Heatmap(z=v[None, :], x=np.arange(len(words)), y=[value_name], colorscale="RdBu_r",
                               zmin=-top, zmax=top, text=[[f"{x:.3g}" for x in v]], texttemplate="%{text}",
                               customdata=[list(words)],
                               hovertemplate="%{customdata}<br>" + value_name + " %{z:.4g}<extra></extra>",
                               colorbar=dict(title=dict(text=value_name, side="right"), thickness=12)))
    fig.update_xaxes(title_text="word", **_ticks(list(words)))
    fig.update_yaxes(visible=False)
    return _layout(fig, title=title, height=190)


# ------------------------------------------------------------------- comparisons

def compare_bars(a: np.ndarray, b: np.ndarray, *, names: tuple[str, str], labels: Sequence[str] | None = None,
                 x_title: str = "frame", value_name: str = "weight", title: str = "") -> go.Figure:
    """Two maps over the same positions (two checkpoints, or before/after an edit): grouped
    bars on top, the difference ``b - a`` below on a diverging colour."""
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"maps have different lengths: {a.shape[0]} and {b.shape[0]}")
    labels = [str(i) for i in range(a.shape[0])] if labels is None else [str(x) for x in labels]
    x = np.arange(a.shape[0])
    d = b - a
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.6, 0.4])
    for vals, name, colour in ((a, names[0], "#636efa"), (b, names[1], "#ef553b")):
        fig.add_trace(go.Bar(x=x, y=vals, name=name, marker_color=colour, customdata=labels,
                             hovertemplate=f"{name}<br>{x_title} %{{customdata}}<br>{value_name} %{{y:.4f}}<extra></extra>"),
                      row=1, col=1)
    fig.add_trace(go.Bar(x=x, y=d, name=f"{names[1]} − {names[0]}", customdata=labels, showlegend=True,
                         marker_color=["#d62728" if v > 0 else "#1f77b4" for v in d],
                         hovertemplate=f"{x_title} %{{customdata}}<br>difference %{{y:.4f}}<extra></extra>"),
                  row=2, col=1)
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.25))
    fig.update_yaxes(title_text=value_name, row=1, col=1)
    fig.update_yaxes(title_text="difference", row=2, col=1)
    fig.update_xaxes(title_text=x_title, row=2, col=1, **_ticks(labels))
    return _layout(fig, title=title, height=380)


def difference_map(diff: np.ndarray, *, rows: Sequence[str], cols: Sequence[str], row_title: str, col_title: str,
                   title: str) -> go.Figure:
    """A difference of two maps (after − before, or B − A) on a diverging scale centred on 0."""
    return attention_map(diff, rows=rows, cols=cols, row_title=row_title, col_title=col_title, title=title,
                         colorscale="RdBu_r", value_name="difference", signed=True)


def confusion_figure(counts, *, title: str = "confusion") -> go.Figure:
    """A confusion DataFrame (rows truth, columns prediction) as a heatmap, counts in cells."""
    z = np.asarray(counts.to_numpy(), np.float32)
    fig = heatmap(z, x_labels=[str(c) for c in counts.columns], y_labels=[str(i) for i in counts.index],
                  x_title="prediction", y_title="truth", title=title, y_reversed=True, colorscale="Blues",
                  value_name="questions", height=max(300, min(700, 120 + 22 * z.shape[0])))
    fig.update_traces(text=z.astype(int), texttemplate="%{text}", selector=dict(type="heatmap"))
    return fig


def memory_curve(points, *, metric: str, title: str = "loss against visual memory size (Figure 5)") -> go.Figure:
    """Figure 5's curve: the metric (mean ± std over seeds where there are several) against
    the visual memory's slots; the x axis is categorical-spaced on the sizes run."""
    x = [int(s) for s in points["visual_slots"]]
    std = [0.0 if (s != s) else float(s) for s in points["std"]]   # NaN (one seed): no bar
    fig = go.Figure(go.Scatter(x=x, y=points["mean"], mode="lines+markers", name=metric,
                               error_y=dict(type="data", array=std, visible=True),
                               customdata=np.asarray(points["seeds"]),
                               hovertemplate="S_v %{x}<br>" + metric + " %{y:.4f}<br>seeds %{customdata}<extra></extra>"))
    fig.update_xaxes(title_text="visual memory slots S_v", type="log", tickvals=x, ticktext=[str(v) for v in x])
    fig.update_yaxes(title_text=metric)
    return _layout(fig, title=title, height=340)
