"""Build the embedded demo the dashboard opens on.

    python -m videoqa_core demo [--videos 700] [--seed 0] [--seeds 1] [--jobs 2]

synth -> extract -> train -> evaluate, on 2 CPU cores in about a quarter of an hour:

* ``data/demo/synth/``     the synthetic benchmark (``--difficulty easy``: the model size the
                           demo can afford learns it; see data/README.md), GIF videos
* ``data/demo/features.h5`` weight-free ``pixels`` / ``framediff`` features, with the MSVD-style
                           ids (``vid<N>``) stored as links to the same videos
* ``checkpoints/demo/<task>/<run>/``  per run: config.json, metrics.jsonl,
                           predictions_test.parquet, metrics_test.json, and best.pt where kept

What it trains: the full model on every task; the 8 Table-1 variants on Count and Action;
the bias baselines on every task (question-only on all five, candidates-only on the two
multiple-choice ones); a visual-memory-size sweep on Count (Figure 5); and
``Attvt-all-spec`` on Action, the full model in the spec's reading beside the demo's.

The demo's model is the spec's reading with the switches that let it learn at this size
(README, "what blocks Transition"; :func:`switches`): Count keeps the spec's reading, it
learns there; FrameQA and the open-ended set add ``memory_residual``, ``attention_residual``
and ``pooling=max``; Action and Transition add ``mc_head=candidate`` too. Transition needs
thousands of videos: its runs also train on ``data/demo/.transition/`` (``--transition-videos``
more benchmark videos from another seed, ids ``extra00000``..., through ``data.train_extra``).
That set is not shipped: only training reads it, and the runs' val and test splits are the
shipped benchmark's. Checkpoints are kept for the full models and for every Action run (two
checkpoints to compare on one question); the rest keep their metrics and predictions only.
Kept checkpoints hold fp16 weights without optimizer state (the demo must stay small);
they load like any other.

Runs execute as ``python -m videoqa_core train`` / ``evaluate`` commands in ``--jobs``
worker processes, one thread each, with paths relative to the project root so the
artifacts work in any clone. A worker imports torch once and runs its commands one after
another: a fresh process would spend about 5.5 s per command before its first step
(importing torch, and torch._dynamo on the optimizer's first use), some 4 minutes of CPU
over the demo's 45 commands (30 train, 15 evaluate). Every run is seeded, and a command gives the same bytes in a
reused worker as in a fresh process: the same command rebuilds the same numbers on this
machine.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .config import VARIANTS
from .errors import UserError

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("data/demo")            # relative to the project root: the shipped config paths work in any clone
CKPT = Path("checkpoints/demo")
MODEL = ["model.hidden=64", "model.visual_slots=8", "model.text_slots=4", "model.embed_dim=32"]
TRAIN = ["train.lr=3e-3", "train.lr_step=0", "train.progress=false", "train.batch_size=32"]
EPOCHS = {"count": 10, "action": 6, "transition": 6, "frameqa": 5, "open": 5}
SWEEP = (2, 4, 16)          # visual slots besides the default 8 (Figure 5)
EXTRA = ".transition"       # Transition's extra training set (a dot folder: not shipped)
EXTRA_VIDEOS = 1800
EXTRA_PREFIX = "extra"


def switches(task: str) -> list[str]:
    """The model switches the demo trains with (all default to the spec's reading).

    At the demo's size the spec's reading leaves Transition at chance and Action and FrameQA
    low; measured one at a time (README): mean pooling, the visual memory as the only path
    from the frames to Vid, and self-attention without its residual each stop a task that
    needs a few frames; for multiple choice, a head that sees the candidate only through
    f_c keeps the hinge loss on its plateau. Count learns in the spec's reading (MSE 1.6
    against 3.2 for the blind baseline) and its memory-size sweep is about the memory:
    it keeps it."""
    if task == "count":
        return []
    both = ["model.memory_residual=true", "model.attention_residual=true", "model.pooling=max"]
    return both + (["model.mc_head=candidate"] if task in ("action", "transition") else [])


@dataclass
class Run:
    task: str
    name: str
    overrides: list[str] = field(default_factory=list)
    keep: bool = False
    seed: int = 0
    root: Path = CKPT

    @property
    def dataset(self) -> str:
        return "msvd-qa" if self.task == "open" else "tgif-qa"

    @property
    def folder(self) -> Path:
        return self.root / self.task / (self.name if self.seed == 0 else f"{self.name}-seed{self.seed}")


def plan(seeds: int = 1, root: Path = CKPT) -> list[Run]:
    runs: list[Run] = []
    for seed in range(seeds):
        def run(task, name, extra=(), keep=False, model=None):
            runs.append(Run(task, name, [*(switches(task) if model is None else model), *extra],
                            keep=keep and seed == 0, seed=seed, root=root))

        for task in ("count", "action", "transition", "frameqa", "open"):
            run(task, "Attvt-all", keep=True)
        run("action", "Attvt-all-spec", keep=True, model=[])    # the spec's reading, to compare with
        for task in ("count", "action"):
            for variant in VARIANTS:
                if variant != "Attvt-all":
                    run(task, variant, [f"model.variant={variant}"], keep=task == "action")
        # Both bias baselines on every task they apply to: the benchmark is right where
        # they sit near chance and the full model above them (they never see the video,
        # so they cost a few CPU-seconds each).
        for task in ("count", "action", "transition", "frameqa", "open"):
            run(task, "question-only", ["model.baseline=question-only"], keep=task == "action")
        for task in ("action", "transition"):
            run(task, "candidates-only", ["model.baseline=candidates-only"], keep=task == "action")
        for slots in SWEEP:
            run("count", f"Attvt-all-Sv{slots}", [f"model.visual_slots={slots}"])
    # Longest first, so the two workers finish together; Transition's full model first of
    # all: the worker that takes it builds Transition's extra training set on the way (a
    # few minutes), while the other trains the rest. A baseline never runs the video
    # encoders or the visual memory: about a fifth of a run.
    cost = {"action": 5, "transition": 20, "count": 1, "frameqa": 2, "open": 2}
    blind = {"question-only": 0.2, "candidates-only": 0.2}
    return sorted(runs, key=lambda r: (not (r.task == "transition" and r.name == "Attvt-all"),
                                       -cost[r.task] * EPOCHS[r.task] * blind.get(r.name, 1.0)))


def configure(p) -> None:
    p.add_argument("--videos", type=int, default=700)
    p.add_argument("--seed", type=int, default=0, help="benchmark seed")
    p.add_argument("--seeds", type=int, default=1, help="training seeds per run (mean +- std in the ablation table)")
    p.add_argument("--jobs", type=int, default=2, help="runs trained at once (one thread each)")
    p.add_argument("--only", nargs="*", metavar="TASK/RUN", help="train only these runs (e.g. count/Attvt-all action/Mv+Mt)")
    p.add_argument("--skip-data", action="store_true", help="reuse the data folder as it is")
    p.add_argument("--data-dir", default=str(DATA), help="where the benchmark and features go (default data/demo)")
    p.add_argument("--checkpoints-dir", default=str(CKPT), help="where the runs go (default checkpoints/demo)")
    p.add_argument("--epochs-scale", type=float, default=1.0, help="multiply every run's epochs (tests use less)")
    p.add_argument("--transition-videos", type=int, default=EXTRA_VIDEOS,
                   help=f"videos of Transition's extra training set (default {EXTRA_VIDEOS}; not shipped, "
                        f"in DATA/{EXTRA}/); 0: Transition trains on the benchmark alone")


def _failed(args: list[str], log: Path) -> UserError:
    return UserError(f"`python -m videoqa_core {' '.join(args[:3])} ...` failed: see {log}")


def _python(args: list[str], log: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    with open(log, "a", encoding="utf-8") as f:
        f.write("$ python -m videoqa_core " + " ".join(args) + "\n")
        f.flush()
        proc = subprocess.run([sys.executable, "-m", "videoqa_core", *args], cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise _failed(args, log)


_WORKERS: ProcessPoolExecutor | None = None   # set by main(): where train / evaluate run


def _init_worker() -> None:
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    os.chdir(ROOT)
    import torch
    torch.set_num_threads(1)


def _in_worker(args: list[str], log: str) -> int:
    """One CLI command in this worker process, stdout and stderr (file descriptors, so
    C-level output too) appended to ``log`` as the subprocess would have written them."""
    from .__main__ import main as cli
    with open(log, "a", encoding="utf-8") as f:
        f.write("$ python -m videoqa_core " + " ".join(args) + "\n")
        f.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            code = cli(args)
        except BaseException:   # the worker must outlive a failed run, and say why it failed
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
    return code


def _command(args: list[str], log: Path) -> None:
    """train / evaluate: in a worker process when main() runs one, else a subprocess."""
    if _WORKERS is None:
        _python(args, log)
    elif _WORKERS.submit(_in_worker, args, str(ROOT / log)).result() != 0:
        raise _failed(args, log)


def _extract(videos: Path, out: Path, report: Path, log: Path, workers: int) -> None:
    """The demo's weight-free features (``pixels`` / ``framediff``, 35 frames) of a folder,
    computed in ``workers`` processes (the main one writes the store)."""
    (ROOT / out).unlink(missing_ok=True)   # extract resumes into an existing store: never a stale one
    _python(["extract", "--videos", str(videos), "--out", str(out), "--appearance", "pixels", "--motion", "framediff",
             "--frames", "35", "--workers", str(workers), "--report", str(report)], log)


def build_data(data: Path, videos: int, seed: int) -> None:
    from .data.features import copy_store
    from .data.readers import msvd_video_names
    synth = data / "synth"
    log = ROOT / data / "build.log"
    _python(["synth", "--out", str(synth), "--videos", str(videos), "--seed", str(seed), "--difficulty", "easy"], log)
    raw = data / "features.raw.h5"
    _extract(synth / "videos", raw, data / "extract.report.json", log, workers=2)
    # One store for both annotation sets: MSVD-style ids are links to the TGIF-style videos.
    names = msvd_video_names(ROOT / synth / "msvd")
    copy_store(ROOT / data / "features.h5", [ROOT / raw], aliases={vid: stem for stem, vid in names.items()})
    (ROOT / raw).unlink()


def build_extra_data(data: Path, videos: int, seed: int) -> None:
    """Transition's extra training set and its features in ``data/.transition``: more
    benchmark videos from another seed, ids ``extra00000``... (only training reads them,
    so they are not shipped; a fresh clone rebuilds them when a Transition run is trained).
    Built while the other worker trains (one extract worker decodes, the extract process
    computes): measured, that cost the demo less wall time than building it on both cores
    before any training (159 s of 1,800 videos during which nothing trained), since two
    extract processes here ran at 1.3 times the speed of one."""
    extra = data / EXTRA
    log = ROOT / extra / "build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    _python(["synth", "--out", str(extra / "synth"), "--videos", str(videos), "--seed", str(seed + 1),
             "--difficulty", "easy", "--id-prefix", EXTRA_PREFIX], log)
    _extract(extra / "synth" / "videos", extra / "features.h5", extra / "extract.report.json", log, workers=1)
    log.unlink()


def shrink_checkpoint(path: Path) -> None:
    """fp16 weights, no optimizer/RNG state: what the dashboard needs, at a quarter of the size."""
    from .checkpoint import load_checkpoint, save_checkpoint
    ckpt = load_checkpoint(path)
    ckpt.pop("path", None)
    ckpt.pop("format", None)
    ckpt["model"] = {k: (v.half() if v.is_floating_point() else v) for k, v in ckpt["model"].items()}
    save_checkpoint(ckpt, path)


def train_run(run: Run, data: Path = DATA, epochs_scale: float = 1.0, extra: bool = False) -> dict:
    """Train (and evaluate) one run; ``extra``: with Transition's extra training set."""
    folder = ROOT / run.folder
    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    log = folder.parent / f".{folder.name}.log"
    log.unlink(missing_ok=True)
    synth = data / "synth"
    ann = synth / ("msvd" if run.task == "open" else "tgif-qa")
    features = data / "features.h5"
    epochs = EPOCHS[run.task]
    more = [f"data.train_extra={data / EXTRA / 'synth' / 'tgif-qa'}",
            f"data.train_extra_features={data / EXTRA / 'features.h5'}"] if extra else []
    t0 = time.time()
    _command(["train", "--dataset", run.dataset, "--task", run.task, "--annotations", str(ann),
             "--features", str(features), "--out", str(run.folder), *MODEL, *TRAIN,
             f"train.epochs={max(1, round(epochs * epochs_scale))}", f"train.seed={run.seed}",
             f"data.videos={synth / 'videos'}", *more,
             *run.overrides, *([] if run.keep else ["--evaluate", "test"])], log)
    (folder / "last.pt").unlink()
    if run.keep:
        # A kept run ships fp16 weights, so its predictions are scored from those: scored
        # from the fp32 best.pt inside the training process, the shipped checkpoint would
        # reproduce its own predictions file only to ~1e-4 in confidence, and a near-tie
        # can flip (two answers did across the 14 kept runs). One more command per kept
        # run; the others still evaluate inside `train`.
        shrink_checkpoint(folder / "best.pt")
        _command(["evaluate", "--checkpoint", str(run.folder / "best.pt"), "--split", "test"], log)
    else:
        (folder / "best.pt").unlink()
    log.unlink()
    metrics = json.loads((folder / "metrics_test.json").read_text())
    return {"run": str(run.folder), "task": run.task, "name": run.name, "seed": run.seed,
            "seconds": round(time.time() - t0, 1), "test": metrics["overall"]}


