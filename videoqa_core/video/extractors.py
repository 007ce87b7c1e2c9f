"""Feature extractors: name -> a callable that turns decoded frames into features.

    from videoqa_core.video.extractors import get_extractor
    app = get_extractor("appearance", "pixels")          # frames (N, H, W, 3) uint8 -> (N, 768)
    mot = get_extractor("motion", "framediff")           # clips (N, L, H, W, 3) uint8 -> (N, 768)

| kind       | name                               | input                      | dim        |
|------------|------------------------------------|----------------------------|------------|
| appearance | pixels                             | frames at 112x112          | 768        |
| appearance | resnet18 / resnet50/101/152        | frames at 224x224          | 512 / 2048 |
| motion     | framediff                          | 4-frame clips at 112x112   | 768        |
| motion     | r3d_18 / r2plus1d_18 / mc3_18      | 16-frame clips at 112x112  | 512        |

The CNNs are torchvision's architectures with the classifier removed (the pooled
feature is the output), as the paper used ResNet-152 pool5 and C3D fc6-style clip
features. Weights come only from a local state-dict file (``weights=PATH``); nothing is
ever downloaded. Without a file the network keeps seeded random weights, says so loudly
(``warnings.warn`` and ``.warning``), and ``.random_weights`` is True so the store can
record it. The seed makes random features identical across runs, which a resumed
extraction needs: videos stored before and after an interruption must come from one
network.

``pixels`` and ``framediff`` need no weights and cost a few milliseconds per video on one
CPU thread (35 frames + 35 four-frame clips at 112x112: ~2,000 sampled frames/s), far
less than decoding: they are what the demo and the synthetic benchmark use.
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
    weights_source: str = "none"  # "none" (weight-free), "random (seed 0)" or "<file> sha256:<hex>"
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

def _pixels(frames: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 768): area-averaged 16x16 RGB grid in [0, 1],
    flattened as [grid_y, grid_x, rgb]."""
    # float before permute: the pooling then reads channels-last memory, ~2x faster
    x = frames.float().div_(255.0).permute(0, 3, 1, 2)  # (N, 3, H, W)
    grid = F.adaptive_avg_pool2d(x, GRID)  # (N, 3, 16, 16)
    return grid.permute(0, 2, 3, 1).reshape(len(frames), -1)  # (N, 768)


def _framediff(clips: torch.Tensor) -> torch.Tensor:
    """(N, L, H, W, 3) uint8 -> (N, 768): mean |frame[t+1] - frame[t]| over the clip,
    per RGB channel, area-averaged to the 16x16 grid, in [0, 1].

    Differences are taken at full resolution and pooled after: pooling first would
    cancel a shape moving inside one cell. The value of a cell says how much changed
    there; its position says where; the sequence over the N steps says when and which
    way.
    """
    if clips.shape[1] < 2:
        raise ValueError(f"framediff needs clips of at least 2 frames, got {clips.shape[1]}")
    x = clips.float()  # (N, L, H, W, 3)
    diff = (x[:, 1:] - x[:, :-1]).abs_().sum(dim=1)  # (N, H, W, 3)
    diff /= 255.0 * (clips.shape[1] - 1)
    grid = F.adaptive_avg_pool2d(diff.permute(0, 3, 1, 2), GRID)  # (N, 3, 16, 16)
    return grid.permute(0, 2, 3, 1).reshape(len(clips), -1)  # (N, 768)


# ---------------------------------------------------------------- torchvision CNNs

def _resnet(name: str) -> torch.nn.Module:
    import torchvision.models as models
    return getattr(models, name)(weights=None)


def _video_resnet(name: str) -> torch.nn.Module:
    import torchvision.models.video as video
    return getattr(video, name)(weights=None)


_CNN = {
    # name: (kind, builder, feature dim, input size, clip_len, mean, std)
    "resnet18": ("appearance", _resnet, 512, (224, 224), 0, _IMAGENET_MEAN, _IMAGENET_STD),
    "resnet50": ("appearance", _resnet, 2048, (224, 224), 0, _IMAGENET_MEAN, _IMAGENET_STD),
    "resnet101": ("appearance", _resnet, 2048, (224, 224), 0, _IMAGENET_MEAN, _IMAGENET_STD),
    "resnet152": ("appearance", _resnet, 2048, (224, 224), 0, _IMAGENET_MEAN, _IMAGENET_STD),
    "r3d_18": ("motion", _video_resnet, 512, (112, 112), 16, _KINETICS_MEAN, _KINETICS_STD),
    "r2plus1d_18": ("motion", _video_resnet, 512, (112, 112), 16, _KINETICS_MEAN, _KINETICS_STD),
    "mc3_18": ("motion", _video_resnet, 512, (112, 112), 16, _KINETICS_MEAN, _KINETICS_STD),
}
_WEIGHT_FREE = {
    "pixels": ("appearance", _pixels, 3 * GRID * GRID, (112, 112), 0),
    "framediff": ("motion", _framediff, 3 * GRID * GRID, (112, 112), 4),
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

    _, builder, dim, size, clip_len, mean, std = _CNN[name]
    with torch.random.fork_rng(devices=[]):  # seed the init without disturbing the caller's RNG
        torch.manual_seed(RANDOM_SEED)
        model = builder(name)
    warning = None
    if weights is None:
        source = f"random (seed {RANDOM_SEED})"
        warning = (f"{kind} extractor {name} has RANDOM weights (no weights file given): its features "
                   f"carry no learned meaning; pass --{kind}-weights PATH with a {name} state dict "
                   "downloaded elsewhere for real features")
        warnings.warn(warning, RuntimeWarning, stacklevel=2)
    else:
        source = _load_weights(model, Path(weights), name)
    model.fc = torch.nn.Identity()  # keep the pooled feature, drop the classifier
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
    # The classifier is discarded, so a file saved without it (or with another number
    # of classes) still fits.
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches raise even when strict=False
        raise UserError(f"weights file {path} does not fit {name} (tensor shapes differ): "
                        f"pass a {name} state dict") from exc
    missing = [k for k in missing if not k.startswith("fc.")]
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
