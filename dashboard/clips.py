"""A clip the user brings, turned into the features a checkpoint expects (no ``st.*``).

    feats = clip_features("clip.mp4", extractors_for(store.attrs, [store.path.parent]), num_frames=35)

The feature store that trained the checkpoint records its extractors in its root attrs
(``appearance``, ``motion``, ``appearance_weights``, ``motion_weights``), written by
``python -m videoqa_core extract``. They are rebuilt exactly: the weight-free ones
(``pixels``/``framediff``, the demo's) always; a CNN with seeded random weights (the
store says ``random (seed 0, cnn.py init)``) the same way; a CNN with a weights file only when that
file is found again (same name, same sha256) in the store's folder or a folder of
``$VIDEOQA_WEIGHTS``. Anything else would give features the model never saw, so it is
refused with a message that says which file is missing.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from videoqa_core.errors import UserError
from videoqa_core.video.reader import VIDEO_EXTENSIONS

MAX_UPLOAD_MB = 50          # also server.maxUploadSize in .streamlit/config.toml
WEIGHTS_ENV = "VIDEOQA_WEIGHTS"


@dataclass
class ClipFeatures:
    appearance: np.ndarray      # (N, Da) float32
    motion: np.ndarray          # (N, Dm) float32
    frames: np.ndarray          # (N, H, W, 3) uint8, the sampled frames for the strip
    notes: list[str]            # e.g. "random weights" warnings to show beside the result


def check_upload(name: str, size: int, *, max_mb: int = MAX_UPLOAD_MB) -> None:
    """Refuse a file that is too large or not named like a video, before decoding it."""
    ext = Path(name).suffix.lower()
    if ext not in VIDEO_EXTENSIONS:
        raise UserError(f"'{name}' is not a video file this reader takes: upload one of {', '.join(VIDEO_EXTENSIONS)}")
    if size > max_mb * 1024 * 1024:
        raise UserError(f"'{name}' is {size / 2**20:.1f} MB, over the {max_mb} MB limit: upload a shorter or smaller clip")
    if size == 0:
        raise UserError(f"'{name}' is empty (0 bytes): upload the video again")


def _find_weights(source: str, search: Sequence[Path]) -> Path | None:
    """The file named in a store's ``<kind>_weights`` attr (``"<name> sha256:<hex>"``)."""
    from videoqa_core.video.extractors import sha256_file
    name, _, digest = source.partition(" sha256:")
    for folder in search:
        cand = Path(folder) / name
        if cand.is_file() and (not digest or sha256_file(cand) == digest):
            return cand
    return None


def weight_folders(store_dir: Path, environ: dict | None = None) -> list[Path]:
    environ = os.environ if environ is None else environ
    return [store_dir] + [Path(p) for p in environ.get(WEIGHTS_ENV, "").split(os.pathsep) if p.strip()]


def extractors_for(attrs: dict, search: Sequence[Path]):
    """(appearance, motion, notes): the checkpoint's own extractors, rebuilt from the
    feature store's attrs, or UserError saying plainly why they cannot be."""
    from videoqa_core.video.extractors import NAMES, get_extractor

    built, notes = [], []
    for kind in ("appearance", "motion"):
        name = attrs.get(kind)
        if not name or name not in NAMES[kind]:
            raise UserError(f"the checkpoint's feature store does not name a known {kind} extractor "
                            f"({name or 'none recorded'}): its features cannot be recomputed for a new clip")
        source = str(attrs.get(f"{kind}_weights", "none"))
        weights = None
        if source.startswith("random"):
            notes.append(f"The {kind} extractor {name} had random weights when the store was made; "
                         f"the same seeded weights are used here.")
        elif source != "none":
            weights = _find_weights(source, search)
            if weights is None:
                folders = ", ".join(str(s) for s in search)
                raise UserError(f"the checkpoint's {kind} extractor {name} used the weights file "
                                f"'{source.split(' sha256:')[0]}', which is not on this machine (looked in {folders}; "
                                f"add a folder with ${WEIGHTS_ENV}): a clip cannot be turned into the features this "
                                f"model was trained on")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the random-weights case is in `notes`
            ext = get_extractor(kind, name, weights=weights)
        if source.startswith("random") and ext.weights_source != source:
            # e.g. "random (seed 0)": torchvision's initialisation, before cnn.py
            raise UserError(f"the checkpoint's {kind} extractor {name} had random weights made another way "
                            f"('{source}', here '{ext.weights_source}'): a clip cannot be given the features "
                            f"this model saw; extract the store again with this version")
        built.append(ext)
    return built[0], built[1], notes


def clip_features(path: str | os.PathLike, appearance, motion, *, num_frames: int) -> ClipFeatures:
    """Decode once (as the extract command does: N uniform samples + a clip around each)
    and run both extractors."""
    import torch

    from videoqa_core.video.extractors import resize_frames
    from videoqa_core.video.reader import decode_video

    size = max(appearance.input_size, motion.input_size, key=lambda s: s[0] * s[1])
    video = decode_video(path, num_frames, clip_len=motion.clip_len, size=size)
    frames = video.sampled_frames()
    app = appearance(resize_frames(torch.from_numpy(frames), appearance.input_size))
    mot = motion(resize_frames(torch.from_numpy(video.clip_frames()), motion.input_size))
    return ClipFeatures(np.asarray(app, np.float32), np.asarray(mot, np.float32), frames, [])


def features_from_upload(name: str, data: bytes, attrs: dict, search: Sequence[Path], *,
                         num_frames: int) -> ClipFeatures:
    """Checks, writes the bytes to a temporary file (the decoders want a path), extracts."""
    check_upload(name, len(data))
    app_x, mot_x, notes = extractors_for(attrs, search)
    with tempfile.TemporaryDirectory(prefix="videoqa-upload-") as tmp:
        path = Path(tmp) / f"clip{Path(name).suffix.lower()}"
        path.write_bytes(data)
        feats = clip_features(path, app_x, mot_x, num_frames=num_frames)
    feats.notes = notes
    return feats
