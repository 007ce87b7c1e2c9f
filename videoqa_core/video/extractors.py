"""Feature extractors: name -> a callable that turns decoded frames into features.

    from videoqa_core.video.extractors import get_extractor
    app = get_extractor("appearance", "pixels")          # frames (N, H, W, 3) uint8 -> (N, 817)
    mot = get_extractor("motion", "framediff")           # clips (N, L, H, W, 3) uint8 -> (N, 880)

| kind       | name                               | input                      | dim        |
|------------|------------------------------------|----------------------------|------------|
| appearance | pixels                             | frames at 112x112          | 817        |
| appearance | resnet18 / resnet50/101/152        | frames at 224x224          | 512 / 2048 |
| motion     | framediff                          | 4-frame clips at 112x112   | 880        |
| motion     | r3d_18 / r2plus1d_18 / mc3_18      | 16-frame clips at 112x112  | 512        |

The CNNs are torchvision's architectures, written in ``cnn.py`` (so torchvision is not a
dependency; its state dicts load unchanged), without the classifier (the pooled feature
is the output), as the paper used ResNet-152 pool5 and C3D fc6-style clip
features. Weights come only from a local state-dict file (``weights=PATH``); nothing is
ever downloaded. Without a file the network keeps seeded random weights, says so loudly
(``warnings.warn`` and ``.warning``), and ``.random_weights`` is True so the store can
record it. The seed makes random features identical across runs, which a resumed
extraction needs: videos stored before and after an interruption must come from one
network.

``pixels`` and ``framediff`` need no weights: a coarse grid plus a per-colour blob
summary (see below), about 0.1 s per video on one CPU thread (35 frames + 35 four-frame
clips at 112x112; the motion blob summary is most of it). They are what the demo and the
synthetic benchmark use.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from . import cnn

GRID = 16  # pixels/framediff: 16 x 16 cells x RGB = 768 dims
RANDOM_SEED = 0

_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_KINETICS_MEAN, _KINETICS_STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)


@dataclass(kw_only=True)
class Extractor:
    """One feature extractor.

    kind: "appearance" (input frames (N, H, W, 3) uint8) or "motion" (input clips
    (N, L, H, W, 3) uint8, L = ``clip_len``). Output: (N, dim) float32 numpy.
    Inputs of another size are resized to ``input_size`` first; the extract command
    resizes in its decode workers so the main process only runs the network.
    """

    kind: str
    name: str
    dim: int
    input_size: tuple[int, int]
    clip_len: int = 0
    random_weights: bool = False
    weights_source: str = "none"  # "none" (weight-free), "random (seed 0, cnn.py init)" or "<file> sha256:<hex>"
    warning: str | None = None
    device: str = "cpu"
    batch_frames: int = 64  # CNNs only: the weight-free extractors take a video in one go
    fn: Callable[[torch.Tensor], torch.Tensor] | None = None  # float (B, ...) -> (B, dim)

    def __call__(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        x = torch.as_tensor(x)
        want = 4 if self.kind == "appearance" else 5
        if x.ndim != want or x.shape[-1] != 3:
            shape = "(N, H, W, 3)" if want == 4 else "(N, L, H, W, 3)"
            raise ValueError(f"{self.name} expects {shape} uint8 input, got {tuple(x.shape)}")
        x = resize_frames(x, self.input_size)
        # A batch holds about batch_frames frames: one clip of a motion model is clip_len frames.
        step = max(1, self.batch_frames // max(1, self.clip_len)) if self.weights_source != "none" else max(1, len(x))
        out = []
        with torch.inference_mode():
            for chunk in x.split(step):
                out.append(self.fn(chunk.to(self.device, non_blocking=True)).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, self.dim), np.float32)


def resize_frames(x: torch.Tensor | np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """Resize (..., H, W, 3) uint8 frames to ``size`` (antialiased bilinear); no-op if equal."""
    x = torch.as_tensor(x)
    h, w = int(size[0]), int(size[1])
    if tuple(x.shape[-3:-1]) == (h, w):
        return x
    lead = x.shape[:-3]
    flat = x.reshape(-1, *x.shape[-3:]).permute(0, 3, 1, 2).float()  # (B, 3, H, W)
    flat = F.interpolate(flat, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    out = flat.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)  # (B, h, w, 3)
    return out.reshape(*lead, h, w, 3).contiguous()


# ---------------------------------------------------------------- weight-free extractors
#
# Each weight-free feature is a coarse grid (where) followed by a colour-blob summary
# (what moved, and how). The grid alone tells *where* something changed but not *which
# way*: a jump and a shake light up the same cells around an object, and a linear layer
# cannot read a direction from a set of unsigned cell values without many examples. The
# summary states it outright, per colour: for each of BINS colour bins (six hue sectors
# of saturated bright pixels, plus bright unsaturated "white"; dark pixels are
# background) the blob's size, centre, spread and extent, and in the motion feature
# their signed change and total variation over the clip. On the synthetic benchmark
# every object has its own colour, so a bin is an object; on real video a bin is a
# coarse colour-motion summary, no substitute for a CNN.

BINS = 7         # six hue sectors (0, 60, ..., 300 degrees) + white
BLOB = 7         # per bin: sqrt(area), centre x, y, spread x, y, extent x, y
BLOB_SIZE = 56   # the blob summary reads frames average-pooled to at most this size
BRIGHT, SATURATED = 0.35, 0.35  # value and saturation thresholds of a coloured pixel
APPEARANCE_SCALE, MOTION_SCALE = 3.0, 10.0  # bring typical event values to about 1


def _colour_bin(x: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) float in [0, 255] -> (B, H, W) int64 bin: 0..5 hue sector, 6 white,
    7 none (dark background)."""
    mx, mn = x.amax(-1), x.amin(-1)
    chroma = (mx - mn).clamp_min(1e-6)
    r, g, b = x.unbind(-1)
    hue = torch.where(mx == r, ((g - b) / chroma) % 6,
                      torch.where(mx == g, (b - r) / chroma + 2, (r - g) / chroma + 4))  # [0, 6)
    sector = torch.round(hue).long() % 6
    coloured = (mx - mn) >= SATURATED * mx
    idx = torch.where(coloured, sector, torch.full_like(sector, BINS - 1))
    return torch.where(mx >= BRIGHT * 255, idx, torch.full_like(idx, BINS))


