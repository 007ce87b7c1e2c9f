"""A checkpoints root for the dashboard tests, trained once per test session.

    from tests.dashboard_fixtures import checkpoints_root   # a pytest fixture

Layout, the same as the demo's (``checkpoints/demo/<task>/<run>/best.pt`` with the
predictions file and metrics beside it)::

    ROOT/tiny/count/Attvt-all/      best.pt  predictions_test.parquet  metrics_test.json
    ROOT/tiny/action/Attvt-all/     (multiple choice, the full model)
    ROOT/tiny/action/Mv+Mt/         (multiple choice, no self-/co-attention: the ablation)
    ROOT/tiny/frameqa/Attvt-all/    (open-ended; its config names no video folder)
    ROOT/data/...                   annotations, feature stores, GIF videos

Count and action checkpoints store a ``data.videos`` folder of small GIFs (one per video
id) so the frame strip has frames; the frameqa one has none, so the "no video file" path
is exercised too. The count/action stores name the weight-free ``pixels``/``framediff``
extractors of the real demo, but their dims are the tiny 6/5, so an uploaded clip's
817/880-dim features are refused with a clear message; the frameqa store names a CNN whose
weights file is absent. :func:`make_pixel_checkpoint` trains on real pixels/framediff features so
an upload runs end to end.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import COLORS, make_tgif_dataset, overrides, tiny_train_config

_BUILT: dict[str, Path] = {}


def write_gifs(folder: Path, names: list[str], frames: int = 8, size: int = 32, seed: int = 0) -> Path:
    """One small GIF per name: a coloured square moving left to right."""
    from videoqa_core.video.reader import write_video

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    palette = np.array([[230, 40, 40], [40, 200, 60], [50, 80, 230], [230, 220, 40]], np.uint8)
    for name in names:
        colour = palette[rng.integers(len(palette))]
        clip = np.full((frames, size, size, 3), 16, np.uint8)
        for t in range(frames):
            x = int(t * (size - 8) / max(1, frames - 1))
            clip[t, 12:20, x:x + 8] = colour
        write_video(folder / f"{name}.gif", clip)
    return folder


def _run_cli(argv: list[str]) -> None:
    from videoqa_core.__main__ import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = main(argv)
    if status != 0:
        raise RuntimeError(f"`python -m videoqa_core {' '.join(argv)}` failed ({status}):\n{out.getvalue()}")


def train_and_evaluate(run: Path, *, dataset: str, task: str, ann: Path, store: Path,
                       videos: Path | None = None, variant: str = "Attvt-all", epochs: int = 1) -> Path:
    cfg = tiny_train_config(dataset, task, ann, store, epochs=epochs)
    cfg.model.variant = variant
    extra = [f"data.videos={videos}"] if videos else []
    _run_cli(["train", "--dataset", dataset, "--task", task, "--annotations", str(ann), "--features", str(store),
              "--out", str(run), *overrides(cfg), *extra])
    _run_cli(["evaluate", "--checkpoint", str(run / "best.pt"), "--split", "test", "--device", "cpu"])
    return run / "best.pt"


PIXEL_ATTRS = {"appearance": "pixels", "motion": "framediff", "appearance_weights": "none", "motion_weights": "none"}
# A store made with a CNN whose weights file is not on this machine: uploads must say so.
MISSING_WEIGHTS_ATTRS = {"appearance": "resnet18", "motion": "framediff",
                         "appearance_weights": "resnet18-f37072fd.pth sha256:" + "0" * 64, "motion_weights": "none"}


def _set_attrs(store: Path, attrs: dict) -> None:
    """Name the extractors in the store's root attrs, as `extract` writes them."""
    import h5py

    with h5py.File(store, "a") as f:
        f.attrs.update(attrs)


def build_root(root: Path) -> Path:
    data = root / "data"
    ckpts = root / "ckpts"
    for task in ("count", "action", "frameqa"):
        ann, store = make_tgif_dataset(data / task, task)
        _set_attrs(store, MISSING_WEIGHTS_ATTRS if task == "frameqa" else PIXEL_ATTRS)
        videos = None
        if task != "frameqa":
            videos = write_gifs(data / task / "videos", [f"tumblr_v{v:03d}" for v in range(24)])
        variants = ["Attvt-all", "Mv+Mt"] if task == "action" else ["Attvt-all"]
        for variant in variants:
            train_and_evaluate(ckpts / "tiny" / task / variant, dataset="tgif-qa", task=task, ann=ann,
                               store=store, videos=videos, variant=variant)
    return ckpts


def make_pixel_checkpoint(root: Path, *, num_frames: int = 5) -> Path:
    """A count checkpoint trained on real `pixels`/`framediff` features (817-d / 880-d) of GIFs,
    so an uploaded clip goes through the checkpoint's own extractors end to end."""
    from videoqa_core.data.features import write_store
    from videoqa_core.video.extractors import get_extractor
    from videoqa_core.video.reader import decode_video
    from videoqa_core.video.extractors import resize_frames
    import torch

    videos = write_gifs(root / "pix" / "videos", [f"tumblr_v{v:03d}" for v in range(24)], frames=8)
    ann, _ = make_tgif_dataset(root / "pix", "count", frames=num_frames)
    app_x, mot_x = get_extractor("appearance", "pixels"), get_extractor("motion", "framediff")
    feats = []
    for v in range(24):
        d = decode_video(videos / f"tumblr_v{v:03d}.gif", num_frames, clip_len=mot_x.clip_len)
        feats.append((f"tumblr_v{v:03d}", app_x(resize_frames(torch.from_numpy(d.sampled_frames()), app_x.input_size)),
                      mot_x(resize_frames(torch.from_numpy(d.clip_frames()), mot_x.input_size))))
    store = write_store(root / "pix" / "pixels.h5", feats,
                        attrs={"appearance": "pixels", "motion": "framediff", "appearance_weights": "none",
                               "motion_weights": "none", "num_frames": num_frames})
    return train_and_evaluate(root / "pixckpts" / "count" / "Attvt-all", dataset="tgif-qa", task="count",
                              ann=ann, store=store, videos=videos)


@pytest.fixture(scope="session")
def checkpoints_root(tmp_path_factory) -> Path:
    """Trained once per session even when several test modules import this fixture."""
    if "root" not in _BUILT:
        _BUILT["root"] = build_root(tmp_path_factory.mktemp("dashboard"))
    return _BUILT["root"]


@pytest.fixture(scope="session")
def pixel_checkpoint(tmp_path_factory) -> Path:
    if "pixel" not in _BUILT:
        _BUILT["pixel"] = make_pixel_checkpoint(tmp_path_factory.mktemp("pixel"))
    return _BUILT["pixel"]


__all__ = ["checkpoints_root", "pixel_checkpoint", "build_root", "write_gifs", "train_and_evaluate", "COLORS"]