def prune_stale(ckpt: Path, old: list[dict], runs: list[Run]) -> list[Path]:
    """A whole build replaces the last one: the runs its ``runs.json`` lists that this plan
    no longer makes are removed (only those, and only inside ``ckpt``: a folder the demo
    did not make is never touched). Returns what was removed."""
    planned = {str(r.folder) for r in runs}
    gone = []
    for folder in (ROOT / o["run"] for o in old if o["run"] not in planned):
        if folder.is_dir() and folder.resolve().is_relative_to((ROOT / ckpt).resolve()):
            shutil.rmtree(folder)
            gone.append(folder)
    return gone


def main(args) -> int:
    t0 = time.time()
    if args.transition_videos < 0:
        raise UserError(f"--transition-videos {args.transition_videos}: use 0 (no extra Transition set) or more")
    data, ckpt = Path(args.data_dir), Path(args.checkpoints_dir)
    (ROOT / data).mkdir(parents=True, exist_ok=True)
    runs = [r for r in plan(args.seeds, ckpt) if not args.only or f"{r.task}/{r.folder.name}" in args.only]
    if not args.skip_data:
        (ROOT / data / "build.log").unlink(missing_ok=True)
        build_data(data, args.videos, args.seed)
        (ROOT / data / "build.log").unlink(missing_ok=True)
        print(f"data: {time.time() - t0:.0f} s", flush=True)
    extra = args.transition_videos > 0
    extra_todo = extra and any(r.task == "transition" for r in runs) and (
        not args.skip_data or not (ROOT / data / EXTRA / "features.h5").is_file())
    extra_built = threading.Lock()

    def one(run: Run) -> dict:
        nonlocal extra_todo
        if run.task == "transition" and extra:
            # Built by the worker that trains the first Transition run (plan() puts it
            # first), while the other worker trains the rest: no core waits for it.
            with extra_built:
                if extra_todo:
                    t = time.time()
                    build_extra_data(data, args.transition_videos, args.seed)
                    extra_todo = False
                    print(f"Transition's extra training set ({args.transition_videos} videos): "
                          f"{time.time() - t:.0f} s", flush=True)
        return train_run(run, data, args.epochs_scale, extra=run.task == "transition" and extra)

    summary_path = ROOT / ckpt / "runs.json"
    old = json.loads(summary_path.read_text()) if summary_path.exists() else []
    if not args.only:
        prune_stale(ckpt, old, runs)
        old = []

    global _WORKERS
    results = []
    jobs = max(1, args.jobs)
    # spawn, not fork: a worker starts clean, with one thread, whatever this process holds
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker) as workers, \
            ThreadPoolExecutor(max_workers=jobs) as pool:
        _WORKERS = workers
        try:
            for res in pool.map(one, runs):
                results.append(res)
                t = res["test"]
                score = t.get("accuracy", t.get("mse_rounded"))
                print(f"{res['run']:<45} {res['seconds']:>6.0f} s   test {score:.4f}", flush=True)
        finally:
            _WORKERS = None
    keep_old = [o for o in old if o["run"] not in {r["run"] for r in results}]
    summary_path.write_text(json.dumps(sorted(keep_old + results, key=lambda r: r["run"]), indent=1))
    print(f"demo built in {time.time() - t0:.0f} s: {len(results)} runs, summary {summary_path}")
    return 0
