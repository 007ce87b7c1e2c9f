"""Figure-1 style panels: chosen frames with their attention, the question with word
weights, the visual memory's read weights over the steps, and the answer.

    python -m videoqa_core figure --checkpoint checkpoints/demo/action/Attvt-all/best.pt \\
        --split test --ids ACTION3 ACTION7 --out figures/ [--formats png,svg,pdf] [--step K] \\
        [--frames 4 | --frame-ids 3 9 20] [--candidate C]

Writes ``<out>/<qid>.<format>`` per id and format. The same builder serves the dashboard's
download buttons, so a panel exported here and one downloaded there are the same bytes.

Rendering is headless (Agg, no pyplot state) and deterministic: fixed rcParams, no dates
or tool versions in the file metadata, a fixed SVG hash salt; the same inputs give the
same bytes (a test pins this).

Which weights are shown (the paper's Figure 1 shows "attention" without saying which):

- frames: the text-to-video co-attention (map of Bv, Eq. 21) averaged over query frames,
  i.e. how much the question-guided video attention lands on each frame; variants
  without it fall back to the video self-attention, then to nothing (said on the panel).
- words: the video-to-text co-attention (map of A, Eq. 20) averaged over frames; then
  the text self-attention; then nothing.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .errors import UserError

FORMATS = ("png", "svg", "pdf")
MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}

# Everything that could differ between machines or sessions is pinned here; fonts are
# matplotlib's bundled DejaVu so the output does not depend on what the system has.
RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "svg.hashsalt": "videoqa-figure-1",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "path.simplify": True,
    "image.interpolation": "nearest",
    "image.resample": False,
    "figure.dpi": 100,
    "savefig.dpi": 150,
}
# No dates, no software versions: a re-export of an unchanged panel is byte-identical.
METADATA = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
}


# --------------------------------------------------------------------- weights per frame / word

def _valid_mean(rows: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Mean over the valid query rows of an attention map (Q, K) -> (K,)."""
    if mask is not None and mask.any():
        rows = rows[np.asarray(mask, bool)[: rows.shape[0]]]
    return rows.mean(0)


def _normalise(w: np.ndarray) -> np.ndarray:
    w = np.clip(np.asarray(w, np.float64), 0.0, None)
    total = w.sum()
    return w / total if total > 0 else np.full_like(w, 1.0 / max(1, len(w)))


def frame_weights(trace) -> tuple[np.ndarray, str]:
    """(N,) attention each frame receives, summing to 1 over real frames, and the name of
    the map it comes from ("" where the variant has no frame attention). ``trace`` is one
    row of a numpy :class:`~videoqa_core.model.trace.Trace`."""
    vmask = np.asarray(trace.video_mask, bool)
    for name, label in (("t2v_attn", "text-to-video attention"), ("video_self_attn", "video self-attention")):
        m = getattr(trace, name)
        if m is not None:
            return _normalise(_valid_mean(np.asarray(m), vmask) * vmask), label
    return _normalise(vmask.astype(np.float64)), ""


def word_weights(trace, n_words: int) -> tuple[np.ndarray, str]:
    """(n_words,) attention on each question word (summing to 1) and its map's name."""
    vmask = np.asarray(trace.video_mask, bool)
    tmask = np.asarray(trace.text_mask, bool)
    if trace.v2t_attn is not None:
        return _normalise(_valid_mean(np.asarray(trace.v2t_attn), vmask)[:n_words]), "video-to-text attention"
    if trace.text_self_attn is not None:
        return _normalise(_valid_mean(np.asarray(trace.text_self_attn), tmask)[:n_words]), "text self-attention"
    return np.full(n_words, 1.0 / max(1, n_words)), ""


def top_frames(weights: np.ndarray, k: int) -> list[int]:
    """The k frames with the largest weight, in time order (ties: the earlier frame)."""
    k = max(1, min(int(k), len(weights)))
    order = np.argsort(-np.asarray(weights), kind="stable")[:k]
    return sorted(int(i) for i in order)


