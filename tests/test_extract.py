"""The extract command: real and broken files, ids, resume, SIGKILL mid-run, crashed decoders.

    python -m pytest tests/test_extract.py -q
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from videoqa_core.__main__ import main as cli
from videoqa_core.data.features import FeatureStore, ResumableStoreWriter
from videoqa_core.errors import UserError
from videoqa_core.video import extract as extract_mod
from videoqa_core.video.extractors import GRID, get_extractor
from videoqa_core.video.reader import write_video

ROOT = Path(__file__).resolve().parents[1]
REAL_VIDEOS = ROOT.parent / "shared/data/real/videos"
needs_real = pytest.mark.skipif(not REAL_VIDEOS.is_dir(), reason=f"real videos not found at {REAL_VIDEOS}")
FAST = ["--appearance", "pixels", "--motion", "framediff"]
PIXELS, FRAMEDIFF = get_extractor("appearance", "pixels"), get_extractor("motion", "framediff")


def _shapes(t: int, seed: int) -> np.ndarray:
    """(t, 64, 64, 3): a coloured square wandering over a dark background."""
    rng = np.random.default_rng(seed)
    frames = np.full((t, 64, 64, 3), 20, np.uint8)
    colour = rng.integers(60, 255, 3)
    x, y = rng.integers(0, 48, 2)
    for i in range(t):
        frames[i, y:y + 16, (x + 2 * i) % 48:(x + 2 * i) % 48 + 16] = colour
    return frames


def _folder(tmp_path: Path, with_real: bool) -> Path:
    videos = tmp_path / "videos"
    (videos / "nested").mkdir(parents=True)
    write_video(videos / "shapes_a.gif", _shapes(20, 1))
    write_video(videos / "nested" / "shapes_b.mp4", _shapes(30, 2))
    write_video(videos / "turned.MOV", _shapes(12, 3), rotation=90)  # extension case ignored
    if with_real:
        for f in REAL_VIDEOS.iterdir():  # read in place through links, never copied
            (videos / f.name).symlink_to(f)
    good = (videos / "nested" / "shapes_b.mp4").read_bytes()
    (videos / "broken.mp4").write_bytes(good[: len(good) // 2])
    (videos / "empty.mkv").write_bytes(b"")
    (videos / "notes.mp4").write_text("not a video\n")
    (videos / "readme.txt").write_text("ignored: not a video extension\n")
    (videos / ".hidden.mp4").write_bytes(b"\0" * 10)  # e.g. macOS AppleDouble files: ignored
    return videos


def _run(*argv: str) -> int:
    return cli(["extract", *argv])


@needs_real
def test_extract_real_and_broken(tmp_path, capsys):
    videos = _folder(tmp_path, with_real=True)
    out = tmp_path / "feats.h5"
    assert _run("--videos", str(videos), "--out", str(out), "--frames", "12", "--workers", "2", *FAST) == 0
    store = FeatureStore(out)
    expected = {"shapes_a", "shapes_b", "turned", "4", "flipping_a_pancake", "video_0"}
    assert set(store.ids()) == expected
    for vid in expected:
        app, mot = store.get(vid)
        assert app.shape == (12, PIXELS.dim) and mot.shape == (12, FRAMEDIFF.dim)
        cells = 3 * GRID * GRID  # the grid parts are in [0, 1]; the blob summaries are signed
        assert np.isfinite(app).all() and app[:, :cells].max() <= 1.0 and mot[:, :cells].min() >= 0
    assert store.get("flipping_a_pancake")[1].sum() > 0  # a real clip moves
    assert store.attrs["appearance"] == "pixels" and store.attrs["num_frames"] == 12
    # two workers compute the weight-free features themselves; in the main process
    # (--workers 1) they come out the same, bit for bit
    one = tmp_path / "one.h5"
    assert _run("--videos", str(videos), "--out", str(one), "--frames", "12", "--workers", "1", *FAST) == 0
    again = FeatureStore(one)
    for vid in expected:
        assert all(np.array_equal(a, b) for a, b in zip(store.get(vid), again.get(vid)))
    assert store.attrs["appearance_weights"] == "none"

    report = json.loads((tmp_path / "feats.h5.report.json").read_text())
    failed = {entry["video"]: entry["reason"] for entry in report["failed"]}
    assert set(failed) == {"broken.mp4", "empty.mkv", "notes.mp4"}
    assert "0 bytes" in failed["empty.mkv"]
    assert report["counts"] == {"video_files": 9, "stored_now": 6, "already_stored": 0, "failed": 3}
    printed = capsys.readouterr().out
    assert "stored 6 new video(s)" in printed and "broken.mp4" in printed


def test_rerun_skips_stored_and_refuses_other_options(tmp_path, capsys):
    videos = _folder(tmp_path, with_real=False)
    out = tmp_path / "f.h5"
    assert _run("--videos", str(videos), "--out", str(out), "--frames", "8", "--workers", "0", *FAST) == 0
    first = FeatureStore(out)
    before = {v: first.get(v) for v in first.ids()}
    assert set(before) == {"shapes_a", "shapes_b", "turned"}
    assert _run("--videos", str(videos), "--out", str(out), "--frames", "8", "--workers", "0", *FAST) == 0
    report = json.loads((tmp_path / "f.h5.report.json").read_text())
    assert report["counts"]["stored_now"] == 0 and report["counts"]["already_stored"] == 3
    after = FeatureStore(out)
    for vid, (app, mot) in before.items():
        np.testing.assert_array_equal(after.get(vid)[0], app)
    assert not (tmp_path / "f.h5.partial").exists()

    capsys.readouterr()
    assert _run("--videos", str(videos), "--out", str(out), "--frames", "9", *FAST) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "num_frames" in err and len(err.splitlines()) == 1


def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys):
    empty = tmp_path / "nothing"
    empty.mkdir()
    (empty / "a.txt").write_text("x")
    cases = [
        ["--videos", str(empty), "--out", str(tmp_path / "o.h5")],
        ["--videos", str(tmp_path / "missing"), "--out", str(tmp_path / "o.h5")],
        ["--videos", str(empty), "--out", str(tmp_path / "o.h5"), "--frames", "0"],
    ]
    for argv in cases:
        assert _run(*argv, *FAST) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and len(err.splitlines()) == 1
    assert not (tmp_path / "o.h5").exists()


def test_id_map_for_msvd_style_names(tmp_path):
    videos = tmp_path / "v"
    videos.mkdir()
    write_video(videos / "-4wsuPCjDBc_5_15.gif", _shapes(10, 4))
    write_video(videos / "unmapped_clip.gif", _shapes(10, 5))
    mapping = tmp_path / "youtube_mapping.txt"
    mapping.write_text("-4wsuPCjDBc_5_15 vid1\n-7KMZQEsJW4_205_208 vid2\n")
    out = tmp_path / "msvd.h5"
    assert _run("--videos", str(videos), "--out", str(out), "--id-map", str(mapping), "--frames", "5",
                "--workers", "0", *FAST) == 0
    assert FeatureStore(out).ids() == ["vid1"]
    report = json.loads((tmp_path / "msvd.h5.report.json").read_text())
    assert [e["video"] for e in report["failed"]] == ["unmapped_clip.gif"]
    assert "not in the id map" in report["failed"][0]["reason"]


def test_crashed_decoder_is_isolated(tmp_path, monkeypatch):
    # A decoder segfault kills its worker process; simulate one on a single file. Workers
    # are forked, so they inherit this patch.
    real = extract_mod._decode_item

    def crashing(vid, path, spec, threads):
        if vid == "shapes_a":
            os._exit(1)
        return real(vid, path, spec, threads)

    monkeypatch.setattr(extract_mod, "_decode_item", crashing)
    videos = _folder(tmp_path, with_real=False)
    out = tmp_path / "c.h5"
    assert _run("--videos", str(videos), "--out", str(out), "--frames", "6", "--workers", "2", *FAST) == 0
    assert set(FeatureStore(out).ids()) == {"shapes_b", "turned"}
    report = json.loads((tmp_path / "c.h5.report.json").read_text())
    reasons = {e["video"]: e["reason"] for e in report["failed"]}
    assert reasons["shapes_a.gif"] == "the decoder crashed on this file"
    assert report["counts"]["stored_now"] == 2


def test_writer_survives_a_failed_merge(tmp_path, monkeypatch):
    attrs = {"appearance": "pixels", "motion": "framediff", "num_frames": 2}
    path = tmp_path / "s.h5"
    writer = ResumableStoreWriter(path, attrs=attrs, flush_every=1)
    assert FeatureStore(path).ids() == []  # the store exists and opens before any video
    writer.add("a", np.ones((2, 4)), np.ones((2, 3)))  # first shard merges at once
    assert FeatureStore(path).ids() == ["a"]

    real_replace = os.replace

    def dying_replace(src, dst):  # killed at the worst moment: the merged store is written, not renamed
        if Path(dst) == path:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        writer.add("b", np.ones((2, 4)), np.ones((2, 3)))
    monkeypatch.undo()
    assert FeatureStore(path).ids() == ["a"]  # the old store, whole
    (tmp_path / "s.h5.999.tmp").write_bytes(b"half a file")  # what a SIGKILL there would leave

    resumed = ResumableStoreWriter(path, attrs=attrs, flush_every=1)
    assert resumed.done_ids() == {"a", "b"}  # b survives in its shard
    assert not list(tmp_path.glob("s.h5.*.tmp"))  # temporaries cleaned
    resumed.finalize()
    store = FeatureStore(path)
    assert store.ids() == ["a", "b"] and store.get("b")[0].shape == (2, 4)
    with pytest.raises(UserError, match="num_frames"):
        ResumableStoreWriter(path, attrs=dict(attrs, num_frames=3))


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(tmp_path):
    videos = tmp_path / "v"
    videos.mkdir()
    for i in range(40):
        write_video(videos / f"clip{i:02d}.gif", _shapes(60, i))
    out = tmp_path / "k.h5"
    argv = [sys.executable, "-m", "videoqa_core", "extract", "--videos", str(videos), "--out", str(out),
            "--frames", "35", "--workers", "1", "--flush-every", "1", *FAST]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        partial = tmp_path / "k.h5.partial"
        # Kill once a few videos are done, while shards are being written and merged.
        while time.monotonic() < deadline and proc.poll() is None:
            if partial.is_dir() and len(list(partial.glob("shard-*.h5"))) >= 2 or _stored(out) >= 5:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "extract finished before it could be killed; make the test videos longer"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()

    # What a kill leaves: a store that opens and holds only whole videos.
    store = FeatureStore(out)
    kept = store.ids()
    assert len(kept) < 40
    for vid in kept:
        app, mot = store.get(vid)
        assert app.shape == (35, PIXELS.dim) and mot.shape == (35, FRAMEDIFF.dim)

    assert cli(["extract", "--videos", str(videos), "--out", str(out), "--frames", "35", "--workers", "0",
                *FAST]) == 0
    report = json.loads((tmp_path / "k.h5.report.json").read_text())
    assert report["counts"]["already_stored"] >= len(kept) >= 1
    assert report["counts"]["already_stored"] + report["counts"]["stored_now"] == 40
    final = FeatureStore(out)
    assert len(final) == 40 and final.get("clip39")[0].shape == (35, PIXELS.dim)
    with h5py.File(out, "r") as f:  # one dataset per video, no leftovers
        assert len(f["appearance"]) == len(f["motion"]) == 40
    assert not (tmp_path / "k.h5.partial").exists()


def _stored(path: Path) -> int:
    try:
        with h5py.File(path, "r") as f:
            return len(f["appearance"])
    except (OSError, KeyError):
        return 0


def test_cnn_extractors_without_weights_warn_and_record_it(tmp_path, capsys):
    videos = tmp_path / "v"
    videos.mkdir()
    write_video(videos / "one.gif", _shapes(20, 7))
    out = tmp_path / "cnn.h5"
    assert _run("--videos", str(videos), "--out", str(out), "--appearance", "resnet18", "--motion", "r3d_18",
                "--frames", "2", "--workers", "0", "--batch-frames", "16", "--device", "cpu") == 0
    err = capsys.readouterr().err
    assert err.count("RANDOM weights") == 2 and "--appearance-weights" in err
    store = FeatureStore(out)
    app, mot = store.get("one")
    assert app.shape == (2, 512) and mot.shape == (2, 512)
    assert store.attrs["appearance_weights"] == store.attrs["motion_weights"] == "random (seed 0, cnn.py init)"
    assert "RANDOM weights" in store.attrs["warnings"]
    assert "appearance 224x224" in store.attrs["frame_size"]
    store.close()

    # A store made with torchvision's random initialisation (before cnn.py) said only
    # "random (seed 0)": resuming it must be refused, not mixed with another random network.
    with h5py.File(out, "a") as f:
        f.attrs["appearance_weights"] = f.attrs["motion_weights"] = "random (seed 0)"
    write_video(videos / "two.gif", _shapes(20, 7))
    assert _run("--videos", str(videos), "--out", str(out), "--appearance", "resnet18", "--motion", "r3d_18",
                "--frames", "2", "--workers", "0", "--batch-frames", "16", "--device", "cpu") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "appearance_weights='random (seed 0)'" in err and "another --out" in err
    assert set(FeatureStore(out).ids()) == {"one"}        # nothing was added to it


def test_store_keeps_each_video_as_one_compressed_chunk(tmp_path):
    """Values round-trip exactly (float16 in, float32 out); a video is one gzip chunk."""
    from videoqa_core.data.features import write_store
    g = np.random.default_rng(0)
    app = g.normal(size=(7, 5)).astype(np.float16)
    mot = np.zeros((7, 3), np.float16)
    path = write_store(tmp_path / "s.h5", [("v1", app, mot)], aliases={"vid1": "v1"})
    with h5py.File(path) as f:
        for name, shape in (("appearance/v1", (7, 5)), ("motion/v1", (7, 3))):
            assert f[name].chunks == shape and f[name].compression == "gzip" and f[name].shuffle
    store = FeatureStore(path)
    a, m = store.get("vid1")
    assert np.array_equal(a, app.astype(np.float32)) and np.array_equal(m, mot.astype(np.float32))
    store.close()



def test_copy_store_copies_the_compressed_chunks_and_keeps_links(tmp_path):
    """copy_store (extract's merges, the demo's alias step): every video of the sources,
    the first source winning a shared id, links kept as links, chunks byte for byte."""
    from videoqa_core.data.features import StoreUnion, copy_store, write_store
    g = np.random.default_rng(2)
    vid = lambda: (g.normal(size=(4, 5)).astype(np.float16), g.normal(size=(4, 3)).astype(np.float16))  # noqa: E731
    a = write_store(tmp_path / "a.h5", [("v1", *vid()), ("v2", *vid())], attrs={"appearance": "x"}, aliases={"l1": "v1"})
    b = write_store(tmp_path / "b.h5", [("v2", *vid()), ("v3", *vid())], attrs={"appearance": "x"})
    out = copy_store(tmp_path / "c.h5", [a, b], aliases={"l3": "v3"})
    with h5py.File(out) as f, h5py.File(a) as fa, h5py.File(b) as fb:
        assert dict(f.attrs) == {**dict(fa.attrs)}
        assert isinstance(f["appearance"].get("l1", getlink=True), h5py.SoftLink)
        for name, src in (("v1", fa), ("v2", fa), ("v3", fb)):
            for group in ("appearance", "motion"):
                assert f[group][name].id.read_direct_chunk((0, 0))[1] == src[group][name].id.read_direct_chunk((0, 0))[1]
    store = FeatureStore(out)
    assert store.ids() == ["l1", "l3", "v1", "v2", "v3"]
    assert np.array_equal(store.get("l3")[0], FeatureStore(b).get("v3")[0])
    # two stores read as one: the first wins, and stores of other extractors do not mix
    both = StoreUnion(FeatureStore(a), FeatureStore(b))
    assert both.ids() == ["l1", "v1", "v2", "v3"] and np.array_equal(both.get("v2")[0], FeatureStore(a).get("v2")[0])
    other = write_store(tmp_path / "o.h5", [("w", *vid())], attrs={"appearance": "y"})
    with pytest.raises(UserError, match="differ in appearance"):
        StoreUnion(FeatureStore(a), FeatureStore(other))

def test_store_cache_hands_out_copies_and_stays_within_its_budget(tmp_path):
    """A video read twice comes from memory: the same values, never the caller's edits;
    the cache holds no more than cache_mb, and a pickled store (a DataLoader worker's)
    starts with an empty one."""
    import pickle
    from videoqa_core.data.features import write_store
    g = np.random.default_rng(1)
    vids = [(f"v{i}", g.normal(size=(35, 64)).astype(np.float16), g.normal(size=(35, 32)).astype(np.float16))
            for i in range(3)]
    path = write_store(tmp_path / "s.h5", vids)
    per_video = 35 * (64 + 32) * 4   # float32 bytes
    store = FeatureStore(path, cache_mb=2.5 * per_video / 2 ** 20)
    for name, app, mot in vids:
        a, m = store.get(name)
        a[:] = 7.0                               # the caller's own copy
        a, m = store.get(name)
        assert np.array_equal(a, app.astype(np.float32)) and np.array_equal(m, mot.astype(np.float32))
    assert sorted(store._cache) == ["v0", "v1"]    # the third does not fit
    clone = pickle.loads(pickle.dumps(store))
    assert clone._cache == {}
    clone.get("v2")
    assert sorted(clone._cache) == ["v2"]          # with the whole budget again
    store.close()
    assert FeatureStore(path, cache_mb=0).get("v0") is not None
