"""Open any video a user brings, sample frames uniformly, decode once.

    from videoqa_core.video.reader import read_frames
    frames = read_frames("clip.mp4", 35, size=(224, 224))   # (35, 224, 224, 3) uint8 RGB

Backends, chosen per file:

- **decord** for mp4/mkv/mov/avi/webm/m4v: random access by frame index and resizing
  inside the decoder (several times faster than decoding full frames and resizing after).
  decord 0.6.0 applies the container's display matrix (rotation) itself; a test pins that.
- **PyAV** for GIF (decord cannot measure a GIF's frame count) and as the fallback for any
  file decord fails on. PyAV decodes sequentially and keeps only the frames needed;
  rotation comes from each frame's display-matrix side data and is applied with
  ``np.rot90``.

Sampling is by frame index, not by timestamp: GIF frame delays vary and TGIF-QA's
features were sampled by index too (see :func:`sample_indices`).

Anything that cannot be decoded (zero bytes, random bytes, truncated container, a decode
error midway, a GIF with its trailer cut off) raises :class:`VideoReadError` with a short
reason; callers that process many files (``extract``) report it and move on. A file that
decodes but holds far fewer frames than its header promises (the frame count of mp4 / mov
/ avi; for Matroska / WebM, which keep none, duration x frame rate) was cut short and is
refused too, rather than stored as a shorter video.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError

try:  # decord is an accelerator, not a requirement: PyAV reads everything it reads.
    import decord
    decord.logging.set_level(decord.logging.QUIET)  # its C++ log repeats our reasons
except ImportError:  # pragma: no cover - decord is in requirements.txt
    decord = None

VIDEO_EXTENSIONS = (".gif", ".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v")
# decord fails on every GIF ("broken metadata"); going straight to PyAV saves a failed open.
_PYAV_FIRST = (".gif",)


class VideoReadError(UserError):
    """A file that cannot be decoded as a video; the message is the reason."""


def is_video_file(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith(".")


def sample_indices(total: int, num_frames: int) -> list[int]:
    """Uniform sampling: the centre frame of each of ``num_frames`` equal segments.

    ``index_i = floor((i + 0.5) * total / num_frames)`` for ``i = 0..num_frames-1``.

    Short videos (``total < num_frames``) use the same rule, which then repeats frames
    nearest-neighbour style: every frame appears ``num_frames // total`` or one more
    times, in order (a 3-frame clip sampled to 7 gives ``[0, 0, 1, 1, 1, 2, 2]``). The
    model always sees N time steps; repeating keeps each step a real frame rather than
    padding with zeros the model would have to learn to ignore.
    """
    if total <= 0:
        raise ValueError(f"a video needs at least one frame, got {total}")
    if num_frames <= 0:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    return [min(total - 1, int((i + 0.5) * total / num_frames)) for i in range(num_frames)]


def clip_indices(centers: list[int], clip_len: int, total: int) -> np.ndarray:
    """(N, clip_len) frame indices of clips centred on each sampled frame.

    Clip ``i`` covers ``c - clip_len//2 .. c + (clip_len+1)//2 - 1`` (16 frames: c-8..c+7,
    the C3D convention) clamped to ``[0, total-1]``: near the ends the edge frame repeats,
    so every clip has exactly ``clip_len`` frames.
    """
    offsets = np.arange(clip_len) - clip_len // 2  # (L,)
    return np.clip(np.asarray(centers)[:, None] + offsets[None, :], 0, total - 1)  # (N, L)


@dataclass
class DecodedVideo:
    """The frames one video needs, decoded once, shared by appearance and motion.

    frames:  (U, H, W, 3) uint8 RGB, the distinct frames needed, in time order
    sample:  (N,) positions into ``frames`` of the N uniformly sampled frames
    clips:   (N, L) positions into ``frames`` of the clip around each sampled frame
             (L = 0 when no clips were asked for)
    total:   frames in the video
    backend: "decord" or "pyav"
    """

    frames: np.ndarray
    sample: np.ndarray
    clips: np.ndarray
    total: int
    backend: str

    def sampled_frames(self) -> np.ndarray:
        return self.frames[self.sample]  # (N, H, W, 3)

    def clip_frames(self) -> np.ndarray:
        return self.frames[self.clips]  # (N, L, H, W, 3)


def decode_video(path: str | os.PathLike, num_frames: int = 35, *, clip_len: int = 0,
                 size: tuple[int, int] | None = None, backend: str = "auto",
                 threads: int = 0) -> DecodedVideo:
    """Decode the frames for ``num_frames`` uniform samples and their clips, once.

    ``size=(H, W)`` resizes while decoding (after rotation: the output is H x W whatever
    the stored orientation). ``backend`` is "auto" (decord, PyAV for GIF and on failure),
    "decord" or "pyav". ``threads`` is the decoder's thread count (0: its default); the
    extract command's DataLoader workers pass 1 so K workers use K cores, not K x cores.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise VideoReadError("empty file (0 bytes)")
    if backend not in ("auto", "decord", "pyav"):
        raise ValueError(f"backend must be auto, decord or pyav, not {backend!r}")
    use_decord = decord is not None and (
        backend == "decord" or (backend == "auto" and path.suffix.lower() not in _PYAV_FIRST))
    if use_decord:
        # a file FFmpeg cannot even open fails here, without decord's C++ log noise
        promised = _probe(path)
        try:
            video = _decode_decord(path, num_frames, clip_len, size, threads)
            # short of what the header promises: PyAV counts the packets itself and decides
            _check_length(video.total, promised)
            return video
        except Exception as exc:  # decord raises several unrelated types; all mean "try PyAV"
            if backend == "decord":
                raise VideoReadError(f"decord cannot read it: {_first_line(exc)}") from exc
    return _decode_pyav(path, num_frames, clip_len, size, threads)


