"""Train a model.

    python -m videoqa_core train --dataset tgif-qa --task count --annotations DIR \\
        --features FEATS.h5 --out runs/count [model.variant=Attv train.epochs=5 ...]
    torchrun --nproc_per_node 2 -m videoqa_core train ...     # DDP: gloo on CPU, NCCL on GPU
    python -m videoqa_core train --resume runs/count          # continue after a crash
    python -m videoqa_core train ... --evaluate test          # then write predictions_test.parquet
    python -m videoqa_core train ... --init-from runs/warmup/best.pt   # warm start (fine-tuning)

The run folder holds ``config.json`` (resolved config), ``metrics.jsonl`` (one JSON line
per epoch), ``last.pt`` (everything needed to resume) and ``best.pt`` (the epoch with the
best *validation* metric — test data never chooses a checkpoint).

Resuming restores the model, optimizer, scheduler and RNG states of the last completed
epoch; data order depends only on (seed, epoch), so on CPU an interrupted-and-resumed
run ends with bit-identical weights to an uninterrupted one.
"""
from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler

from . import distributed as dist
from .checkpoint import checkpoint_file, load_checkpoint, save_checkpoint
from .config import Config, apply_overrides
from .data.dataset import collate
from .data.pipeline import build_vocabularies, load_splits, make_dataset, open_store
from .data.vocab import Vocab, load_glove
from .devices import autocast, resolve_device
from .errors import UserError
from .model.videoqa import VideoQAModel
from .tasks import kind_of