def _blobs(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, H, W, 3) uint8 -> blob (B, BINS, BLOB), bin map (B, h, w), present (B, BINS).

    Moments by bincount over (frame, bin) keys: one pass over the pixels, no per-bin
    masks. Coordinates are in [-1, 1]; an absent bin has all-zero descriptors."""
    x = frames.float()
    if x.shape[1] > BLOB_SIZE:
        factor = -(-x.shape[1] // BLOB_SIZE)
        x = F.avg_pool2d(x.permute(0, 3, 1, 2), factor, ceil_mode=True).permute(0, 2, 3, 1)
    B, H, W, _ = x.shape
    idx = _colour_bin(x)  # (B, H, W)
    K = BINS + 1
    key = (torch.arange(B).view(B, 1, 1) * K + idx).reshape(-1)
    ys = torch.linspace(-1, 1, H).view(1, H, 1).expand(B, H, W).reshape(-1)
    xs = torch.linspace(-1, 1, W).view(1, 1, W).expand(B, H, W).reshape(-1)
    n = B * K
    area = torch.bincount(key, minlength=n).float()
    den = area.clamp_min(1)
    cx, cy = torch.bincount(key, xs, minlength=n) / den, torch.bincount(key, ys, minlength=n) / den
    sx = (torch.bincount(key, xs * xs, minlength=n) / den - cx ** 2).clamp_min(0).sqrt()
    sy = (torch.bincount(key, ys * ys, minlength=n) / den - cy ** 2).clamp_min(0).sqrt()
    far = torch.full((n,), 2.0)
    ex = (-far).scatter_reduce(0, key, xs, "amax") - far.scatter_reduce(0, key, xs, "amin")
    ey = (-far).scatter_reduce(0, key, ys, "amax") - far.scatter_reduce(0, key, ys, "amin")
    present = (area > 0).float()
    blob = torch.stack([(area / (H * W)).sqrt(), cx, cy, sx, sy, ex.clamp_min(0) * present,
                        ey.clamp_min(0) * present], -1)  # (n, BLOB)
    return blob.view(B, K, BLOB)[:, :BINS], idx, present.view(B, K)[:, :BINS]


_BLOB_MEMO: dict[bytes, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
_BLOB_MEMO_FRAMES = 256   # one video's sampled frames and clip frames (35 + 35 x 4 at most)


def _frame_blobs(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_blobs` of (B, H, W, 3) uint8 frames, each distinct frame computed once.

    Frames repeat: clips around neighbouring samples share frames (at 35 frames of a
    35-frame video each frame is in 4 clips), and ``framediff``'s clips hold every frame
    that ``pixels`` summarised just before (each clip is built around its sampled frame).
    Frames are told apart by their bytes (torch.unique(dim=0) sorts the rows, and frames
    that share long runs of background compare slowly: 70 ms against 3.5 ms on 140 rows
    of 112x112x3), and a frame's summary, which depends on that frame alone and is the
    same bit for bit in any batch, is kept for the next call. The memo holds the last
    few hundred frames of this process (one video's); on a GPU the bytes are read from
    a host copy and the results stay on the frames' device."""
    keys = [row.tobytes() for row in frames.cpu().contiguous().numpy()]
    if len(_BLOB_MEMO) + len(set(keys) - _BLOB_MEMO.keys()) > _BLOB_MEMO_FRAMES:
        _BLOB_MEMO.clear()          # then every distinct frame of this batch is computed here
    todo: dict[bytes, int] = {}     # a new frame -> its first row
    for i, k in enumerate(keys):
        if k not in _BLOB_MEMO:
            todo.setdefault(k, i)
    if todo:
        rows = torch.tensor(list(todo.values()), dtype=torch.long, device=frames.device)
        new = _blobs(frames[rows])
        for j, k in enumerate(todo):
            _BLOB_MEMO[k] = tuple(t[j] for t in new)
    blob, idx, present = zip(*(_BLOB_MEMO[k] for k in keys))
    return torch.stack(blob), torch.stack(idx), torch.stack(present)


