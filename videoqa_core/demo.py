"""Build the embedded demo the dashboard opens on.

    python -m videoqa_core demo [--videos 700] [--seed 0] [--seeds 1] [--jobs 2]

synth -> extract -> train -> evaluate, on 2 CPU cores in about a quarter of an hour:

* ``data/demo/synth/``     the synthetic benchmark (``--difficulty easy``: the model size the
                           demo can afford learns it; see data/README.md), GIF videos
* ``data/demo/features.h5`` weight-free ``pixels`` / ``framediff`` features, with the MSVD-style
                           ids (``vid<N>``) stored as links to the same videos
* ``checkpoints/demo/<task>/<run>/``  per run: config.json, metrics.jsonl,
                           predictions_test.parquet, metrics_test.json, and best.pt where kept

What it trains: the full model on every task; the 8 Table-1 variants and both bias
baselines on Count and Action; a visual-memory-size sweep on Count (Figure 5).
Checkpoints are kept for the full models and for every Action run (two checkpoints to
compare on one question); the rest keep their metrics and predictions only. Kept
checkpoints hold fp16 weights without optimizer state (the demo must stay small);
they load like any other.

Runs execute as separate ``python -m videoqa_core train`` processes, ``--jobs`` at a time,
one thread each, with paths relative to the project root so the artifacts work in any
clone. Every run is seeded: the same command rebuilds the same numbers on this machine.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
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
        for task in ("count", "action", "transition", "frameqa", "open"):
            runs.append(Run(task, "Attvt-all", keep=seed == 0, seed=seed, root=root))
        for task in ("count", "action"):
            for variant in VARIANTS:
                if variant != "Attvt-all":
                    runs.append(Run(task, variant, [f"model.variant={variant}"], keep=task == "action" and seed == 0, seed=seed, root=root))
            runs.append(Run(task, "question-only", ["model.baseline=question-only"], keep=task == "action" and seed == 0, seed=seed, root=root))
        runs.append(Run("action", "candidates-only", ["model.baseline=candidates-only"], keep=seed == 0, seed=seed, root=root))
        for slots in SWEEP:
            runs.append(Run("count", f"Attvt-all-Sv{slots}", [f"model.visual_slots={slots}"], seed=seed, root=root))
    # Longest first, so the two workers finish together.
    cost = {"action": 5, "transition": 5, "count": 1, "frameqa": 2, "open": 2}
    return sorted(runs, key=lambda r: -cost[r.task] * EPOCHS[r.task])


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


def _python(args: list[str], log: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    with open(log, "a", encoding="utf-8") as f:
        f.write("$ python -m videoqa_core " + " ".join(args) + "\n")
        f.flush()
        proc = subprocess.run([sys.executable, "-m", "videoqa_core", *args], cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise UserError(f"`python -m videoqa_core {' '.join(args[:3])} ...` failed: see {log}")


def build_data(data: Path, videos: int, seed: int) -> None:
    from .data.features import FeatureStore, write_store
    from .data.readers import msvd_video_names
    synth = data / "synth"
    log = ROOT / data / "build.log"
    _python(["synth", "--out", str(synth), "--videos", str(videos), "--seed", str(seed), "--difficulty", "easy"], log)
    raw = data / "features.raw.h5"
    _python(["extract", "--videos", str(synth / "videos"), "--out", str(raw), "--appearance", "pixels",
             "--motion", "framediff", "--frames", "35", "--workers", "1", "--report", str(data / "extract.report.json")], log)
    # One store for both annotation sets: MSVD-style ids are links to the TGIF-style videos.
    store = FeatureStore(ROOT / raw)
    names = msvd_video_names(ROOT / synth / "msvd")
    write_store(ROOT / data / "features.h5", ((v, *store.get(v)) for v in store.ids()), attrs=store.attrs,
                aliases={vid: stem for stem, vid in names.items()})
    store.close()
    (ROOT / raw).unlink()


def shrink_checkpoint(path: Path) -> None:
    """fp16 weights, no optimizer/RNG state: what the dashboard needs, at a quarter of the size."""
    from .checkpoint import load_checkpoint, save_checkpoint
    ckpt = load_checkpoint(path)
    ckpt.pop("path", None)
    ckpt.pop("format", None)
    ckpt["model"] = {k: (v.half() if v.is_floating_point() else v) for k, v in ckpt["model"].items()}
    save_checkpoint(ckpt, path)


def train_run(run: Run, data: Path = DATA, epochs_scale: float = 1.0) -> dict:
    folder = ROOT / run.folder
    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    log = folder.parent / f".{folder.name}.log"
    log.unlink(missing_ok=True)
    ann = data / "synth" / ("msvd" if run.task == "open" else "tgif-qa")
    t0 = time.time()
    _python(["train", "--dataset", run.dataset, "--task", run.task, "--annotations", str(ann),
             "--features", str(data / "features.h5"), "--out", str(run.folder), *MODEL, *TRAIN,
             f"train.epochs={max(1, round(EPOCHS[run.task] * epochs_scale))}", f"train.seed={run.seed}",
             f"data.videos={data / 'synth' / 'videos'}",
             *run.overrides, *([] if run.keep else ["--evaluate", "test"])], log)
    (folder / "last.pt").unlink()
    if run.keep:
        # A kept run ships fp16 weights, so its predictions are scored from those: scored
        # from the fp32 best.pt inside the training process, the shipped checkpoint would
        # reproduce its own predictions file only to ~1e-4 in confidence, and a near-tie
        # can flip (two answers did across the 14 kept runs). One more process start
        # (~4 s) per kept run; the others still evaluate inside `train`.
        shrink_checkpoint(folder / "best.pt")
        _python(["evaluate", "--checkpoint", str(run.folder / "best.pt"), "--split", "test"], log)
    else:
        (folder / "best.pt").unlink()
    log.unlink()
    metrics = json.loads((folder / "metrics_test.json").read_text())
    return {"run": str(run.folder), "task": run.task, "name": run.name, "seed": run.seed,
            "seconds": round(time.time() - t0, 1), "test": metrics["overall"]}


def main(args) -> int:
    t0 = time.time()
    data, ckpt = Path(args.data_dir), Path(args.checkpoints_dir)
    (ROOT / data).mkdir(parents=True, exist_ok=True)
    if not args.skip_data:
        (ROOT / data / "build.log").unlink(missing_ok=True)
        build_data(data, args.videos, args.seed)
        (ROOT / data / "build.log").unlink(missing_ok=True)
        print(f"data: {time.time() - t0:.0f} s", flush=True)
    runs = [r for r in plan(args.seeds, ckpt) if not args.only or f"{r.task}/{r.folder.name}" in args.only]
    results = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for res in pool.map(lambda r: train_run(r, data, args.epochs_scale), runs):
            results.append(res)
            t = res["test"]
            score = t.get("accuracy", t.get("mse_rounded"))
            print(f"{res['run']:<45} {res['seconds']:>6.0f} s   test {score:.4f}", flush=True)
    summary_path = ROOT / ckpt / "runs.json"
    old = json.loads(summary_path.read_text()) if summary_path.exists() and args.only else []
    keep_old = [o for o in old if o["run"] not in {r["run"] for r in results}]
    summary_path.write_text(json.dumps(sorted(keep_old + results, key=lambda r: r["run"]), indent=1))
    print(f"demo built in {time.time() - t0:.0f} s: {len(results)} runs, summary {summary_path}")
    return 0