def configure(p) -> None:
    p.add_argument("--dataset", help="tgif-qa | msvd-qa | msrvtt-qa")
    p.add_argument("--task", help="count | action | transition | frameqa (TGIF-QA); open (MSVD/MSRVTT)")
    p.add_argument("--annotations", help="folder with the dataset's annotation files")
    p.add_argument("--features", help="HDF5 feature store")
    p.add_argument("--out", help="run folder to create")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last.pt")
    p.add_argument("--glove", help="GloVe text file to initialise the word embedding")
    p.add_argument("--init-from", metavar="CKPT", help="start from the weights of CKPT that fit this model "
                   "(same name and shape; word embeddings by word); recorded in RUN_DIR/init_from.json")
    p.add_argument("--evaluate", action="append", default=[], choices=["train", "val", "test"], metavar="SPLIT",
                   help="then evaluate best.pt on SPLIT as `evaluate` does, in this process (repeatable)")
    p.add_argument("overrides", nargs="*", help="dotted overrides: model.variant=Attv train.epochs=5 ...")


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": list(_py_state_to_list(random.getstate()))}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _py_state_to_list(s):
    return [s[0], list(s[1]), s[2]]


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    v, internal, gauss = state["python"]
    random.setstate((v, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def train_one_epoch(model, loader, optimizer, kind, device, cfg, epoch: int, *, progress: bool) -> dict:
    model.train()
    loss_sum, n_seen, t0 = torch.zeros((), dtype=torch.float64), 0, time.perf_counter()
    bar = None
    if progress and dist.is_main_process():
        from tqdm import tqdm
        bar = tqdm(total=len(loader), desc=f"epoch {epoch + 1}/{cfg.train.epochs}", leave=False, dynamic_ncols=True)
    for step, batch in enumerate(loader):
        batch = batch.to(device, non_blocking=True)
        with autocast(device, cfg.train.amp):
            scores = model(**batch.inputs()).scores
        loss = kind.loss(scores, batch.target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        optimizer.step()
        b = batch.target.shape[0]
        loss_sum += loss.detach().double().cpu() * b
        n_seen += b
        if bar is not None:
            bar.update(1)
            if step % cfg.train.log_every == 0:
                bar.set_postfix(loss=f"{float(loss):.4f}")
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - t0
    totals = dist.all_reduce_sum(torch.stack([loss_sum, torch.tensor(float(n_seen), dtype=torch.float64)]))
    return {"train_loss": float(totals[0] / totals[1].clamp_min(1)), "train_samples": int(totals[1]),
            "train_seconds": seconds, "train_samples_per_s": float(totals[1]) / max(seconds, 1e-9)}


@torch.no_grad()
def validate(model, loader, kind, device, amp: bool) -> dict:
    """Metrics from raw sums all-reduced over ranks."""
    model.eval()
    sums = None
    for batch in loader:
        batch = batch.to(device)
        with autocast(device, amp):
            scores = model(**batch.inputs()).scores
        s = kind.sums(scores.float().cpu(), batch.target.cpu())
        sums = s if sums is None else sums + s
    if sums is None:
        sums = torch.zeros(len(kind.sum_names), dtype=torch.float64)
    return kind.metrics_from_sums(dist.all_reduce_sum(sums))


def _improved(kind, value: float, best: dict | None) -> bool:
    if best is None or best.get("value") is None or math.isnan(best["value"]):
        return True
    return value > best["value"] if kind.higher_is_better else value < best["value"]


def _prepare_config(args) -> tuple[Config, Path, dict | None]:
    if args.resume:
        run = Path(args.resume)
        if not (run / "last.pt").is_file():
            raise UserError(f"--resume {run}: no last.pt there; point at a run folder made by `train`")
        if getattr(args, "init_from", None):
            raise UserError("--init-from starts a new run; --resume continues one from its own weights: use one of them")
        ckpt = load_checkpoint(run / "last.pt")
        cfg = Config.from_dict(ckpt["config"])
        # Only the length of the run may change on resume; anything else would not be a resume.
        for item in args.overrides:
            if not item.startswith("train.epochs="):
                raise UserError(f"--resume takes only train.epochs=N as an override (got {item}); start a new run for other changes")
        apply_overrides(cfg, args.overrides)
        return cfg, run, ckpt
    cfg = Config()
    for name in ("dataset", "task", "annotations", "features"):
        if getattr(args, name):
            setattr(cfg.data, name, getattr(args, name))
    if args.glove:
        cfg.data.glove = args.glove
    apply_overrides(cfg, args.overrides)
    if not args.out:
        raise UserError("--out RUN_DIR is required for a new run")
    for name in ("annotations", "features"):
        if not getattr(cfg.data, name):
            raise UserError(f"--{name} is required for a new run")
    run = Path(args.out)
    if (run / "last.pt").exists():
        raise UserError(f"{run} already holds a run: continue it with --resume {run} or choose another --out")
    return cfg, run, None


def main(args) -> int:
    cfg, run, ckpt = _prepare_config(args)
    cfg.validate()
    device = resolve_device(cfg.train.device)
    distributed = dist.init_from_env(device.type)
    if distributed and device.type == "cuda":
        import os
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    try:
        code = _train(cfg, run, ckpt, device, init_from=getattr(args, "init_from", None))
        # Every rank takes part: under DDP each scores its shard and rank 0 writes the files.
        from .evaluate import run_evaluation
        for split in args.evaluate:
            run_evaluation(str(run / "best.pt"), split, device=str(device))
        return code
    finally:
        dist.cleanup()


def warm_start(model: VideoQAModel, vocab: Vocab, answers, path) -> dict:
    """Copy into ``model`` every weight of the checkpoint at ``path`` that means the same here.

    Both models must have the same sizes (a tensor they share has one shape); tensors only
    one of them has (another variant's parts) are left alone. The word embedding is copied row by
    row for the words both vocabularies hold (ids differ between datasets); the answer head
    only when both runs have the same kind of head (count / mc / open) and, for open-ended,
    the same answer list, because a head of the same shape over other answers would start
    out confidently wrong. Everything else keeps its fresh initialisation. This is how a
    model trained on one task starts another: e.g. a multiple-choice model warmed up on an
    easy question set before Transition. Returns what was copied, for init_from.json."""
    import hashlib
    path = checkpoint_file(path)
    src = load_checkpoint(path)
    src_cfg = Config.from_dict(src["config"])
    same_head = (kind_of(src_cfg.data.task).name == kind_of(model.cfg.task).name
                 and (src.get("answers") or None) == (list(answers) if answers else None))
    own = model.state_dict()
    # A tensor both models have must have one shape in both (the embedding: one width): a
    # model of other sizes would be copied in scattered pieces, which starts nothing.
    for name, value in src["model"].items():
        if name in own and (own[name].shape[1:] != value.shape[1:] or
                            (name != "embedding.weight" and own[name].shape != value.shape)):
            raise UserError(f"--init-from {path}: its {name} is {tuple(value.shape)}, this model's is "
                            f"{tuple(own[name].shape)}; warm-start from a run with the same model.* sizes "
                            "and feature dimensions")
    copied, skipped, words = [], [], 0
    for name, value in src["model"].items():
        if name not in own:   # e.g. a part this variant does not have
            skipped.append(name)
        elif name.startswith("head.") and not same_head:
            skipped.append(name)
        elif name == "embedding.weight":
            index = {w: i for i, w in enumerate(src["vocab"])}
            for j, w in enumerate(vocab.to_list()):
                if w in index:
                    own[name][j] = value[index[w]].to(own[name].dtype)
                    words += 1
            copied.append(name)
        else:
            own[name].copy_(value.to(own[name].dtype))
            copied.append(name)
    if not copied:
        raise UserError(f"--init-from {path}: none of its weights are part of this model; "
                        "warm-start from a run of this model")
    model.load_state_dict(own)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"checkpoint": str(path), "sha256": digest, "source_task": src_cfg.data.task,
            "copied": len(copied), "of": len(own), "skipped": skipped,
            "words": words, "vocab": len(vocab), "head_copied": same_head and any(n.startswith("head.") for n in copied)}


def _train(cfg: Config, run: Path, ckpt: dict | None, device: torch.device, init_from: str | None = None) -> int:
    kind = kind_of(cfg.data.task)
    splits = load_splits(cfg.data)
    for name in ("train", "val"):
        if not splits.get(name):
            raise UserError(f"the {name} split of {cfg.data.annotations} is empty: check --annotations and --task")
    if ckpt is not None:
        vocab, answers = Vocab.from_list(ckpt["vocab"]), ckpt.get("answers")
    else:
        vocab, answers = build_vocabularies(splits["train"], cfg.data)
    store = open_store(cfg.data.features, {k: splits[k] for k in ("train", "val")}, cfg.data.train_extra_features)
    if ckpt is None:
        cfg.model.appearance_dim, cfg.model.motion_dim = store.appearance_dim, store.motion_dim
        cfg.model.num_frames = store.num_frames
        cfg.model.vocab_size = len(vocab)
        cfg.model.num_answers = len(answers) if answers else 0
    else:
        from .data.pipeline import check_dims
        check_dims(store, cfg.model)
    cfg.validate()

    torch.manual_seed(cfg.train.seed)
    random.seed(cfg.train.seed)
    embedding = None
    if cfg.data.glove and ckpt is None:
        emb, found = load_glove(cfg.data.glove, vocab, dim=cfg.model.embed_dim)
        embedding = torch.from_numpy(emb).float()
        if dist.is_main_process():
            print(f"GloVe: {found}/{len(vocab)} words initialised from {cfg.data.glove}")
    model = VideoQAModel(cfg.model, embedding=embedding).to(device)
    warm = warm_start(model, vocab, answers, init_from) if init_from and ckpt is None else None
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    scheduler = (torch.optim.lr_scheduler.StepLR(optimizer, cfg.train.lr_step, cfg.train.lr_gamma)
                 if cfg.train.lr_step > 0 else torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0))
    start_epoch, best = 0, None
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        start_epoch, best = int(ckpt["epoch"]), ckpt.get("best")
        set_rng_state(ckpt["rng"])

    ddp_model = model
    if dist.world_size() > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    train_ds = make_dataset(splits["train"], store, cfg, vocab, answers)
    val_ds = make_dataset(splits["val"], store, cfg, vocab, answers)
    per_rank = max(1, cfg.train.batch_size // dist.world_size())
    # One sampler for 1 and K processes: the permutation depends only on (seed, epoch), and
    # the K ranks' batches together are exactly the 1-process batch.
    sampler = DistributedSampler(train_ds, num_replicas=dist.world_size(), rank=dist.rank(), shuffle=True, seed=cfg.train.seed)
    loader_kw = dict(collate_fn=collate, num_workers=cfg.train.workers, pin_memory=device.type == "cuda",
                     persistent_workers=cfg.train.workers > 0)
    train_loader = DataLoader(train_ds, batch_size=per_rank, sampler=sampler, **loader_kw)
    val_loader = DataLoader(val_ds, batch_size=per_rank * 2, sampler=dist.ShardSampler(len(val_ds)), **loader_kw)

    if dist.is_main_process():
        run.mkdir(parents=True, exist_ok=True)
        cfg.save(run / "config.json")
        if warm is not None:
            (run / "init_from.json").write_text(json.dumps(warm, indent=1) + "\n", encoding="utf-8")
            print(f"init from {warm['checkpoint']} ({warm['source_task']}): {warm['copied']} of {warm['of']} tensors, "
                  f"{warm['words']} of {warm['vocab']} words{'' if warm['head_copied'] else ', fresh answer head'}")
        _trim_metrics(run / "metrics.jsonl", start_epoch)
        print(f"run {run}: {len(train_ds)} train / {len(val_ds)} val questions, {cfg.model.variant}"
              f"{'' if cfg.model.baseline == 'none' else ' baseline=' + cfg.model.baseline}, device {device}, "
              f"{dist.world_size()} process(es), epochs {start_epoch + 1}..{cfg.train.epochs}")
    common = {"config": cfg.to_dict(), "vocab": vocab.to_list(), "answers": list(answers) if answers else None}
    for epoch in range(start_epoch, cfg.train.epochs):
        sampler.set_epoch(epoch)
        stats = train_one_epoch(ddp_model, train_loader, optimizer, kind, device, cfg, epoch, progress=cfg.train.progress)
        scheduler.step()
        val = validate(model, val_loader, kind, device, cfg.train.amp)
        value = val[kind.selection_metric]
        is_best = _improved(kind, value, best)
        if is_best:
            best = {"metric": kind.selection_metric, "value": value, "epoch": epoch + 1}
        line = {"epoch": epoch + 1, **stats, "lr": optimizer.param_groups[0]["lr"],
                **{f"val_{k}": v for k, v in val.items()}, "best_epoch": best["epoch"]}
        if dist.is_main_process():
            state = {**common, "model": model.state_dict(), "epoch": epoch + 1, "best": best, "metrics": val}
            if is_best:
                save_checkpoint(state, run / "best.pt")
            with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
            save_checkpoint({**state, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                             "rng": rng_state()}, run / "last.pt")
            print(f"epoch {epoch + 1}: loss {stats['train_loss']:.4f}, val {kind.selection_metric} {value:.4f}"
                  f"{' (best)' if is_best else ''}, {stats['train_samples_per_s']:.1f} samples/s")
        dist.barrier()
    return 0


def _trim_metrics(path: Path, epochs_done: int) -> None:
    """On resume, drop metric lines of epochs after the checkpoint (a crash between writing
    the line and the checkpoint would otherwise repeat them)."""
    if not path.exists():
        return
    keep = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and json.loads(ln)["epoch"] <= epochs_done]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(k + "\n" for k in keep), encoding="utf-8")
    tmp.replace(path)
