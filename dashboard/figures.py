"""Pure figure builders for the dashboard: numpy in, plotly figure out, no ``st.*``.

Conventions every builder follows, so that a page (and a test) can rely on them:

- Axes are numeric positions with tick labels (frame indices, words, slot numbers):
  a question with the same word twice still gets two columns. Frame indices are labelled
  every 5th (or 2nd, 10th, ...) once there are more than :data:`FRAME_TICKS` of them.
- The inspector draws each section as ONE figure of several panels: the browser pays a
  fixed cost per chart, so five maps in one chart draw in about the time of two. A panel's
  title is a subplot title (a layout annotation, not ``layout.title``) and its heatmap
  trace carries the same text as ``name``.
- Figures are built as plain dicts and validated once (:func:`_figure`), and the
  inspector's axes of indices do not push the margins (``automargin``): the browser
  redraws a figure from scratch (twice: Streamlit re-themes a chart once it is drawn) at
  every step and every question, and that drawing is most of the time a step takes.
- The current step is a dotted line shape named :data:`STEP_MARK` in every panel, with
  an annotation whose text is :func:`step_text` (``"step K"``, ``"word K"`` for the word
  step); the browser test reads that annotation from the DOM to see the marker move.
- Weights keep their own scale (``zmin=0``; read/write weights and attention rows sum to
  1); the maps of one figure that hold the same kind of value share one colour axis, so
  two panels, steps or questions compare on one footing.
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import plotly.graph_objects as go

STEP_MARK = "step"
MARKER_COLOUR = "#ff2d55"
GATE_NAMES = ("retain", "write appearance", "write motion")   # mu_t columns, Eq. 9-10
GATE_COLOURS = ("#636efa", "#ef553b", "#00cc96")
MAX_TICKS = 40          # words: every one is labelled up to this many
FRAME_TICKS = 12        # frame indices: beyond this many, every k-th (k in 2, 5, 10, ...)
_TICK_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

# Colour axis per kind of value: (colour scale, centred on zero, colour-bar title).
SCALES = {
    "weight": ("Viridis", False, "weight"),
    "norm": ("Magma", False, "norm"),
    "attention": ("Blues", False, "attention"),
    "affinity": ("RdBu_r", True, "affinity"),
}


def step_text(step: int, name: str = "step") -> str:
    return f"{name} {int(step)}"


def index_labels(n: int) -> list[str]:
    return [str(i) for i in range(n)]


def _ticks(labels: Sequence[str]) -> dict:
    """Tick labels that are true to their position: every one for a short axis, else every
    k-th. Index axes (frames, slots) thin out sooner than word axes."""
    n = len(labels)
    most = FRAME_TICKS if list(labels) == index_labels(n) else MAX_TICKS
    every = next((k for k in _TICK_STEPS if -(-n // k) <= most), _TICK_STEPS[-1])
    pos = list(range(0, n, every))
    return dict(tickmode="array", tickvals=pos, ticktext=[str(labels[i]) for i in pos])


MARGIN = dict(l=60, r=20, t=48, b=48)


def _frame(title: str, height: int, **margin: int) -> dict:
    """The layout keys every figure has: a left-aligned title, its height, its margins
    (:data:`MARGIN` where not given)."""
    return dict(title=dict(text=title, x=0.0, xanchor="left", font=dict(size=14)), height=height,
                margin={**MARGIN, **margin}, uirevision="keep")


def _figure(traces: list[dict], layout: dict) -> go.Figure:
    """The figure from plain trace and layout dicts, validated once. Plotly validates every
    ``add_*``/``update_*`` call on its own: the visual memory built call by call took
    0.1 s, a fifth of that in one go."""
    return go.Figure(data=traces, layout=layout)


# An axis that does not push the margins: its figure's margins already hold its tick
# labels and title (and the colour bars). An axis with ``automargin`` makes plotly.js draw
# the figure twice, half the drawing time of the visual memory.
FIXED = dict(automargin=False)


def _fit(labels: Sequence[str]) -> dict:
    """Indices fit the fixed margins; words have any length, so their axis may push them."""
    return FIXED if list(labels) == index_labels(len(labels)) else dict(automargin=True)


def _hover(x_title: str, y_title: str, value_name: str, custom: bool) -> str:
    """Positions in the hover where the labels are the positions, the labels otherwise."""
    x, y = ("%{customdata[0]}", "%{customdata[1]}") if custom else ("%{x}", "%{y}")
    return f"{x_title} {x}<br>{y_title} {y}<br>{value_name} %{{z:.4f}}<extra></extra>"


def heatmap(z: np.ndarray, *, x_labels: Sequence[str], y_labels: Sequence[str], x_title: str, y_title: str,
            title: str, y_reversed: bool = False, zmax: Optional[float] = None, colorscale: str = "Viridis",
            value_name: str = "weight", height: int = 320, signed: bool = False,
            cells: Optional[np.ndarray] = None) -> go.Figure:
    """``z`` (len(y_labels), len(x_labels)) as a one-map figure.
    ``signed``: a diverging scale centred on zero (a difference), else it starts at 0.
    ``cells``: what to write in each cell (z's shape), if anything."""
    z = _checked(z, x_labels, y_labels)
    top = zmax if zmax is not None else _top([z], signed)
    trace = dict(type="heatmap", z=z, x=np.arange(z.shape[1]), y=np.arange(z.shape[0]), colorscale=colorscale,
                 zmin=-top if signed else 0.0, zmax=top, **_custom(x_labels, y_labels),
                 hovertemplate=_hover(x_title, y_title, value_name, _has_words(x_labels, y_labels)),
                 colorbar=dict(title=dict(text=value_name, side="right"), thickness=12),
                 **({} if cells is None else dict(text=cells, texttemplate="%{text}")))
    return _figure([trace], dict(_frame(title, height),
                                 xaxis=dict(title=dict(text=x_title), **_ticks(x_labels)),
                                 yaxis=dict(title=dict(text=y_title), autorange="reversed" if y_reversed else True,
                                            **_ticks(y_labels))))


def _checked(z, x_labels, y_labels) -> np.ndarray:
    z = np.asarray(z, dtype=np.float32)
    if z.shape != (len(y_labels), len(x_labels)):
        raise ValueError(f"z has shape {z.shape}, labels give ({len(y_labels)}, {len(x_labels)})")
    return z


def _top(zs, signed: bool) -> float:
    """The colour range's upper end over maps ``zs`` (at least a hair above 0)."""
    return max(max(float((np.abs(z) if signed else z).max(initial=0.0)) for z in zs), 1e-6)


def _has_words(x_labels, y_labels) -> bool:
    return list(x_labels) != index_labels(len(x_labels)) or list(y_labels) != index_labels(len(y_labels))


def _custom(x_labels, y_labels) -> dict:
    """Per-cell (x label, y label) for the hover, only where a label is not its position."""
    if not _has_words(x_labels, y_labels):
        return {}
    return dict(customdata=np.dstack(np.meshgrid(np.asarray(x_labels, dtype=object),
                                                 np.asarray(y_labels, dtype=object))))


# ------------------------------------------------------------ multi-panel figures

@dataclass(frozen=True)
class Map:
    """One heatmap panel: ``z`` (len(y_labels), len(x_labels)), its axes, and the step it
    marks: a column (``step_axis`` "x", time read left to right) or a row ("y", a query)."""
    title: str
    z: np.ndarray
    x_labels: Sequence[str]
    y_labels: Sequence[str]
    x_title: str
    y_title: str
    scale: str = "weight"                 # a key of SCALES; maps of one scale share a colour bar
    step: Optional[int] = None
    step_axis: str = "x"
    step_name: str = "step"               # the marker reads "<step_name> K"
    y_reversed: bool = False


@dataclass(frozen=True)
class Gates:
    """The (steps, 3) gates μ (a softmax per step, Eq. 9-10) as stacked areas."""
    title: str
    mu: np.ndarray


@dataclass(frozen=True)
class _Cell:
    """One panel of a grid: its axes ("x2", "y2") and their domains in paper coordinates."""
    x: str
    y: str
    x_domain: tuple[float, float]
    y_domain: tuple[float, float]


class _Panels:
    """A grid figure being built: cells laid out like make_subplots lays them out (axes
    numbered row by row), traces, shapes and annotations collected as plain dicts until
    :meth:`figure` validates them all at once."""

    def __init__(self, heights_px: Sequence[float], titles: Sequence[Sequence[str]], *, gap_px: float,
                 margin: dict, h_gap: float = 0.12, title: str = ""):
        """``titles[r]``: the titles of row r's panels, left to right (rows may be short;
        "" for none); rows are ``heights_px`` tall with ``gap_px`` between them (room for a
        title and tick labels); ``h_gap``: the gap between columns, a fraction of the
        width; ``title``: the figure's own."""
        cols = max(len(row) for row in titles)
        top, bottom = margin["t"], margin["b"]
        area = float(sum(heights_px) + gap_px * (len(heights_px) - 1))
        self.height = round(area + top + bottom)
        width = (1.0 - h_gap * (cols - 1)) / cols
        self.cells: list[list[_Cell]] = []
        self.layout: dict = _frame(title, self.height, **margin)
        self.traces: list[dict] = []
        self.shapes: list[dict] = []
        self.annotations: list[dict] = []
        y_top = 0.0
        for r, (h, row) in enumerate(zip(heights_px, titles)):
            y_domain = (max(0.0, 1.0 - (y_top + h) / area), 1.0 - y_top / area)
            y_top += h + gap_px
            cells = []
            for c, name in enumerate(row):
                k = sum(len(t) for t in titles[:r]) + c + 1
                x_domain = (c * (width + h_gap), c * (width + h_gap) + width)
                cell = _Cell(f"x{k if k > 1 else ''}", f"y{k if k > 1 else ''}", x_domain, y_domain)
                cells.append(cell)
                self.layout[_axis_key(cell.x)] = dict(anchor=cell.y, domain=list(x_domain))
                self.layout[_axis_key(cell.y)] = dict(anchor=cell.x, domain=list(y_domain))
                if name:
                    # A subplot title sits left-aligned over its panel, like a figure title.
                    self.annotations.append(dict(text=name, x=x_domain[0], xref="paper", xanchor="left",
                                                 y=y_domain[1], yref="paper", yanchor="bottom", showarrow=False,
                                                 font=dict(size=13)))
            self.cells.append(cells)

    def axes(self, cell: _Cell, *, x: dict, y: dict) -> None:
        self.layout[_axis_key(cell.x)].update(x)
        self.layout[_axis_key(cell.y)].update(y)

    def share_x(self, **x) -> None:
        """One x axis down a one-column grid, as make_subplots' ``shared_xaxes``: zooming one
        panel zooms them all. Every x axis matches the bottom one and gets ``x``."""
        bottom = self.cells[-1][0].x
        for (cell,) in self.cells:
            self.layout[_axis_key(cell.x)].update(x, **({"matches": bottom} if cell.x != bottom else {}))

    def figure(self) -> go.Figure:
        return _figure(self.traces, dict(self.layout, shapes=self.shapes, annotations=self.annotations))


def _split(area: float, weights: Sequence[float], spacing: float) -> tuple[list[float], float]:
    """(row heights, gap) in pixels of rows of relative heights ``weights`` over ``area``
    pixels, ``spacing`` (a fraction of the area) between rows, as make_subplots splits."""
    gap = spacing * area if len(weights) > 1 else 0.0
    free = area - gap * (len(weights) - 1)
    return [free * w / sum(weights) for w in weights], gap


def _frames_row(p: _Panels, cell: _Cell, frames: np.ndarray, png: Optional[tuple[str, int]] = None) -> int:
    """The frames as one image in a panel, frame i over x in [i-0.5, i+0.5] like the rows
    below it; returns the width of one thumbnail in pixels."""
    uri, tw = png or frames_png(frames)
    p.traces.append(dict(type="image", source=uri, x0=-0.5 + 0.5 / tw, dx=1.0 / tw, y0=0.5 / tw, dy=1.0 / tw,
                         hoverinfo="skip", xaxis=cell.x, yaxis=cell.y))
    p.axes(cell, x=dict(showticklabels=False), y=dict(visible=False))
    return tw


def _axis_key(ref: str) -> str:
    """"x2" -> "xaxis2": the layout key of an axis reference."""
    return ref[0] + "axis" + ref[1:]


def _mark(p: _Panels, cell: _Cell, step: int, *, axis: str, label: Optional[str]) -> None:
    """The current step as a dotted line across one panel (a shape: no trace to hover),
    labelled inside the panel: at the top of a vertical line, at the left of a horizontal one
    (the right side belongs to the colour bar)."""
    line = dict(color=MARKER_COLOUR, width=3, dash="dot")
    if axis == "x":
        p.shapes.append(dict(type="line", name=STEP_MARK, x0=step, x1=step, xref=cell.x, y0=0, y1=1,
                             yref=f"{cell.y} domain", line=line))
        pos = dict(x=step, xref=cell.x, y=1.0, yref=f"{cell.y} domain", yanchor="top")
    else:
        p.shapes.append(dict(type="line", name=STEP_MARK, y0=step, y1=step, yref=cell.y, x0=0, x1=1,
                             xref=f"{cell.x} domain", line=line))
        pos = dict(x=0.0, xref=f"{cell.x} domain", xanchor="left", y=step, yref=cell.y, yanchor="bottom")
    if label:
        p.annotations.append(dict(text=label, showarrow=False, font=dict(color=MARKER_COLOUR, size=12),
                                  bgcolor="rgba(255,255,255,0.75)", **pos))


def _check_step(m: Map, z: np.ndarray) -> None:
    n = z.shape[1] if m.step_axis == "x" else z.shape[0]
    if not 0 <= m.step < n:
        raise ValueError(f"{m.title}: step {m.step} is outside 0..{n - 1}")


def _add_map(p: _Panels, cell: _Cell, m: Map, *, coloraxis: str, x_title: bool = True) -> None:
    z = _checked(m.z, m.x_labels, m.y_labels)
    p.traces.append(dict(type="heatmap", z=z, x=np.arange(z.shape[1]), y=np.arange(z.shape[0]), name=m.title,
                         xaxis=cell.x, yaxis=cell.y, coloraxis=coloraxis, **_custom(m.x_labels, m.y_labels),
                         hovertemplate=_hover(m.x_title, m.y_title, SCALES[m.scale][2],
                                              _has_words(m.x_labels, m.y_labels))))
    p.axes(cell, x=dict(title=dict(text=m.x_title if x_title else None, standoff=4), showticklabels=True,
                        **_ticks(m.x_labels), **_fit(m.x_labels)),
           y=dict(title=dict(text=m.y_title), autorange="reversed" if m.y_reversed else True, **_ticks(m.y_labels),
                  **_fit(m.y_labels)))
    if m.step is not None:
        _check_step(m, z)
        _mark(p, cell, m.step, axis=m.step_axis, label=step_text(m.step, m.step_name))


def _colour_axes(maps: Sequence[Map]) -> dict[str, str]:
    """scale -> the figure's colour axis for it ("coloraxis", "coloraxis2", ...), in the
    order the scales first appear among ``maps``."""
    scales = list(dict.fromkeys(m.scale for m in maps))
    return {k: "coloraxis" if i == 0 else f"coloraxis{i + 1}" for i, k in enumerate(scales)}


def _colour_bars(p: _Panels, maps: Sequence[Map], rows: dict[str, list[int]]) -> None:
    """One colour bar per scale, beside the rows ``rows[scale]`` (0-based), right of the
    last panel of those rows (a map alone in its row keeps its bar next to it, not at the
    far edge); its range covers every map of that scale (read and write weights on one
    footing)."""
    for scale, axis in _colour_axes(maps).items():
        colours, signed, name = SCALES[scale]
        top = _top([np.asarray(m.z, np.float32) for m in maps if m.scale == scale], signed)
        domains = [p.cells[r][0].y_domain for r in rows[scale]]
        lo, hi = min(d[0] for d in domains), max(d[1] for d in domains)
        right = max(p.cells[r][-1].x_domain[1] for r in rows[scale])
        p.layout[axis] = dict(colorscale=colours, cmin=-top if signed else 0.0, cmax=top,
                              colorbar=dict(title=dict(text=name, side="right"), thickness=12, len=hi - lo,
                                            y=(lo + hi) / 2, yanchor="middle", x=right + 0.01))


# The margins of a grid figure: a colour bar and its title right of the panels, tick
# labels and axis titles left of and below them.
GRID_MARGIN = dict(l=72, r=140, t=36, b=58)


def _map_height(rows: int, *, lo: int, hi: int, per_row: float, base: int) -> float:
    return float(max(lo, min(hi, base + per_row * rows)))


def steps_figure(panels: Sequence[Map | Gates], *, step: Optional[int], step_name: str,
                 step_labels: Sequence[str], marker_name: str = "step") -> go.Figure:
    """Panels over the same steps (frames or words) stacked in one column, steps on x
    (time reads left to right, a step lines up down the column), the step marked in every
    panel and labelled once, in the top one. Shared by the visual memory (steps = frames)
    and the textual memory (steps = words): the same picture, different steps."""
    n = len(step_labels)
    if step is not None and not 0 <= step < n:
        raise ValueError(f"step {step} is outside 0..{n - 1}")
    heights = [130.0 if isinstance(p, Gates) else _map_height(len(p.y_labels), lo=110, hi=220, per_row=14, base=40)
               for p in panels]
    grid = _Panels(heights, [[p.title] for p in panels], gap_px=64, margin=GRID_MARGIN)
    grid.layout["showlegend"] = False
    maps = [p for p in panels if isinstance(p, Map)]
    axes = _colour_axes(maps)
    rows: dict[str, list[int]] = {}
    for r, (p, (cell,)) in enumerate(zip(panels, grid.cells)):
        if isinstance(p, Gates):
            _add_gates(grid, cell, p, step_name=step_name, step_labels=step_labels)
        else:
            if np.shape(p.z)[1] != n:
                raise ValueError(f"{p.title}: {np.shape(p.z)[1]} steps, the axis has {n}")
            rows.setdefault(p.scale, []).append(r)
            _add_map(grid, cell, p, coloraxis=axes[p.scale], x_title=r == len(panels) - 1)
        if step is not None:
            _mark(grid, cell, step, axis="x", label=step_text(step, marker_name) if r == 0 else None)
    grid.share_x(range=[-0.5, n - 0.5])
    _colour_bars(grid, maps, rows)
    return grid.figure()


def _add_gates(p: _Panels, cell: _Cell, g: Gates, *, step_name: str, step_labels: Sequence[str]) -> None:
    mu = np.asarray(g.mu, dtype=np.float32)
    if mu.ndim != 2 or mu.shape[1] != 3:
        raise ValueError(f"gates must be (N, 3), got {mu.shape}")
    x = np.arange(mu.shape[0])
    for j, name in enumerate(GATE_NAMES):
        p.traces.append(dict(type="scatter", x=x, y=mu[:, j], name=name, mode="lines", stackgroup="mu",
                             line=dict(width=0.5, color=GATE_COLOURS[j]), xaxis=cell.x, yaxis=cell.y,
                             hovertemplate=f"{step_name} %{{x}}<br>{name} %{{y:.3f}}<extra></extra>"))
    p.axes(cell, x=dict(showticklabels=True, **_ticks(step_labels), **FIXED),
           y=dict(title=dict(text="gate"), range=[0, 1], **FIXED))
    # The gate names, in their colours, where a legend would crowd the colour bars.
    names = " · ".join(f'<span style="color:{c}">■ {n}</span>' for n, c in zip(GATE_NAMES, GATE_COLOURS))
    p.annotations.append(dict(text=names, showarrow=False, x=1.0, xref=f"{cell.x} domain", xanchor="right", y=1.0,
                              yref=f"{cell.y} domain", yanchor="bottom", font=dict(size=11)))


def visual_memory(read: np.ndarray, write_app: np.ndarray, write_mot: np.ndarray, gates_mu: np.ndarray,
                  norms: np.ndarray, *, step: Optional[int]) -> go.Figure:
    """The visual memory over the frames (Eq. 1-10) in one figure: read weights β,
    appearance/motion write weights αᵃ/αᵐ (each (N, S)), gates μ (N, 3) and the slot
    norms ‖M_t‖ after each step (N, S)."""
    n, s = np.asarray(read).shape
    fr, slots = index_labels(n), index_labels(s)

    def m(title, w, scale="weight"):
        return Map(title, np.asarray(w).T, fr, slots, "frame", "memory slot", scale=scale)
    return steps_figure([m("read weights β  [N×S]", read), m("appearance write weights αᵃ  [N×S]", write_app),
                         m("motion write weights αᵐ  [N×S]", write_mot), Gates("gates μ: retain / write", gates_mu),
                         m("memory contents: ‖M_t[slot]‖ after each step", norms, "norm")],
                        step=step, step_name="frame", step_labels=fr)


def text_memory(read: np.ndarray, write: np.ndarray, norms: np.ndarray, *, words: Sequence[str],
                word: Optional[int]) -> go.Figure:
    """The textual memory over the question's words (Eq. 11-16) in one figure: read βᵠ,
    write α (each (T, S)) and the slot norms ‖Mᵠ_t‖ after each word (T, S)."""
    words = [str(w) for w in words]
    slots = index_labels(np.asarray(read).shape[1])

    def m(title, w, scale="weight"):
        return Map(title, np.asarray(w).T, words, slots, "word", "memory slot", scale=scale)
    return steps_figure([m("read weights βᵠ  [T×S]", read), m("write weights α  [T×S]", write),
                         m("memory contents: ‖Mᵠ_t[slot]‖ after each word", norms, "norm")],
                        step=word, step_name="word", step_labels=words, marker_name="word")


def attention_maps(maps: dict[str, Optional[np.ndarray]], *, n_frames: int, words: Sequence[str], step: int,
                   word: int) -> list[Map]:
    """The self-/co-attention maps (Eq. 17-22) that a variant has, as panels; ``maps`` holds
    the trace's fields (None where the variant lacks the part), cut to N frames and T words.
    Rows are queries (top to bottom, as a matrix reads); the marked row is the current
    frame (or word, for text self-attention)."""
    words = [str(w) for w in words]
    fr = index_labels(n_frames)
    specs = {
        "video_self_attn": ("video self-attention  [N×N]", fr, fr, "query frame", "key frame", "attention", "step"),
        "text_self_attn": ("text self-attention  [T×T]", words, words, "query word", "key word", "attention", "word"),
        "v2t_attn": ("video-to-text co-attention (A)  [N×T]", fr, words, "frame", "word", "attention", "step"),
        "t2v_attn": ("text-to-video co-attention (Bv)  [N×N]", fr, fr, "query frame", "key frame", "attention",
                     "step"),
        "affinity": ("affinity Sm  [N×T]", fr, words, "frame", "word", "affinity", "step"),
    }
    out = []
    for key, (title, rows, cols, row_title, col_title, scale, name) in specs.items():
        if maps.get(key) is None:
            continue
        out.append(Map(title, np.asarray(maps[key])[:len(rows), :len(cols)], cols, rows, col_title, row_title,
                       scale=scale, step=word if name == "word" else step, step_axis="y", step_name=name,
                       y_reversed=True))
    return out


def attention_figure(maps: Sequence[Map], *, cols: int = 2) -> go.Figure:
    """Attention maps in a grid of ``cols`` columns, each with its own axes and marked
    query row. Softmax maps share one colour bar; a signed map (the affinity) starts a row
    of its own so that its colour bar sits beside it alone."""
    if not maps:
        raise ValueError("no attention map to draw")
    rows_of_maps: list[list[Map]] = []
    for m in maps:
        if (not rows_of_maps or len(rows_of_maps[-1]) == cols or SCALES[m.scale][1]
                or SCALES[rows_of_maps[-1][-1].scale][1]):
            rows_of_maps.append([])
        rows_of_maps[-1].append(m)
    heights = [max(_map_height(len(m.y_labels), lo=220, hi=420, per_row=10, base=80) for m in row)
               for row in rows_of_maps]
    grid = _Panels(heights, [[m.title for m in row] for row in rows_of_maps], gap_px=90, margin=GRID_MARGIN)
    grid.layout["showlegend"] = False
    axes = _colour_axes(maps)
    rows: dict[str, list[int]] = {}
    for r, (row, cells) in enumerate(zip(rows_of_maps, grid.cells)):
        for m, cell in zip(row, cells):
            rows.setdefault(m.scale, [r])     # a colour bar beside the first row of its scale
            _add_map(grid, cell, m, coloraxis=axes[m.scale])
    _colour_bars(grid, maps, rows)
    return grid.figure()


def attention_map(z: np.ndarray, *, rows: Sequence[str], cols: Sequence[str], row_title: str, col_title: str,
                  title: str, colorscale: str = "Blues", value_name: str = "attention",
                  signed: bool = False) -> go.Figure:
    """One map with rows = queries (top to bottom, as a matrix reads), cols = keys."""
    return heatmap(z, x_labels=cols, y_labels=rows, x_title=col_title, y_title=row_title, title=title,
                   y_reversed=True, colorscale=colorscale, value_name=value_name, signed=signed,
                   height=max(300, min(640, 110 + 16 * len(rows))))


def blank(height: int = 10) -> go.Figure:
    """A chart with nothing in it, ``height`` pixels tall, transparent."""
    return _figure([], dict(height=height, margin=dict(l=0, r=0, t=0, b=0), paper_bgcolor="rgba(0,0,0,0)",
                            plot_bgcolor="rgba(0,0,0,0)", xaxis=dict(visible=False), yaxis=dict(visible=False)))


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


def enlarge(frame: np.ndarray, side: int = 256) -> np.ndarray:
    """One (H, W, 3) frame scaled up by a whole factor until its short side reaches
    ``side``, pixel for pixel (a 32-pixel frame stays sharp instead of blurring)."""
    frame = np.asarray(frame, dtype=np.uint8)
    k = max(1, side // max(1, min(frame.shape[:2])))
    return frame.repeat(k, axis=0).repeat(k, axis=1) if k > 1 else frame


def frame_strip(frames: Optional[np.ndarray], *, step: Optional[int], weights: np.ndarray,
                weight_name: str, n_frames: Optional[int] = None,
                png: Optional[tuple[str, int]] = None) -> go.Figure:
    """The sampled frames as one strip (when there are frames) above a bar per frame of
    its attention weight; the current step framed and marked. Frame i spans x in
    [i-0.5, i+0.5] in both rows, so a bar sits under its frame. ``png``: the strip as
    :func:`frames_png` encodes it, where the caller keeps it between steps."""
    weights = np.asarray(weights, dtype=np.float32)
    n = len(weights) if n_frames is None else n_frames
    has_frames = frames is not None
    label = weight_name or "no frame attention in this variant (uniform)"
    height, margin = (260 if has_frames else 200), dict(l=78, r=20, t=48, b=66)
    heights, gap = _split(height - margin["t"] - margin["b"], [0.55, 0.45] if has_frames else [1.0], 0.04)
    grid = _Panels(heights, [[""]] * len(heights), gap_px=gap, margin=margin,
                   title=f"frames and their attention ({label})")
    bars = grid.cells[-1][0]
    if has_frames:
        img = grid.cells[0][0]
        tw = _frames_row(grid, img, frames, png)
        grid.axes(img, x=FIXED, y=FIXED)
        if step is not None:
            grid.shapes.append(dict(type="rect", x0=step - 0.5, x1=step + 0.5, y0=0, y1=72 / tw, xref=img.x,
                                    yref=img.y, line=dict(color=MARKER_COLOUR, width=4)))
    colours = [MARKER_COLOUR if step is not None and i == step else "#7f8fa6" for i in range(n)]
    grid.traces.append(dict(type="bar", x=np.arange(n), y=weights, marker_color=colours, name=weight_name or "weight",
                            hovertemplate="frame %{x}<br>weight %{y:.4f}<extra></extra>", showlegend=False,
                            xaxis=bars.x, yaxis=bars.y))
    grid.axes(bars, x=dict(title=dict(text="frame"), **_ticks(index_labels(n)), **FIXED),
              y=dict(title=dict(text="weight"), **FIXED))
    grid.share_x(range=[-0.5, n - 0.5])
    if step is not None:
        grid.annotations.append(dict(text=step_text(step), x=step, xref=bars.x, y=1.0, yref="paper", yanchor="bottom",
                                     showarrow=False, font=dict(color=MARKER_COLOUR, size=12)))
    return grid.figure()


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
    bars = dict(type="bar", x=vals[order], y=[tag(labels[i]) for i in order], orientation="h",
                marker_color=[colours[i] for i in order],
                hovertemplate="%{y}<br>" + value_name + " %{x:.4f}<extra></extra>")
    # Answer labels have any length: the left margin grows to them (automargin).
    return _figure([bars], dict(_frame(title, max(220, 70 + 34 * len(labels)), b=66),
                                xaxis=dict(title=dict(text=value_name), **FIXED),
                                yaxis=dict(title=dict(text="answer"))))


def count_figure(raw: float, prediction: int, truth: Optional[float], *, lo: int = 1, hi: int = 10) -> go.Figure:
    """The count head's raw output, its rounded+clamped prediction and the truth on one
    number line [lo, hi] (TGIF-QA Count's range)."""
    points = [("raw output", raw, "#9aa5b1", "circle-open"), ("prediction", prediction, "#d62728", "diamond")]
    if truth is not None:
        points.append(("truth", truth, "#2a9d3a", "star"))
    # Labels never overlap: the raw output lies within 0.5 of the prediction, so its label
    # goes below; a truth equal to the prediction moves the two labels apart sideways.
    same = truth is not None and float(truth) == float(prediction)
    where = {"raw output": "bottom center", "prediction": "top left" if same else "top center",
             "truth": "top right" if same else "top center"}
    traces = [dict(type="scatter", x=[x], y=[0], mode="markers+text", name=name,
                   text=[f"{name} {x:.2f}" if name == "raw output" else f"{name} {x:g}"],
                   textposition=where[name], marker=dict(size=16, color=colour, symbol=symbol))
              for name, x, colour, symbol in points]
    return _figure(traces, dict(_frame("count: raw output, prediction (rounded, clamped to 1-10), truth", 200, b=66),
                                showlegend=False,
                                xaxis=dict(title=dict(text="count"), range=[min(lo, raw) - 0.7, max(hi, raw) + 0.7],
                                           dtick=1, **FIXED),
                                yaxis=dict(visible=False, range=[-1, 1.5], **FIXED)))


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
    height = (150 if has_frames else 60) + 70 * len(names)
    heights, gap = _split(height - MARGIN["t"] - MARGIN["b"], ([1.6] if has_frames else []) + [1.0] * len(names),
                          0.03)
    grid = _Panels(heights, [[""]] * len(heights), gap_px=gap, margin=MARGIN, title=title)
    if has_frames:
        _frames_row(grid, grid.cells[0][0], frames)
    top = max(max(float(np.abs(v).max(initial=0.0)) for v in vals), 1e-9)
    for (cell,), name, v in zip(grid.cells[1 if has_frames else 0:], names, vals):
        grid.traces.append(dict(type="heatmap", z=v[None, :], x=np.arange(n), y=[name], coloraxis="coloraxis",
                                name=name, xaxis=cell.x, yaxis=cell.y,
                                hovertemplate=f"{name}<br>frame %{{x}}<br>{value_name} %{{z:.4g}}<extra></extra>"))
        grid.axes(cell, x=dict(showticklabels=False), y={})
    grid.axes(grid.cells[-1][0], x=dict(title=dict(text="frame"), showticklabels=True, **_ticks(index_labels(n))),
              y={})
    grid.share_x(range=[-0.5, n - 0.5])
    grid.layout["coloraxis"] = dict(colorscale="RdBu_r", cmin=-top, cmax=top,
                                    colorbar=dict(title=dict(text=value_name, side="right"), thickness=12))
    return grid.figure()


def word_strip(words: Sequence[str], values: np.ndarray, *, title: str = "attribution per word",
               value_name: str = "attribution") -> go.Figure:
    """A 1×T heat strip over the words (positions on x, the word as tick label), the value
    written in each cell so the sign reads without the colour bar."""
    v = np.asarray(values, np.float32).reshape(-1)
    if v.shape[0] != len(words):
        raise ValueError(f"{v.shape[0]} values for {len(words)} words")
    top = max(float(np.abs(v).max(initial=0.0)), 1e-9)
    strip = dict(type="heatmap", z=v[None, :], x=np.arange(len(words)), y=[value_name], colorscale="RdBu_r",
                 zmin=-top, zmax=top, text=[[f"{x:.3g}" for x in v]], texttemplate="%{text}",
                 customdata=[list(words)], hovertemplate="%{customdata}<br>" + value_name + " %{z:.4g}<extra></extra>",
                 colorbar=dict(title=dict(text=value_name, side="right"), thickness=12))
    return _figure([strip], dict(_frame(title, 190), xaxis=dict(title=dict(text="word"), **_ticks(list(words))),
                                 yaxis=dict(visible=False)))


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
    heights, gap = _split(380 - MARGIN["t"] - MARGIN["b"], [0.6, 0.4], 0.08)
    grid = _Panels(heights, [[""], [""]], gap_px=gap, margin=MARGIN, title=title)
    (top,), (low,) = grid.cells
    for vals, name, colour in ((a, names[0], "#636efa"), (b, names[1], "#ef553b")):
        grid.traces.append(dict(type="bar", x=x, y=vals, name=name, marker_color=colour, customdata=labels,
                                xaxis=top.x, yaxis=top.y,
                                hovertemplate=f"{name}<br>{x_title} %{{customdata}}<br>{value_name} %{{y:.4f}}<extra></extra>"))
    grid.traces.append(dict(type="bar", x=x, y=d, name=f"{names[1]} − {names[0]}", customdata=labels, showlegend=True,
                            marker_color=["#d62728" if v > 0 else "#1f77b4" for v in d], xaxis=low.x, yaxis=low.y,
                            hovertemplate=f"{x_title} %{{customdata}}<br>difference %{{y:.4f}}<extra></extra>"))
    grid.axes(top, x=dict(showticklabels=False), y=dict(title=dict(text=value_name)))
    grid.axes(low, x=dict(title=dict(text=x_title), **_ticks(labels)), y=dict(title=dict(text="difference")))
    grid.share_x()
    grid.layout.update(barmode="group", legend=dict(orientation="h", y=-0.25))
    return grid.figure()


def difference_map(diff: np.ndarray, *, rows: Sequence[str], cols: Sequence[str], row_title: str, col_title: str,
                   title: str) -> go.Figure:
    """A difference of two maps (after − before, or B − A) on a diverging scale centred on 0."""
    return attention_map(diff, rows=rows, cols=cols, row_title=row_title, col_title=col_title, title=title,
                         colorscale="RdBu_r", value_name="difference", signed=True)


def confusion_figure(counts, *, title: str = "confusion") -> go.Figure:
    """A confusion DataFrame (rows truth, columns prediction) as a heatmap, counts in cells."""
    z = np.asarray(counts.to_numpy(), np.float32)
    return heatmap(z, x_labels=[str(c) for c in counts.columns], y_labels=[str(i) for i in counts.index],
                   x_title="prediction", y_title="truth", title=title, y_reversed=True, colorscale="Blues",
                   value_name="questions", height=max(300, min(700, 120 + 22 * z.shape[0])), cells=z.astype(int))


def memory_curve(points, *, metric: str, title: str = "loss against visual memory size (Figure 5)") -> go.Figure:
    """Figure 5's curve: the metric (mean ± std over seeds where there are several) against
    the visual memory's slots; the x axis is categorical-spaced on the sizes run."""
    x = [int(s) for s in points["visual_slots"]]
    std = [0.0 if (s != s) else float(s) for s in points["std"]]   # NaN (one seed): no bar
    curve = dict(type="scatter", x=x, y=points["mean"], mode="lines+markers", name=metric,
                 error_y=dict(type="data", array=std, visible=True), customdata=np.asarray(points["seeds"]),
                 hovertemplate="S_v %{x}<br>" + metric + " %{y:.4f}<br>seeds %{customdata}<extra></extra>")
    return _figure([curve], dict(_frame(title, 340),
                                 xaxis=dict(title=dict(text="visual memory slots S_v"), type="log", tickvals=x,
                                            ticktext=[str(v) for v in x]),
                                 yaxis=dict(title=dict(text=metric))))