def read_frames(path: str | os.PathLike, num_frames: int = 35, *,
                size: tuple[int, int] | None = None, backend: str = "auto") -> np.ndarray:
    """(num_frames, H, W, 3) uint8 RGB frames sampled uniformly (:func:`sample_indices`),
    rotation applied, resized to ``size=(H, W)`` while decoding when given."""
    return decode_video(path, num_frames, size=size, backend=backend).sampled_frames()


def read_clip_frames(path: str | os.PathLike, num_frames: int = 35, clip_len: int = 16, *,
                     size: tuple[int, int] | None = None, backend: str = "auto") -> np.ndarray:
    """(num_frames, clip_len, H, W, 3) uint8: the clip around each sampled frame
    (:func:`clip_indices`). Use :func:`decode_video` to get frames and clips from one decode."""
    return decode_video(path, num_frames, clip_len=clip_len, size=size, backend=backend).clip_frames()


def _plan(total: int, num_frames: int, clip_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct frame indices to decode, and positions of samples/clips among them."""
    centers = sample_indices(total, num_frames)
    clips = clip_indices(centers, clip_len, total) if clip_len > 0 else np.zeros((num_frames, 0), np.int64)
    needed = np.unique(np.concatenate([np.asarray(centers), clips.ravel()]))  # (U,) sorted
    return needed, np.searchsorted(needed, centers), np.searchsorted(needed, clips)


def _decode_decord(path, num_frames, clip_len, size, threads) -> DecodedVideo:
    kwargs = {"num_threads": threads}
    if size is not None:
        kwargs.update(height=int(size[0]), width=int(size[1]))
    vr = decord.VideoReader(str(path), **kwargs)
    total = len(vr)
    if total <= 0:
        raise VideoReadError("no frames")
    needed, sample, clips = _plan(total, num_frames, clip_len)
    frames = vr.get_batch(needed.tolist()).asnumpy()  # (U, H, W, 3)
    del vr
    return DecodedVideo(frames=np.ascontiguousarray(frames), sample=sample, clips=clips,
                        total=total, backend="decord")


def _decode_pyav(path, num_frames, clip_len, size, threads) -> DecodedVideo:
    import av

    if path.suffix.lower() == ".gif":
        _check_gif_trailer(path)
    try:
        total, promised = _count_packets(path)
        if total <= 0:
            raise VideoReadError("no video frames")
        _check_length(total, promised)
        decoded, frames = _pyav_pass(path, total, num_frames, clip_len, size, threads)
        if decoded < total - _slack(total):
            # Frame-threaded decoding hides the error of a damaged packet; the missing
            # frames are the evidence.
            raise VideoReadError(f"corrupt: {decoded} of {total} frames decode")
        if decoded != total:
            # A packet may carry no frame: sample again against what really decoded.
            if decoded <= 0:
                raise VideoReadError("no frame could be decoded")
            total = decoded
            _, frames = _pyav_pass(path, total, num_frames, clip_len, size, threads)
    except (av.FFmpegError, OSError, ValueError, RuntimeError) as exc:
        raise VideoReadError(f"cannot decode: {_first_line(exc)}") from exc
    needed, sample, clips = _plan(total, num_frames, clip_len)
    return DecodedVideo(frames=np.stack(frames), sample=sample, clips=clips, total=total, backend="pyav")


def _probe(path: Path) -> tuple[int, bool]:
    """Open with FFmpeg; return the frames the header promises (see :func:`_promised`)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError("no video stream (audio or data only)")
            return _promised(container, container.streams.video[0])
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoReadError(f"cannot open: {_first_line(exc)}") from exc


def _promised(container, stream) -> tuple[int, bool]:
    """(frames, exact): what the header says the file holds, 0 when it says nothing.

    mp4 / mov / avi store a frame count (exact). Matroska / WebM store only a duration
    (written at the start, so a file cut short keeps the whole video's), from which
    duration x frame rate estimates the count; a variable frame rate can put that
    estimate off by some percent, never by half."""
    n = int(stream.frames or 0)
    if n > 0:
        return n, True
    if "matroska" in (container.format.name or "") and container.duration and stream.average_rate:
        return int(round(container.duration / 1e6 * float(stream.average_rate))), False
    return 0, False


def _check_length(total: int, promised: tuple[int, bool]) -> None:
    """Refuse a file holding far fewer frames than its header promises: it was cut short."""
    n, exact = promised
    if n <= 0:
        return
    if exact and total < n - _slack(n):
        raise VideoReadError(f"truncated: the header lists {n} frames, the file holds {total}")
    if not exact and total < n // 2:
        raise VideoReadError(f"truncated: the header's duration means about {n} frames, the file holds {total}")


def _slack(n: int) -> int:
    """Frames a whole file may miss against its own count (edit lists, a last empty
    packet) before we call it truncated; real truncation loses far more."""
    return max(2, n // 50)


def _count_packets(path: Path) -> tuple[int, tuple[int, bool]]:
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise VideoReadError("no video stream (audio or data only)")
        stream = container.streams.video[0]
        promised = _promised(container, stream)
        # Demuxing without decoding is cheap and, unlike stream.frames, always known.
        return sum(1 for packet in container.demux(stream) if packet.size > 0), promised


def _pyav_pass(path, total, num_frames, clip_len, size, threads) -> tuple[int, list[np.ndarray]]:
    import av

    needed = set(_plan(total, num_frames, clip_len)[0].tolist())
    frames: list[np.ndarray] = []
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if threads != 1:
            stream.thread_type = "AUTO"
        fallback_rotation = _metadata_rotation(stream)
        for frame in container.decode(stream):
            if count in needed:
                frames.append(_to_rgb(frame, size, fallback_rotation))
            count += 1
    return count, frames


def _to_rgb(frame, size, fallback_rotation: int) -> np.ndarray:
    rotation = _normalise_rotation(getattr(frame, "rotation", 0) or fallback_rotation)
    if size is None:
        rgb = frame.to_ndarray(format="rgb24")
    else:
        h, w = int(size[0]), int(size[1])
        if rotation in (90, 270):  # resize in stored orientation so the rotated frame is H x W
            h, w = w, h
        rgb = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
    if rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))  # counter-clockwise
    return rgb