# --------------------------------------------------------------------------- panel data

@dataclass(kw_only=True)
class PanelData:
    """Everything one panel shows, already chosen: the drawing makes no decisions.

    frames:       (N, H, W, 3) uint8, or None when the video file is not available
    frame_weight: (N,) per-frame attention, summing to 1
    chosen:       frame indices shown in the top row, in time order
    words:        question tokens; word_weight (len(words),) summing to 1
    visual_read:  (N, S_v) read weights beta, or None for a video-free baseline
    top:          [(answer, probability or score)] best first
    """
    question: str
    words: list[str]
    word_weight: np.ndarray
    word_source: str
    frames: Optional[np.ndarray]
    frame_weight: np.ndarray
    frame_source: str
    chosen: list[int]
    visual_read: Optional[np.ndarray]
    kind: str
    prediction: str
    truth: Optional[str]
    top: list[tuple[str, float]] = field(default_factory=list)
    step: Optional[int] = None
    title: str = ""


def panel_data(explanation, *, question: str, frames: np.ndarray | None = None, truth: str | None = None,
               row: int | None = None, k: int = 4, chosen: Sequence[int] | None = None,
               step: int | None = None, title: str = "") -> PanelData:
    """Choose what the panel shows from an :class:`~videoqa_core.inference.Explanation`.

    ``row``: which model row (multiple choice: the candidate) to show; default the
    predicted one. ``chosen``: frames to show; default the ``k`` frames with the most
    attention."""
    row = explanation.predicted_row if row is None else int(row)
    tr = explanation.trace.row(row)
    words = list(explanation.rows[row])
    fw, fsrc = frame_weights(tr)
    ww, wsrc = word_weights(tr, len(words))
    N = len(fw)
    picks = top_frames(fw, k) if not chosen else sorted({int(c) for c in chosen if 0 <= int(c) < N})
    if not picks:
        raise UserError(f"the chosen frames {list(chosen or [])} are outside 0..{N - 1}")
    if step is not None and not 0 <= int(step) < N:
        raise UserError(f"step {step} is outside the video's steps 0..{N - 1}")
    if frames is not None and len(frames) != N:
        frames = None  # a video sampled differently from the features would mislabel every frame
    return PanelData(question=question, words=words, word_weight=ww, word_source=wsrc, frames=frames,
                     frame_weight=fw, frame_source=fsrc, chosen=picks,
                     visual_read=None if tr.visual_read is None else np.asarray(tr.visual_read),
                     kind=explanation.kind, prediction=explanation.prediction, truth=truth,
                     top=list(explanation.top), step=step, title=title)


# ------------------------------------------------------------------------------ drawing

