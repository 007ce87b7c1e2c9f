"""Counterfactual edits of one question's inputs, and what they changed.

    from videoqa_core.explain import counterfactual as cf
    edit = cf.drop_frames(app, mot, [3, 4, 5])
    after = predictor.explain(edit.appearance, edit.motion, question, video_mask=edit.video_mask)
    diff = cf.compare(before, after, frames=edit.frames)
    diff["prediction"], diff["fields"]["video_self_attn"]["mean_abs"]

Frame edits return a :class:`FrameEdit` whose ``frames`` says, for every frame of the
edited video, which original frame it is; :func:`compare` uses it to line the two traces
up frame by frame (after a shuffle, frame 3 of the edited video is compared with the
original frame it came from, not with whatever was at position 3). Question edits are just
new text (token maps are then compared by position, and the comparison says so);
candidate edits map rows the same way through ``rows``.

Two ways to take a frame away, because they ask different questions:

    mask_frames(mode="mask")   the model treats the frames as padding: the memories carry
                               their state through them, attention ignores them
    mask_frames(mode="zeros"|"mean")  the frames stay, their features are blanked: the
                               model still steps through them and sees "nothing happening"
    drop_frames                the frames are gone: the video is shorter
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional, Sequence

import numpy as np

from ..errors import UserError


@dataclass
class FrameEdit:
    appearance: np.ndarray          # (N', Da)
    motion: np.ndarray              # (N', Dm)
    video_mask: Optional[np.ndarray]  # (N',) bool, None: all frames real
    frames: np.ndarray              # (N',) original index of every edited frame
    description: str


def _check(app, mot) -> int:
    app, mot = np.asarray(app), np.asarray(mot)
    if app.ndim != 2 or mot.ndim != 2 or app.shape[0] != mot.shape[0]:
        raise UserError(f"features must be [N, Da] and [N, Dm] with the same N (got {app.shape} and {mot.shape})")
    return app.shape[0]


def _frame_list(frames: Sequence[int], n: int) -> list[int]:
    out = sorted({int(f) for f in frames})
    bad = [f for f in out if not 0 <= f < n]
    if bad:
        raise UserError(f"frame {bad[0]} does not exist: frames are 0..{n - 1}")
    return out


def mask_frames(app, mot, frames: Sequence[int], *, mode: str = "mask", video_mask=None) -> FrameEdit:
    n = _check(app, mot)
    sel = _frame_list(frames, n)
    vm = np.ones(n, bool) if video_mask is None else np.asarray(video_mask, bool).copy()
    a, m = np.array(app, np.float32), np.array(mot, np.float32)
    if mode == "mask":
        vm[sel] = False
        if not vm.any():
            raise UserError("every frame would be masked: keep at least one")
    elif mode in ("zeros", "mean"):
        fill_a = 0.0 if mode == "zeros" else a[vm].mean(0)
        fill_m = 0.0 if mode == "zeros" else m[vm].mean(0)
        a[sel], m[sel] = fill_a, fill_m
    else:
        raise UserError(f"mask mode '{mode}' is unknown: use mask, zeros or mean")
    return FrameEdit(a, m, None if vm.all() else vm, np.arange(n), f"{mode} frames {sel}")


def drop_frames(app, mot, frames: Sequence[int]) -> FrameEdit:
    n = _check(app, mot)
    gone = set(_frame_list(frames, n))
    keep = np.array([i for i in range(n) if i not in gone], dtype=np.int64)
    if keep.size == 0:
        raise UserError("every frame would be dropped: keep at least one")
    return FrameEdit(np.asarray(app, np.float32)[keep], np.asarray(mot, np.float32)[keep], None, keep,
                     f"drop frames {sorted(gone)}")


def shuffle_frames(app, mot, seed: int = 0) -> FrameEdit:
    n = _check(app, mot)
    order = np.random.default_rng(seed).permutation(n)
    return FrameEdit(np.asarray(app, np.float32)[order], np.asarray(mot, np.float32)[order], None, order,
                     f"shuffle frames (seed {seed})")


def reverse_frames(app, mot) -> FrameEdit:
    n = _check(app, mot)
    order = np.arange(n)[::-1].copy()
    return FrameEdit(np.asarray(app, np.float32)[order], np.asarray(mot, np.float32)[order], None, order,
                     "reverse frames")


def swap_candidates(candidates: Sequence[str], i: int, j: int) -> list[str]:
    c = list(candidates)
    for k in (i, j):
        if not 0 <= k < len(c):
            raise UserError(f"candidate {k} does not exist: candidates are 0..{len(c) - 1}")
    c[i], c[j] = c[j], c[i]
    return c


def edit_candidate(candidates: Sequence[str], i: int, text: str) -> list[str]:
    c = list(candidates)
    if not 0 <= i < len(c):
        raise UserError(f"candidate {i} does not exist: candidates are 0..{len(c) - 1}")
    if not text.strip():
        raise UserError("a candidate cannot be empty")
    c[i] = text
    return c


def swap_rows(n: int, i: int, j: int) -> list[int]:
    """``rows`` for :func:`compare` after :func:`swap_candidates`: row k of the edited
    question is row rows[k] of the original."""
    r = list(range(n))
    r[i], r[j] = r[j], r[i]
    return r


# ----------------------------------------------------------------------------- comparing

# Which trailing axes (after the row axis) of each trace field index frames; the fields
# whose last axis is a probability distribution (compared by total variation).
_FRAME_AXES = {"visual_read": (0,), "visual_write_app": (0,), "visual_write_mot": (0,), "visual_gates": (0,),
               "visual_memory_norm": (0,), "video_self_attn": (0, 1), "affinity": (0,), "v2t_attn": (0,),
               "t2v_attn": (0, 1), "video_mask": (0,)}
_DISTRIBUTIONS = {"visual_read", "visual_write_app", "visual_write_mot", "visual_gates", "text_read", "text_write",
                  "video_self_attn", "text_self_attn", "v2t_attn", "t2v_attn"}
_TOKEN_FIELDS = {"text_read", "text_write", "text_memory_norm", "text_self_attn", "affinity", "v2t_attn", "text_mask"}


def _align(before: np.ndarray, name: str, frames: Optional[np.ndarray], n_after: int) -> np.ndarray:
    """Gather the original trace at the edited video's frames (axes per _FRAME_AXES).
    Key axes of attention maps are renormalised over the kept frames, so both maps are
    distributions over the same frames."""
    if frames is None or name not in _FRAME_AXES:
        return before
    out = before
    for ax in _FRAME_AXES[name]:
        out = np.take(out, frames, axis=ax + 1)
    if name in ("video_self_attn", "t2v_attn") and len(frames) < before.shape[-1]:
        s = out.sum(-1, keepdims=True)
        out = np.divide(out, s, out=np.zeros_like(out), where=s > 0)
    return out


def compare(before, after, *, frames: Optional[Sequence[int]] = None, rows: Optional[Sequence[int]] = None) -> dict:
    """How every map changed from ``before`` to ``after`` (two Explanations of one model).

    frames: the edit's ``FrameEdit.frames`` (after-frame -> original frame); None: the
        videos are aligned as they are (same N), e.g. after a question edit.
    rows: after-row -> before-row (e.g. :func:`swap_rows`); None: row k with row k.

    Returns {"prediction": {before, after, changed}, "scores": {...}, "notes": [...],
    "fields": {name: {diff (after - before aligned), mean_abs, max_abs, tv (mean total
    variation per map row, for distributions), aligned}}} for the fields present in both.
    """
    tb, ta = before.trace, after.trace
    notes = []
    if frames is not None:
        frames = np.asarray(frames, dtype=np.int64)
        n_before = tb.video_mask.shape[-1]
        if len(frames) != ta.video_mask.shape[-1]:
            raise UserError(f"frames has {len(frames)} entries but the edited trace has {ta.video_mask.shape[-1]} frames")
        if frames.size and (frames.min() < 0 or frames.max() >= n_before):
            raise UserError(f"frames must index the original {n_before} frames")
        if len(frames) < n_before:
            notes.append(f"frame maps compared on the {len(frames)} kept frames of {n_before}; "
                         f"attention over key frames renormalised over them")
        elif not np.array_equal(frames, np.arange(n_before)):
            notes.append("frame maps compared frame by frame in the original order (the edit moved frames)")
    if before.rows != after.rows:
        notes.append("token maps compared by position: the token rows differ")
    row_idx = None if rows is None else np.asarray(rows, dtype=np.int64)
    if row_idx is not None:
        notes.append(f"rows compared as after->before {list(map(int, row_idx))}")

    out_fields = {}
    for f in fields(tb):
        a, b = getattr(ta, f.name), getattr(tb, f.name)
        if a is None or b is None:
            continue
        b = np.asarray(b)
        if row_idx is not None:
            b = b[row_idx]
        b = _align(b, f.name, frames, a.shape[1] if a.ndim > 1 else 0)
        a = np.asarray(a)
        if a.shape != b.shape:
            # Only the padded token axis can still differ (T_max is fixed per model, so
            # this means two models); compare the common corner and say so.
            common = tuple(min(x, y) for x, y in zip(a.shape, b.shape))
            sl = tuple(slice(0, c) for c in common)
            a, b = a[sl], b[sl]
            notes.append(f"{f.name}: shapes differ, compared on the common {common}")
        if a.dtype == bool:
            d = a.astype(np.int8) - b.astype(np.int8)
        else:
            d = a.astype(np.float64) - b.astype(np.float64)
        entry = {"diff": d, "mean_abs": float(np.abs(d).mean()) if d.size else 0.0,
                 "max_abs": float(np.abs(d).max()) if d.size else 0.0,
                 "aligned": "frames" if (frames is not None and f.name in _FRAME_AXES) else "direct"}
        if f.name in _TOKEN_FIELDS and before.rows != after.rows:
            entry["aligned"] += "+tokens-by-position"
        if f.name in _DISTRIBUTIONS and d.size:
            entry["tv"] = float(0.5 * np.abs(d).sum(-1).mean())
        out_fields[f.name] = entry

    sb, sa = np.asarray(before.scores, np.float64), np.asarray(after.scores, np.float64)
    scores = {"before": sb, "after": sa}
    if row_idx is not None and sb.shape == sa.shape and before.kind == "mc":
        scores["before"] = sb[row_idx]
    if scores["before"].shape == sa.shape:
        scores["change"] = sa - scores["before"]
    return {"prediction": {"before": before.prediction, "after": after.prediction,
                           "changed": before.prediction != after.prediction},
            "top": {"before": before.top, "after": after.top}, "scores": scores, "notes": notes,
            "fields": out_fields}
