"""The HDF5 feature store (schema in ``data/README.md``).

Layout of one ``.h5`` file::

    /                      attrs: appearance, motion (extractor names), num_frames,
                                  appearance_dim, motion_dim, plus whatever the extractor
                                  records (weights source, warnings)
    /appearance/<video_id> [N, Da]  float16 or float32
    /motion/<video_id>     [N, Dm]  float16 or float32

A video is in the store only when both of its datasets are. Files are written whole to a
temporary name and renamed (:func:`write_store`), so a reader never sees a half-written
store.

Reading is lazy: :class:`FeatureStore` opens the file on first access *in each process*
(h5py handles must not cross ``fork``), once per DataLoader worker, never per item.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

import h5py
import numpy as np

from ..errors import UserError


class FeatureStore:
    """Read-only, lazily opened view of one feature file."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"feature store {self.path} does not exist: run `python -m videoqa_core extract` first or pass the right --features path")
        self._file: h5py.File | None = None
        self._pid: int | None = None
        with self._open_raw() as f:
            self.attrs = {k: _plain(v) for k, v in f.attrs.items()}
            if "appearance" not in f or "motion" not in f:
                raise UserError(f"{self.path} is not a feature store (no /appearance and /motion groups)")
            self._ids = sorted(set(f["appearance"].keys()) & set(f["motion"].keys()))
            first = self._ids[0] if self._ids else None
            self.appearance_dim = int(f["appearance"][first].shape[1]) if first else int(self.attrs.get("appearance_dim", 0))
            self.motion_dim = int(f["motion"][first].shape[1]) if first else int(self.attrs.get("motion_dim", 0))
            self.num_frames = int(f["appearance"][first].shape[0]) if first else int(self.attrs.get("num_frames", 0))
        self._idset = set(self._ids)

    def _open_raw(self) -> h5py.File:
        try:
            return h5py.File(self.path, "r")
        except OSError as exc:
            raise UserError(f"cannot open feature store {self.path} ({exc.__class__.__name__}): the file is damaged or not HDF5; re-run extract") from exc

    def _handle(self) -> h5py.File:
        pid = os.getpid()
        if self._file is None or self._pid != pid:
            self._file = self._open_raw()
            self._pid = pid
        return self._file

    def __getstate__(self):  # pickled into DataLoader workers: never ship an open handle
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        return state

    def ids(self) -> list[str]:
        return list(self._ids)

    def __contains__(self, video_id: str) -> bool:
        return video_id in self._idset

    def __len__(self) -> int:
        return len(self._ids)

    def get(self, video_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(appearance [N, Da], motion [N, Dm]) as float32."""
        if video_id not in self._idset:
            raise UserError(f"video '{video_id}' is not in feature store {self.path}: extract it or check the annotation's video ids")
        f = self._handle()
        return (np.asarray(f["appearance"][video_id], dtype=np.float32),
                np.asarray(f["motion"][video_id], dtype=np.float32))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_store(path: str | os.PathLike,
                videos: Iterable[tuple[str, np.ndarray, np.ndarray]],
                attrs: Mapping[str, object] | None = None,
                dtype: str = "float16") -> Path:
    """Write ``(video_id, appearance [N,Da], motion [N,Dm])`` items to a new store, atomically.

    The file is written under a temporary name in the same folder and renamed over
    ``path`` only once complete, so an interruption leaves the previous file untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    n_frames = da = dm = None
    try:
        with h5py.File(tmp, "w") as f:
            ga, gm = f.create_group("appearance"), f.create_group("motion")
            for vid, app, mot in videos:
                if "/" in vid:
                    raise UserError(f"video id '{vid}' contains '/', which HDF5 cannot use as a name")
                app, mot = np.asarray(app), np.asarray(mot)
                if app.ndim != 2 or mot.ndim != 2 or app.shape[0] != mot.shape[0]:
                    raise ValueError(f"{vid}: appearance {app.shape} and motion {mot.shape} must be [N, D] with the same N")
                ga.create_dataset(vid, data=app.astype(dtype))
                gm.create_dataset(vid, data=mot.astype(dtype))
                n_frames, da, dm = app.shape[0], app.shape[1], mot.shape[1]
            for k, v in (attrs or {}).items():
                f.attrs[k] = v
            if n_frames is not None:
                f.attrs.setdefault("num_frames", n_frames)
                f.attrs.setdefault("appearance_dim", da)
                f.attrs.setdefault("motion_dim", dm)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
