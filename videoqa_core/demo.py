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
``Attvt-all-warm`` on Action and Transition: the full model started (``--init-from``) from
a run on the single-actor warm-up set (``synth --warmup``, in ``data/demo/.warmup/``, not
shipped), a curriculum that at this size is what makes Action learn (README, demo). The
warm-up run keeps its metrics and predictions in ``checkpoints/demo/action/.warmup/``
(a dot folder: the dashboard does not list it; its test split is the warm-up set's own).
Checkpoints are kept for the full models and for every Action run (two checkpoints to
compare on one question); the rest keep their metrics and predictions only. Kept
checkpoints hold fp16 weights without optimizer state (the demo must stay small);
they load like any other.

Runs execute as ``python -m videoqa_core train`` / ``evaluate`` commands in ``--jobs``
worker processes, one thread each, with paths relative to the project root so the
artifacts work in any clone. A worker imports torch once and runs its commands one after
another: a fresh process would spend about 5.5 s per command before its first step
(importing torch, and torch._dynamo on the optimizer's first use), some 4 minutes of CPU
over the demo's 48 commands (32 train, 16 evaluate). Every run is seeded, and a command gives the same bytes in a
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
EPOCHS = {"count": 10, "action": 6, "transition": 8, "frameqa": 5, "open": 5}
SWEEP = (2, 4, 16)          # visual slots besides the default 8 (Figure 5)
WARMUP = ".warmup"          # the warm-up run's name (a dot folder: the dashboard skips it)
WARMUP_EPOCHS = 6
WARMUP_VIDEOS = 600


@dataclass
class Run:
    task: str
    name: str
    overrides: list[str] = field(default_factory=list)
    keep: bool = False
    seed: int = 0
    root: Path = CKPT
    warm: bool = False      # starts from the warm-up run (--init-from)

    @property
    def is_warmup(self) -> bool:
        return self.name == WARMUP

    @property
    def dataset(self) -> str:
        return "msvd-qa" if self.task == "open" else "tgif-qa"

    @property
    def folder(self) -> Path:
        return self.root / self.task / (self.name if self.seed == 0 else f"{self.name}-seed{self.seed}")


def plan(seeds: int = 1, root: Path = CKPT, warmup: bool = True) -> list[Run]:
    runs: list[Run] = []
    for seed in range(seeds):
        for task in ("count", "action", "transition", "frameqa", "open"):
            runs.append(Run(task, "Attvt-all", keep=seed == 0, seed=seed, root=root))
        for task in ("count", "action"):
            for variant in VARIANTS:
                if variant != "Attvt-all":
                    runs.append(Run(task, variant, [f"model.variant={variant}"], keep=task == "action" and seed == 0, seed=seed, root=root))
        # Both bias baselines on every task they apply to: the benchmark is right where
        # they sit near chance and the full model above them (they never see the video,
        # so they cost a few CPU-seconds each).
        for task in ("count", "action", "transition", "frameqa", "open"):
            runs.append(Run(task, "question-only", ["model.baseline=question-only"], keep=task == "action" and seed == 0, seed=seed, root=root))
        for task in ("action", "transition"):
            runs.append(Run(task, "candidates-only", ["model.baseline=candidates-only"], keep=task == "action" and seed == 0, seed=seed, root=root))
        for slots in SWEEP:
            runs.append(Run("count", f"Attvt-all-Sv{slots}", [f"model.visual_slots={slots}"], seed=seed, root=root))
        if warmup:
            runs.append(Run("action", WARMUP, seed=seed, root=root))
            for task in ("action", "transition"):
                runs.append(Run(task, "Attvt-all-warm", keep=seed == 0, seed=seed, root=root, warm=True))
    # Longest first, so the two workers finish together; but each warm-up run before
    # everything and the runs started from it last, so that no worker waits for one.
    # A baseline never runs the video encoders or the visual memory: about a fifth of a run.
    cost = {"action": 5, "transition": 5, "count": 1, "frameqa": 2, "open": 2}
    blind = {"question-only": 0.2, "candidates-only": 0.2}
    return sorted(runs, key=lambda r: (not r.is_warmup, r.warm, -cost[r.task] * EPOCHS[r.task] * blind.get(r.name, 1.0)))


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
    p.add_argument("--warmup-videos", type=int, default=WARMUP_VIDEOS,
                   help=f"videos of the single-actor warm-up set (default {WARMUP_VIDEOS}); 0: no warm-up "
                        "and no -warm runs")


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


def _extract(videos: Path, out: Path, report: Path, log: Path) -> None:
    """The demo's weight-free features (``pixels`` / ``framediff``, 35 frames) of a folder."""
    (ROOT / out).unlink(missing_ok=True)   # extract resumes into an existing store: never a stale one
    _python(["extract", "--videos", str(videos), "--out", str(out), "--appearance", "pixels", "--motion", "framediff",
             "--frames", "35", "--workers", "1", "--report", str(report)], log)


def build_data(data: Path, videos: int, seed: int) -> None:
    from .data.features import FeatureStore, write_store
    from .data.readers import msvd_video_names
    synth = data / "synth"
    log = ROOT / data / "build.log"
    _python(["synth", "--out", str(synth), "--videos", str(videos), "--seed", str(seed), "--difficulty", "easy"], log)
    raw = data / "features.raw.h5"
    _extract(synth / "videos", raw, data / "extract.report.json", log)
    # One store for both annotation sets: MSVD-style ids are links to the TGIF-style videos.
    store = FeatureStore(ROOT / raw)
    names = msvd_video_names(ROOT / synth / "msvd")
    write_store(ROOT / data / "features.h5", ((v, *store.get(v)) for v in store.ids()), attrs=store.attrs,
                aliases={vid: stem for stem, vid in names.items()})
    store.close()
    (ROOT / raw).unlink()


def build_warmup_data(data: Path, videos: int, seed: int) -> None:
    """The single-actor warm-up set and its features in ``data/.warmup`` (only training reads
    them: they are not shipped, and a fresh clone rebuilds them when a -warm run is trained)."""
    warm = data / WARMUP
    log = ROOT / warm / "build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    _python(["synth", "--out", str(warm / "synth"), "--videos", str(videos), "--seed", str(seed), "--warmup"], log)
    _extract(warm / "synth" / "videos", warm / "features.h5", warm / "extract.report.json", log)
    log.unlink()


def shrink_checkpoint(path: Path) -> None:
    """fp16 weights, no optimizer/RNG state: what the dashboard needs, at a quarter of the size."""
    from .checkpoint import load_checkpoint, save_checkpoint
    ckpt = load_checkpoint(path)
    ckpt.pop("path", None)
    ckpt.pop("format", None)
    ckpt["model"] = {k: (v.half() if v.is_floating_point() else v) for k, v in ckpt["model"].items()}
    save_checkpoint(ckpt, path)


def warmup_of(run: Run) -> Run:
    return Run("action", WARMUP, seed=run.seed, root=run.root)


def train_run(run: Run, data: Path = DATA, epochs_scale: float = 1.0,
              finished: dict[Path, threading.Event] | None = None) -> dict:
    folder = ROOT / run.folder
    init = []
    if run.warm:
        src = warmup_of(run).folder
        if finished is not None and src in finished:
            finished[src].wait()   # plan() puts the warm-up first, so a worker never waits long
        if not (ROOT / src / "best.pt").is_file():
            raise UserError(f"{run.folder} starts from the warm-up run {src}, which has no best.pt: "
                            f"see its log {src.parent / ('.' + src.name + '.log')}")
        init = ["--init-from", str(src)]
    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    log = folder.parent / f".{folder.name}.log"
    log.unlink(missing_ok=True)
    synth = data / WARMUP / "synth" if run.is_warmup else data / "synth"
    ann = synth / ("msvd" if run.task == "open" else "tgif-qa")
    features = data / WARMUP / "features.h5" if run.is_warmup else data / "features.h5"
    epochs = WARMUP_EPOCHS if run.is_warmup else EPOCHS[run.task]
    t0 = time.time()
    _command(["train", "--dataset", run.dataset, "--task", run.task, "--annotations", str(ann),
             "--features", str(features), "--out", str(run.folder), *MODEL, *TRAIN,
             f"train.epochs={max(1, round(epochs * epochs_scale))}", f"train.seed={run.seed}",
             f"data.videos={synth / 'videos'}", *init,
             *run.overrides, *([] if run.keep else ["--evaluate", "test"])], log)
    (folder / "last.pt").unlink()
    if run.is_warmup:
        pass   # best.pt stays (fp32) until the runs started from it are trained; main removes it
    elif run.keep:
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


def main(args) -> int:
    t0 = time.time()
    if args.warmup_videos < 0:
        raise UserError(f"--warmup-videos {args.warmup_videos}: use 0 (no warm-up) or more")
    data, ckpt = Path(args.data_dir), Path(args.checkpoints_dir)
    (ROOT / data).mkdir(parents=True, exist_ok=True)
    every = plan(args.seeds, ckpt, warmup=args.warmup_videos > 0)
    runs = [r for r in every if not args.only or f"{r.task}/{r.folder.name}" in args.only]
    # a run started from the warm-up needs the warm-up run (of its seed) trained first
    needed = {warmup_of(r).folder for r in runs if r.warm}
    runs = [r for r in every if r in runs or (r.is_warmup and r.folder in needed)]
    if not args.skip_data:
        (ROOT / data / "build.log").unlink(missing_ok=True)
        build_data(data, args.videos, args.seed)
        (ROOT / data / "build.log").unlink(missing_ok=True)
        print(f"data: {time.time() - t0:.0f} s", flush=True)
    warmup_data = bool(needed) and (not args.skip_data or not (ROOT / data / WARMUP / "features.h5").is_file())
    warmup_built = threading.Lock()
    finished = {r.folder: threading.Event() for r in runs if r.is_warmup}

    def one(run: Run) -> dict:
        nonlocal warmup_data
        try:
            if run.is_warmup:
                # The warm-up set is built by the worker that trains on it, while the other
                # worker trains benchmark runs: no core waits for its extraction (~1 min).
                with warmup_built:
                    if warmup_data:
                        build_warmup_data(data, args.warmup_videos, args.seed)
                        warmup_data = False
            return train_run(run, data, args.epochs_scale, finished)
        finally:
            if run.folder in finished:
                finished[run.folder].set()   # also on failure: the runs waiting on it then report it

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
            for folder in finished:   # not shipped (init_from.json keeps its sha256), also after a failure
                (ROOT / folder / "best.pt").unlink(missing_ok=True)
    summary_path = ROOT / ckpt / "runs.json"
    old = json.loads(summary_path.read_text()) if summary_path.exists() and args.only else []
    keep_old = [o for o in old if o["run"] not in {r["run"] for r in results}]
    summary_path.write_text(json.dumps(sorted(keep_old + results, key=lambda r: r["run"]), indent=1))
    print(f"demo built in {time.time() - t0:.0f} s: {len(results)} runs, summary {summary_path}")
    return 0
