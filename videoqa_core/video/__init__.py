"""Video: decoding and frame sampling (reader), feature extractors, the extract command.

``read_frames`` / ``decode_video`` open any supported file; ``get_extractor`` turns frames
into features; ``python -m videoqa_core extract`` fills a feature store from a folder.
"""
from .reader import (VIDEO_EXTENSIONS, DecodedVideo, VideoReadError, clip_indices, decode_video, write_video,
                     is_video_file, read_clip_frames, read_frames, rotate_frames, sample_indices)

__all__ = ["VIDEO_EXTENSIONS", "DecodedVideo", "VideoReadError", "clip_indices", "decode_video",
           "is_video_file", "read_clip_frames", "read_frames", "rotate_frames", "sample_indices", "write_video",
           "get_extractor"]


def get_extractor(*args, **kwargs):
    """See :func:`videoqa_core.video.extractors.get_extractor` (imported lazily: it needs torch)."""
    from .extractors import get_extractor as _get
    return _get(*args, **kwargs)
