"""The ``extract`` command: a folder of videos -> an HDF5 feature store.

    python -m videoqa_core extract --videos DIR --out FILE.h5 [--appearance NAME] [--motion NAME]
        [--frames N] [--appearance-weights PATH] [--motion-weights PATH] [--device D]
        [--workers K] [--batch-frames B] [--id-map FILE] [--report PATH]

Flow::

    DIR/**/*.{gif,mp4,mkv,mov,avi,webm,m4v}
      -> video id (file stem, or --id-map)       skip: not in map, duplicate id, already stored
      -> DataLoader workers: decode once          (reader.decode_video: N samples + clips)
                             resize to each extractor's input size
      -> main process: appearance(frames) (N, Da), motion(clips) (N, Dm), batched, on --device
                       (weight-free extractors on the CPU, 2+ workers: in the workers, after decoding)
      -> ResumableStoreWriter                     shards, merged into FILE.h5 atomically
      -> FILE.h5.report.json                      every skipped file with its reason

Video ids: the file stem, which is TGIF-QA's ``gif_name``/``key`` and MSRVTT's
``videoN``. For MSVD pass ``--id-map youtube_mapping.txt`` (lines ``<clip name> vid<N>``):
stems are mapped to ``vid<N>``; a stem absent from the map is reported and skipped.

Broken inputs never stop the run: a file that cannot be decoded (zero bytes, not a
video, truncated, corrupt) is reported with its reason and the exit status stays 0. A
decoder that crashes its worker process is isolated by retrying that one file alone.
Exit status 2 (one-line error) for bad arguments or a folder with no video files.

Resumable and kill-safe (see :class:`videoqa_core.data.features.ResumableStoreWriter`):
completed videos go to shard files every ``--flush-every`` videos, FILE.h5 is only ever
replaced whole, and a rerun skips every id already in FILE.h5 or a shard. Failed files
are not stored, so a rerun tries them again.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from ..errors import UserError
from .reader import VIDEO_EXTENSIONS, VideoReadError, decode_video, is_video_file

DEFAULT_APPEARANCE = "resnet152"  # the paper's appearance network
DEFAULT_MOTION = "r3d_18"  # closest torchvision model to the paper's C3D


def configure(parser: argparse.ArgumentParser) -> None:
    from .extractors import NAMES

    parser.add_argument("--videos", required=True, help="folder of video files (searched recursively)")
    parser.add_argument("--out", required=True, help="feature store to create or resume (.h5)")
    parser.add_argument("--appearance", default=DEFAULT_APPEARANCE, choices=NAMES["appearance"],
                        help=f"appearance extractor (default {DEFAULT_APPEARANCE}; 'pixels' needs no weights)")
    parser.add_argument("--motion", default=DEFAULT_MOTION, choices=NAMES["motion"],
                        help=f"motion extractor (default {DEFAULT_MOTION}; 'framediff' needs no weights)")
    parser.add_argument("--frames", type=int, default=35, help="frames sampled per video (default 35, as for TGIF-QA)")
    parser.add_argument("--appearance-weights", help="local state-dict file for the appearance CNN")
    parser.add_argument("--motion-weights", help="local state-dict file for the motion CNN")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1, ...")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                        help="decoding processes (0 decodes in the main process)")
    parser.add_argument("--batch-frames", type=int, default=64,
                        help="frames per network batch (a motion clip counts its length); lower it if memory runs out")
    parser.add_argument("--id-map", help="file of '<file stem> <video id>' lines (MSVD: youtube_mapping.txt)")
    parser.add_argument("--report", help="failure report path (default: OUT.report.json)")
    parser.add_argument("--flush-every", type=int, default=32, help="videos per shard written to disk (default 32)")


def main(args: argparse.Namespace) -> int:
    import torch

    threads = torch.get_num_threads()
    try:
        return _main(args)
    finally:
        torch.set_num_threads(threads)  # _main may lower it; callers in-process keep theirs


def _main(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from ..data.features import ResumableStoreWriter
    from .extractors import get_extractor

    videos_dir, out = Path(args.videos), Path(args.out)
    if not videos_dir.is_dir():
        raise UserError(f"--videos {videos_dir} is not a folder: pass the folder that holds the video files")
    for name in ("frames", "batch_frames", "flush_every"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.workers < 0:
        raise UserError(f"--workers must be 0 or more, got {args.workers}")
    files = find_videos(videos_dir)
    if not files:
        raise UserError(f"no video files ({' '.join(VIDEO_EXTENSIONS)}) in {videos_dir}: check the --videos folder")
    id_map = read_id_map(Path(args.id_map)) if args.id_map else None
    from ..devices import resolve_device

    device = str(resolve_device(args.device))

    with warnings.catch_warnings():  # printed once below, as a banner, not as a warning line
        warnings.simplefilter("ignore", RuntimeWarning)
        appearance = get_extractor("appearance", args.appearance, weights=args.appearance_weights,
                                   device=device, batch_frames=args.batch_frames)
        motion = get_extractor("motion", args.motion, weights=args.motion_weights,
                               device=device, batch_frames=args.batch_frames)
    if appearance.weights_source == motion.weights_source == "none":
        # These features cost ~1/20 of decoding; extra intra-op threads would only fight
        # the decode workers for the cores (measured 5-10x slower per call on 2 cores).
        torch.set_num_threads(1)
    notes = [e.warning for e in (appearance, motion) if e.warning]
    for note in notes:
        print(f"\n{'!' * 78}\nWARNING: {note}\n{'!' * 78}\n", file=sys.stderr)

    attrs = {
        "appearance": appearance.name, "motion": motion.name, "num_frames": args.frames,
        "appearance_dim": appearance.dim, "motion_dim": motion.dim,
        "appearance_weights": appearance.weights_source, "motion_weights": motion.weights_source,
        "frame_size": (f"appearance {appearance.input_size[0]}x{appearance.input_size[1]}; "
                       f"motion {motion.input_size[0]}x{motion.input_size[1]}, clips of {motion.clip_len}"),
        "warnings": "\n".join(notes),
    }
    writer = ResumableStoreWriter(out, attrs=attrs, flush_every=args.flush_every)
    done = writer.done_ids()

    failed: list[dict] = []
    todo: list[tuple[str, Path]] = []
    seen: dict[str, Path] = {}
    already = 0
    for path in files:
        rel = str(path.relative_to(videos_dir))
        vid = path.stem if id_map is None else id_map.get(path.stem)
        if vid is None:
            failed.append({"video": rel, "reason": f"'{path.stem}' is not in the id map {args.id_map}"})
        elif "/" in vid:
            failed.append({"video": rel, "reason": f"video id '{vid}' contains '/', which HDF5 cannot store"})
        elif vid in seen:
            failed.append({"video": rel, "reason": f"duplicate video id '{vid}' (also {seen[vid].relative_to(videos_dir)})"})
        else:
            seen[vid] = path
            if vid in done:
                already += 1
            else:
                todo.append((vid, path))

    # Weight-free extractors on the CPU run in the decoding workers too, where there are two
    # or more: they cost as much as the decoding, so the main process was the bottleneck
    # (700 demo videos: 63 s with one worker or two; 46 s with both steps in two workers).
    # With one worker, decoding there and computing here overlap (65 s against 79 s for
    # both in the worker). A CNN stays in the main process, on its device, with one copy
    # of its weights.
    in_workers = (args.workers > 1 and device == "cpu"
                  and appearance.weights_source == "none" and motion.weights_source == "none")
    spec = _DecodeSpec(num_frames=args.frames, clip_len=motion.clip_len,
                       appearance_size=appearance.input_size, motion_size=motion.input_size,
                       extractors=(appearance, motion) if in_workers else None)
    stored = 0
    bar = tqdm(total=len(todo), unit="video", desc="extract", file=sys.stderr, mininterval=1.0)

    def handle(item: dict) -> None:
        nonlocal stored
        bar.update(1)
        if "error" in item:
            failed.append({"video": str(Path(item["path"]).relative_to(videos_dir)), "reason": item["error"]})
        else:
            app, mot = item["features"] if "features" in item else _features(item, appearance, motion)
            writer.add(item["vid"], app, mot)
            stored += 1
        bar.set_postfix(failed=len(failed), refresh=False)

    try:
        _run(todo, spec, args.workers, handle)
    except KeyboardInterrupt:
        writer.flush()  # keep what is done; a rerun resumes from here
        raise
    finally:
        bar.close()
    writer.finalize()

    report = {
        "store": str(out), "videos_dir": str(videos_dir),
        "appearance": appearance.name, "motion": motion.name, "num_frames": args.frames,
        "appearance_weights": appearance.weights_source, "motion_weights": motion.weights_source,
        "device": device, "warnings": notes,
        "counts": {"video_files": len(files), "stored_now": stored, "already_stored": already,
                   "failed": len(failed)},
        "failed": failed,
    }
    report_path = Path(args.report) if args.report else out.with_name(out.name + ".report.json")
    _write_json(report_path, report)
    print(f"{out}: stored {stored} new video(s), {already} already there, {len(failed)} failed "
          f"(of {len(files)} video files); report: {report_path}")
    for entry in failed[:10]:
        print(f"  failed: {entry['video']}: {entry['reason']}")
    if len(failed) > 10:
        print(f"  ... and {len(failed) - 10} more in the report")
    return 0


# ---------------------------------------------------------------- decoding in workers

class _DecodeSpec:
    def __init__(self, *, num_frames: int, clip_len: int, appearance_size: tuple[int, int],
                 motion_size: tuple[int, int], extractors=None):
        self.num_frames, self.clip_len = num_frames, clip_len
        self.appearance_size, self.motion_size = appearance_size, motion_size
        self.extractors = extractors   # (appearance, motion) to run in the worker, or None
        # One decode serves both extractors: decode at the larger size, shrink for the other.
        self.decode_size = max(appearance_size, motion_size, key=lambda s: s[0] * s[1])


def _features(item: dict, appearance, motion) -> tuple:
    return appearance(item["frames"]), motion(item["clips"])  # (N, Da), (N, Dm)


def _decode_item(vid: str, path: Path, spec: _DecodeSpec, threads: int) -> dict:
    """A file's frames and clips, or its features where ``spec.extractors`` says so.
    A file that cannot be read gives an "error" item: a worker that raised would end the
    whole run (an extractor's own failure does, as it would in the main process)."""
    item = _decode_frames(vid, path, spec, threads)
    if spec.extractors is not None and "error" not in item:
        item = {"vid": vid, "path": item["path"], "features": _features(item, *spec.extractors)}
    return item


def _decode_frames(vid: str, path: Path, spec: _DecodeSpec, threads: int) -> dict:
    """Never raises: a worker that raised would end the whole run."""
    import torch

    from .extractors import resize_frames

    try:
        video = decode_video(path, spec.num_frames, clip_len=spec.clip_len, size=spec.decode_size,
                             threads=threads)
        frames = resize_frames(torch.from_numpy(video.sampled_frames()), spec.appearance_size)  # (N, H, W, 3)
        clips = resize_frames(torch.from_numpy(video.clip_frames()), spec.motion_size)  # (N, L, h, w, 3)
        return {"vid": vid, "path": str(path), "frames": frames, "clips": clips}
    except VideoReadError as exc:
        return {"vid": vid, "path": str(path), "error": str(exc)}
    except MemoryError:
        return {"vid": vid, "path": str(path), "error": "out of memory while decoding"}
    except Exception as exc:  # an unexpected decoder failure is still one bad file, not a bad run
        return {"vid": vid, "path": str(path), "error": f"{exc.__class__.__name__}: {' '.join(str(exc).split())[:200]}"}


class _Videos:
    """Map-style dataset over (video id, path); a DataLoader over it decodes in workers."""

    def __init__(self, items: list[tuple[str, Path]], spec: _DecodeSpec, threads: int):
        self.items, self.spec, self.threads = items, spec, threads

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        vid, path = self.items[i]
        return _decode_item(vid, path, self.spec, self.threads)


def _identity(item):
    return item


def _worker_init(_):
    import torch
    torch.set_num_threads(1)  # K workers share the cores with the network in the main process


def _loader(items, spec, workers):
    from torch.utils.data import DataLoader

    return DataLoader(_Videos(items, spec, threads=1 if workers else 0), batch_size=None, shuffle=False,
                      num_workers=workers, collate_fn=_identity, worker_init_fn=_worker_init if workers else None,
                      prefetch_factor=2 if workers else None)


def _run(todo, spec, workers, handle) -> None:
    """Decode ``todo`` in order with ``workers`` processes, calling ``handle`` per video.

    A worker killed by its decoder (a segfault on a hostile file) raises in the
    DataLoader without saying which file did it; retrying the next pending file alone in
    one worker either stores it or pins the crash on it, and the rest continue.
    """
    pos = 0
    while pos < len(todo):
        try:
            for item in _loader(todo[pos:], spec, workers):
                handle(item)
                pos += 1
        except RuntimeError as exc:
            if workers == 0 or "worker" not in str(exc).lower():
                raise
            try:
                for item in _loader(todo[pos:pos + 1], spec, 1):
                    handle(item)
            except RuntimeError:
                vid, path = todo[pos]
                handle({"vid": vid, "path": str(path), "error": "the decoder crashed on this file"})
            pos += 1


# ---------------------------------------------------------------- helpers

def find_videos(folder: Path) -> list[Path]:
    """Video files under ``folder`` (recursive, sorted, hidden files skipped)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_video_file(p)
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def read_id_map(path: Path) -> dict[str, str]:
    """``<file stem> <video id>`` per line -> {stem: id}. MSVD's youtube_mapping.txt is
    read by the dataset reader itself, so extracted ids and annotation ids follow one rule."""
    if not path.is_file():
        raise UserError(f"--id-map {path} does not exist: pass a file of '<file stem> <video id>' lines")
    if path.name == "youtube_mapping.txt":
        from ..data.readers import msvd_video_names
        return msvd_video_names(path.parent)
    mapping: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise UserError(f"{path}:{n}: expected '<file stem> <video id>', got {line.strip()!r}")
        mapping[parts[0]] = parts[1]
    if not mapping:
        raise UserError(f"--id-map {path} is empty: pass a file of '<file stem> <video id>' lines")
    return mapping


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