def _metadata_rotation(stream) -> int:
    """Counter-clockwise degrees from the legacy 'rotate' tag (which counts clockwise);
    used only where the frames carry no display matrix."""
    try:
        return -int(float(stream.metadata.get("rotate", 0)))
    except (TypeError, ValueError):
        return 0


def _normalise_rotation(degrees: float) -> int:
    """Snap to 0/90/180/270 counter-clockwise; display matrices hold e.g. -90.0 or 89.99."""
    return int(round(float(degrees) / 90.0)) % 4 * 90


def rotate_frames(frames: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate (…, H, W, C) frames counter-clockwise by a multiple of 90 degrees (the
    display-matrix convention of FFmpeg and PyAV's ``VideoFrame.rotation``)."""
    k = _normalise_rotation(degrees) // 90
    return np.ascontiguousarray(np.rot90(frames, k=k, axes=(-3, -2))) if k else frames


def _check_gif_trailer(path: Path) -> None:
    # A GIF ends with the trailer byte ';'. A cut-off GIF still decodes its first frames
    # (the last one half-drawn), so without this check it would be stored as if whole.
    with open(path, "rb") as fh:
        head = fh.read(6)
        if head[:3] != b"GIF":
            raise VideoReadError("not a GIF (bad signature)")
        fh.seek(max(0, path.stat().st_size - 64))
        tail = fh.read().rstrip(b"\x00\r\n ")  # padding some writers add after the trailer
    if not tail.endswith(b";"):
        raise VideoReadError("truncated GIF (no trailer byte)")


def _first_line(exc: BaseException) -> str:
    # FFmpeg errors carry errno + the file name in str(); the reason alone reads better.
    text = getattr(exc, "strerror", None) or str(exc)
    text = " ".join(str(text).split()) or exc.__class__.__name__
    return text[:200]


def write_video(path: str | os.PathLike, frames: np.ndarray, *, fps: int = 10, rotation: int = 0) -> Path:
    """Write (T, H, W, 3) uint8 RGB frames as a GIF (by extension) or an H.264 video.

    ``rotation`` (counter-clockwise degrees, video containers only) is stored as the
    display matrix, as phones do, so the file plays rotated by that much. For tests and
    the synthetic benchmark; H.264 needs even H and W.
    """
    import av

    path = Path(path)
    frames = np.asarray(frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape}")
    gif = path.suffix.lower() == ".gif"
    codec = "gif" if gif else ("libx264" if "libx264" in av.codecs_available else "mpeg4")
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "rgb8" if gif else "yuv420p"
        if rotation and not gif:
            stream.set_display_rotation(rotation)
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