def _pixels(frames: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 768 + 49): area-averaged 16x16 RGB grid in [0, 1],
    flattened as [grid_y, grid_x, rgb], then the blob summary [bin, BLOB]."""
    # float before permute: the pooling then reads channels-last memory, ~2x faster
    x = frames.float().div_(255.0).permute(0, 3, 1, 2)  # (N, 3, H, W)
    grid = F.adaptive_avg_pool2d(x, GRID)  # (N, 3, 16, 16)
    blob, _, _ = _frame_blobs(frames)  # (N, BINS, BLOB)
    return torch.cat([grid.permute(0, 2, 3, 1).reshape(len(frames), -1),
                      blob.reshape(len(frames), -1) * APPEARANCE_SCALE], 1)


def _framediff(clips: torch.Tensor) -> torch.Tensor:
    """(N, L, H, W, 3) uint8 -> (N, 768 + 112): mean |frame[t+1] - frame[t]| over the
    clip, per RGB channel, area-averaged to the 16x16 grid, in [0, 1]; then per colour
    bin the net change and the total variation of the blob summary over the clip
    (2 x BINS x BLOB) and the fraction of pixels that joined / left the bin (2 x BINS).

    Differences are taken at full resolution and pooled after: pooling first would
    cancel a shape moving inside one cell. The value of a cell says how much changed
    there; its position says where; the blob changes say which way (a jump moves the
    centre up then down, a shake left and right, a grow widens the extent, a blink
    empties the bin, a flash moves area from one bin to another).
    """
    N, L = clips.shape[:2]
    if L < 2:
        raise ValueError(f"framediff needs clips of at least 2 frames, got {L}")
    x = clips.float()  # (N, L, H, W, 3)
    diff = (x[:, 1:] - x[:, :-1]).abs_().sum(dim=1)  # (N, H, W, 3)
    diff /= 255.0 * (L - 1)
    grid = F.adaptive_avg_pool2d(diff.permute(0, 3, 1, 2), GRID)  # (N, 3, 16, 16)

    # every distinct frame summarised once (clips share frames: _frame_blobs)
    blob, idx, present = _frame_blobs(clips.reshape(N * L, *clips.shape[2:]))
    blob, present = blob.view(N, L, BINS, BLOB), present.view(N, L, BINS, 1)
    delta = blob[:, 1:] - blob[:, :-1]  # (N, L-1, BINS, BLOB)
    # centre/spread/extent of a bin that (dis)appears are undefined on one side: only
    # its area change counts
    both = present[:, 1:] * present[:, :-1]
    delta = torch.cat([delta[..., :1], delta[..., 1:] * both], -1)
    idx = idx.view(N, L, -1)  # (N, L, h*w)
    moved = idx[:, 1:] != idx[:, :-1]  # (N, L-1, h*w)
    steps = torch.arange(N * (L - 1)).view(N, L - 1, 1) * (BINS + 1)

    def share(bins: torch.Tensor) -> torch.Tensor:  # pixels that changed into / out of each bin
        counts = torch.bincount((steps + bins)[moved], minlength=N * (L - 1) * (BINS + 1))
        return counts.view(N, L - 1, BINS + 1)[..., :BINS].sum(1).float() / idx.shape[-1]  # (N, BINS)

    summary = torch.cat([delta.sum(1).reshape(N, -1), delta.abs().sum(1).reshape(N, -1),
                         share(idx[:, 1:]), share(idx[:, :-1])], 1)  # (N, 2*BINS*BLOB + 2*BINS)
    return torch.cat([grid.permute(0, 2, 3, 1).reshape(N, -1), summary * MOTION_SCALE], 1)


# ---------------------------------------------------------------- CNNs (cnn.py: torchvision's architectures)

_CNN = {
    # name: (kind, feature dim, input size, clip_len, mean, std); cnn.build(name) makes the net
    "resnet18": ("appearance", 512, (224, 224), 0, _IMAGENET_MEAN, _IMAGENET_STD),
    "resnet50": ("appearance", 2048, (224, 224), 0, _IMAGENET_MEAN, _IMAGENET_STD),
    "resnet101": ("appearance", 2048, (224, 224), 0, _IMAGENET_MEAN, _IMAGENET_STD),
    "resnet152": ("appearance", 2048, (224, 224), 0, _IMAGENET_MEAN, _IMAGENET_STD),
    "r3d_18": ("motion", 512, (112, 112), 16, _KINETICS_MEAN, _KINETICS_STD),
    "r2plus1d_18": ("motion", 512, (112, 112), 16, _KINETICS_MEAN, _KINETICS_STD),
    "mc3_18": ("motion", 512, (112, 112), 16, _KINETICS_MEAN, _KINETICS_STD),
}
_WEIGHT_FREE = {
    "pixels": ("appearance", _pixels, 3 * GRID * GRID + BINS * BLOB, (112, 112), 0),
    "framediff": ("motion", _framediff, 3 * GRID * GRID + 2 * BINS * BLOB + 2 * BINS, (112, 112), 4),
}
NAMES = {
    kind: sorted([n for n, v in _WEIGHT_FREE.items() if v[0] == kind] + [n for n, v in _CNN.items() if v[0] == kind])
    for kind in ("appearance", "motion")
}


def get_extractor(kind: str, name: str, *, weights: str | Path | None = None,
                  device: str = "cpu", batch_frames: int = 64) -> Extractor:
    """Build the extractor ``name`` of ``kind`` ("appearance" or "motion").

    ``weights``: a local state-dict file for the CNNs (torchvision's own checkpoints, or
    any state dict of the same architecture; a ``module.`` prefix from DDP and a
    ``{"state_dict": ...}`` / ``{"model": ...}`` wrapper are accepted). A file that does
    not fit raises :class:`UserError`.
    """
    if kind not in NAMES:
        raise UserError(f"extractor kind must be 'appearance' or 'motion', not '{kind}'")
    if name not in NAMES[kind]:
        raise UserError(f"unknown {kind} extractor '{name}': choose one of {', '.join(NAMES[kind])}")
    if name in _WEIGHT_FREE:
        if weights is not None:
            raise UserError(f"{kind} extractor '{name}' has no weights; drop --{kind}-weights or pick a CNN")
        _, fn, dim, size, clip_len = _WEIGHT_FREE[name]
        return Extractor(kind=kind, name=name, dim=dim, input_size=size, clip_len=clip_len,
                         device=str(device), batch_frames=batch_frames, fn=fn)

    _, dim, size, clip_len, mean, std = _CNN[name]
    with torch.random.fork_rng(devices=[]):  # seed the init without disturbing the caller's RNG
        torch.manual_seed(RANDOM_SEED)
        model = cnn.build(name)
    warning = None
    if weights is None:
        # "cnn.py init" names the initialisation: a store made with torchvision's (before
        # cnn.py) says only "random (seed 0)", so resuming it here is refused instead of
        # mixing features of two different random networks (the weights attr must match).
        source = f"random (seed {RANDOM_SEED}, cnn.py init)"
        warning = (f"{kind} extractor {name} has RANDOM weights (no weights file given): its features "
                   f"carry no learned meaning; pass --{kind}-weights PATH with a {name} state dict "
                   "downloaded elsewhere for real features")
        warnings.warn(warning, RuntimeWarning, stacklevel=2)
    else:
        source = _load_weights(model, Path(weights), name)
    model.eval().to(device)

    mean_t = torch.tensor(mean, device=device).view(1, 3, *([1] * (3 if kind == "motion" else 2)))
    std_t = torch.tensor(std, device=device).view_as(mean_t)
    if kind == "appearance":
        def fn(frames: torch.Tensor) -> torch.Tensor:
            x = frames.permute(0, 3, 1, 2).float().div_(255.0)  # (B, 3, H, W)
            return model((x - mean_t) / std_t)  # (B, dim)
    else:
        def fn(clips: torch.Tensor) -> torch.Tensor:
            x = clips.permute(0, 4, 1, 2, 3).float().div_(255.0)  # (B, 3, L, H, W)
            return model((x - mean_t) / std_t)  # (B, dim)
    return Extractor(kind=kind, name=name, dim=dim, input_size=size, clip_len=clip_len,
                     random_weights=weights is None, weights_source=source, warning=warning,
                     device=str(device), batch_frames=batch_frames, fn=fn)


def _load_weights(model: torch.nn.Module, path: Path, name: str) -> str:
    if not path.is_file():
        raise UserError(f"weights file {path} does not exist: pass the path of a {name} state dict")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and torch errors all mean "not a state dict file"
        raise UserError(f"cannot load weights file {path} ({exc.__class__.__name__}): "
                        f"it must be a {name} state dict saved with torch.save") from exc
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"weights file {path} is not a state dict (name -> tensor): save model.state_dict()")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    # The trunks have no classifier (cnn.py), so a file's fc.* (any number of classes, or
    # none) is dropped here and every other tensor must fit.
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches raise even when strict=False
        raise UserError(f"weights file {path} does not fit {name} (tensor shapes differ): "
                        f"pass a {name} state dict") from exc
    if missing or unexpected:
        detail = (f"missing {missing[:3]}" if missing else "") + (" " if missing and unexpected else "") + \
                 (f"unexpected {unexpected[:3]}" if unexpected else "")
        raise UserError(f"weights file {path} does not fit {name} ({detail}): pass a {name} state dict")
    return f"{path.name} sha256:{sha256_file(path)}"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