def draw_panel(data: PanelData):
    """The matplotlib Figure (not registered with pyplot, so nothing leaks between calls)."""
    import matplotlib
    import matplotlib.ticker
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(RC):
        k = len(data.chosen)
        fig = Figure(figsize=(max(6.5, 1.6 * k), 6.2))
        FigureCanvasAgg(fig)
        gs = fig.add_gridspec(3, max(k, 2), height_ratios=[1.35, 0.55, 1.6], hspace=0.5, wspace=0.08,
                              left=0.09, right=0.98, top=0.88, bottom=0.08)
        title = data.title
        if not data.frame_source:
            title += "\nthis variant has no frame attention: frames are evenly weighted"
        if title:
            fig.suptitle(title.strip(), fontsize=10)
        shade = _shading(data.frame_weight)
        cmap = matplotlib.colormaps["Reds"]

        # -- top row: chosen frames, each labelled with its weight
        for j, t in enumerate(data.chosen):
            ax = fig.add_subplot(gs[0, j] if k > 1 else gs[0, :])
            w = float(data.frame_weight[t])
            if data.frames is not None:
                ax.imshow(data.frames[t])
            else:
                ax.set_facecolor("#eeeeee")
                ax.text(0.5, 0.5, f"frame {t}\n(no video file)", ha="center", va="center", fontsize=8,
                        transform=ax.transAxes, color="#555555")
            ax.set_xticks([])
            ax.set_yticks([])
            edge = cmap(0.25 + 0.75 * shade[t])
            for s in ax.spines.values():
                s.set_edgecolor(edge)
                s.set_linewidth(3)
            mark = "  (step)" if data.step is not None and t == data.step else ""
            ax.set_title(f"t={t}  w={w:.3f}{mark}", fontsize=8)

        # -- middle row: the question, words shaded by their weight
        axq = fig.add_subplot(gs[1, :])
        axq.set_axis_off()
        _draw_words(fig, axq, data.words, data.word_weight, cmap)
        src = data.word_source or "no word attention in this variant"
        axq.set_title(f"Q: word weights ({src})", fontsize=8, loc="left")

        # -- bottom row: visual memory read weights over steps | the answer
        bottom = gs[2, :].subgridspec(1, 2, width_ratios=[1.25, 1.0], wspace=0.55)
        axm = fig.add_subplot(bottom[0, 0])
        if data.visual_read is not None:
            vr = np.asarray(data.visual_read)                      # (N, S)
            im = axm.imshow(vr.T, aspect="auto", cmap="viridis", origin="lower",
                            vmin=0.0, vmax=max(float(vr.max()), 1e-6))
            axm.set_xlabel("step (frame)")
            axm.set_ylabel("memory slot")
            axm.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            axm.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            axm.set_title("visual memory read weights β", fontsize=8)
            for t in data.chosen:
                axm.plot([t], [vr.shape[1] - 0.5], marker="v", color="#d62728", markersize=5, clip_on=False)
            if data.step is not None:
                axm.axvline(data.step, color="white", linewidth=1.2, linestyle="--")
            cb = fig.colorbar(im, ax=axm, fraction=0.04, pad=0.02)
            cb.ax.tick_params(labelsize=6)
        else:
            axm.set_axis_off()
            axm.text(0.5, 0.5, "this variant has no visual memory", ha="center", va="center",
                     transform=axm.transAxes)
        axa = fig.add_subplot(bottom[0, 1])
        _draw_answer(axa, data)
    return fig


def _draw_words(fig, ax, words, weights, cmap) -> None:
    """Words left to right, wrapping; measured with the renderer so spacing is exact."""
    renderer = fig.canvas.get_renderer()
    shade = _shading(weights)
    x, y = 0.0, 0.62
    ax_w = ax.get_window_extent(renderer).width
    for word, w, s in zip(words, weights, shade):
        txt = ax.text(x, y, word, transform=ax.transAxes, fontsize=10, va="center", ha="left",
                      bbox=dict(boxstyle="round,pad=0.25", facecolor=cmap(0.05 + 0.6 * float(s)),
                                edgecolor="none"))
        width = txt.get_window_extent(renderer).width / ax_w
        if x > 0 and x + width > 1.0:
            x, y = 0.0, y - 0.5
            txt.set_position((x, y))
        ax.text(x + width / 2, y - 0.3, f"{float(w):.2f}", transform=ax.transAxes, fontsize=6,
                ha="center", va="center", color="#444444")
        x += width + 0.012


def _shading(weights: np.ndarray) -> np.ndarray:
    """Weights to [0, 1] by min-max, so the most and least attended items always
    differ visibly; all-equal weights (no attention in the variant) shade nothing."""
    w = np.asarray(weights, np.float64)
    if w.size == 0 or float(w.max() - w.min()) < 1e-9:
        return np.zeros_like(w)
    return (w - w.min()) / (w.max() - w.min())


