"""Checkpoints: written atomically, read with ``weights_only=True`` only.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (nothing that
needs code to unpickle):

    format      "videoqa_core/1"
    config      Config.to_dict()            (rebuilds the model)
    model       state_dict
    vocab       list[str]                   (index = token id; 0 <pad>, 1 <unk>)
    answers     list[str] | None            (open-ended answer vocabulary)
    optimizer, scheduler                    state dicts (absent in exported checkpoints)
    epoch       int (epochs completed)
    best        {"metric", "value", "epoch"}
    rng         {"torch": ByteTensor, "python": list, "cuda": [ByteTensor]}
    metrics     the validation metrics of this epoch
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from .errors import UserError

FORMAT = "videoqa_core/1"


def save_checkpoint(obj: dict, path: str | os.PathLike) -> Path:
    """Write to a temporary file in the same folder, fsync, then rename: a crash at any
    moment leaves either the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save({"format": FORMAT, **obj}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def checkpoint_file(path: str | os.PathLike) -> Path:
    """The file a checkpoint argument names: itself, or a run folder's best.pt (else last.pt)."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                return path / name
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    path = checkpoint_file(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist: pass a .pt file or a run folder holding best.pt")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses any global it does not know: this is where a pickle that
        # carries code ends up, before anything in it has run.
        raise UserError(f"checkpoint {path} was refused: it contains Python objects that could run code "
                        f"(only plain tensors/numbers/strings are loaded); re-export it with this tool") from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise UserError(f"checkpoint {path} cannot be read ({str(exc).splitlines()[0][:120]}): the file is truncated or not a checkpoint") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"checkpoint {path} is not a {FORMAT} checkpoint: train one with `python -m videoqa_core train`")
    for key in ("config", "model", "vocab"):
        if key not in ckpt:
            raise UserError(f"checkpoint {path} has no '{key}' entry: it is incomplete; use best.pt or last.pt from a run folder")
    ckpt["path"] = str(path)
    return ckpt


def build_model(ckpt: dict):
    """(Config, model with the checkpoint's weights) — raises UserError on a mismatch."""
    from .config import Config
    from .model.videoqa import VideoQAModel
    cfg = Config.from_dict(ckpt["config"])
    try:
        model = VideoQAModel(cfg.model)
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise UserError(f"checkpoint {ckpt.get('path', '')} does not fit this version's model ({str(exc).splitlines()[0][:160]})") from exc
    return cfg, model