def _draw_answer(ax, data: PanelData) -> None:
    ok = data.truth is not None and str(data.prediction) == str(data.truth)
    verdict = "" if data.truth is None else ("  ✓ correct" if ok else "  ✗ wrong")
    head = f"A: {data.prediction}{verdict}"
    if data.truth is not None:
        head += f"\ntruth: {data.truth}"
    if data.kind == "count" or not data.top:
        ax.set_axis_off()
        raw = data.top[0][1] if data.top else float("nan")
        body = f"\nraw output {raw:.2f}" if data.kind == "count" else ""
        ax.text(0.0, 0.6, head + body, transform=ax.transAxes, fontsize=10, va="center",
                color="#2a7a2a" if ok else ("#b22222" if data.truth is not None else "black"))
        return
    labels = [a for a, _ in data.top][::-1]
    vals = [float(v) for _, v in data.top][::-1]
    colours = ["#2a7a2a" if a == data.truth else ("#b22222" if a == data.prediction else "#888888") for a in labels]
    ax.barh(range(len(labels)), vals, color=colours)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels([_short(a) for a in labels])
    ax.set_xlabel("probability" if data.kind == "open" else "softmax of candidate scores")
    ax.set_xlim(0, max(1e-6, max(vals)) * 1.05)
    ax.set_title(head, fontsize=8, loc="left", color="#2a7a2a" if ok else ("#b22222" if data.truth else "black"))
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)


def _short(text: str, n: int = 22) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def render(fig, fmt: str) -> bytes:
    """The panel as PNG / SVG / PDF bytes, deterministic for the same figure."""
    import matplotlib
    if fmt not in FORMATS:
        raise UserError(f"figure format '{fmt}' is not supported: use one of {', '.join(FORMATS)}")
    buf = io.BytesIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format=fmt, metadata=METADATA[fmt])
    return buf.getvalue()


# --------------------------------------------------------------------------------- CLI

def configure(p) -> None:
    p.add_argument("--checkpoint", required=True, help="best.pt / last.pt, or a run folder")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--ids", nargs="+", required=True, metavar="ID", help="question ids (the qid column of the predictions file)")
    p.add_argument("--out", required=True, help="folder to write <qid>.<format> into")
    p.add_argument("--formats", default="png,svg,pdf", help="comma-separated: png, svg, pdf")
    p.add_argument("--step", type=int, default=None, help="mark this step (frame) on the memory map")
    p.add_argument("--frames", type=int, default=4, help="frames in the top row (the most attended ones)")
    p.add_argument("--frame-ids", type=int, nargs="+", metavar="T", help="show these frames instead")
    p.add_argument("--candidate", type=int, help="multiple choice: the candidate row to show (default: the predicted one)")


def load_frames(predictor, video_id: str, num_frames: int) -> np.ndarray | None:
    """The N sampled frames of a video of the checkpoint's dataset, or None without a file."""
    from .video.reader import read_frames
    path = predictor.video_path(video_id)
    if path is None:
        return None
    return read_frames(path, num_frames)


def main(args) -> int:
    from .inference import Predictor

    formats = [f.strip().lower() for f in args.formats.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UserError(f"--formats {args.formats}: use a comma-separated list of {', '.join(FORMATS)}")
    predictor = Predictor.load(args.checkpoint)
    records = {r.qid: r for r in predictor.records(args.split)}
    missing = [q for q in args.ids if q not in records]
    if missing:
        example = ", ".join(list(records)[:3])
        raise UserError(f"question id(s) {', '.join(missing)} are not in the {args.split} split of "
                        f"{predictor.config.data.annotations} (ids look like: {example})")
    store = predictor.feature_store()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for qid in args.ids:
        rec = records[qid]
        ex = predictor.explain_record(rec, store)
        frames = load_frames(predictor, rec.video_id, predictor.config.model.num_frames)
        if args.candidate is not None and not 0 <= args.candidate < len(ex.rows):
            raise UserError(f"--candidate {args.candidate}: question {qid} has rows 0..{len(ex.rows) - 1}")
        data = panel_data(ex, question=rec.question, frames=frames, truth=rec.answer, k=args.frames,
                          chosen=args.frame_ids, row=args.candidate, step=args.step,
                          title=f"{qid} · {predictor.config.model.variant}")
        fig = draw_panel(data)
        for fmt in formats:
            path = out / f"{qid}.{fmt}"
            path.write_bytes(render(fig, fmt))
            print(path)
    return 0
