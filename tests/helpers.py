"""Shared test fixtures: a tiny model config and tiny datasets in the real file formats.

Like transformers' ModelTester: d=16, N=5, S=4 so every test runs in well under a second
of model time on a CPU.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from videoqa_core.config import Config, ModelConfig
from videoqa_core.data.features import write_store

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
TINY = dict(hidden=16, embed_dim=8, visual_slots=4, text_slots=3, num_frames=5, max_question_len=12,
            appearance_dim=6, motion_dim=5, vocab_size=30, num_answers=7)
COLORS = ["red", "green", "blue", "yellow", "purple", "white", "black"]
EVENTS = ["jump", "spin", "grow", "shrink", "flash"]


def tiny_model_config(task: str = "count", **kw) -> ModelConfig:
    return ModelConfig(task=task, **{**TINY, **kw})


def tiny_inputs(cfg: ModelConfig, B: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    R = B * (5 if cfg.task in ("action", "transition") else 1)
    app = torch.randn(B, cfg.num_frames, cfg.appearance_dim, generator=g)
    mot = torch.randn(B, cfg.num_frames, cfg.motion_dim, generator=g)
    text_len = torch.randint(2, cfg.max_question_len + 1, (R,), generator=g)
    text = torch.randint(2, cfg.vocab_size, (R, cfg.max_question_len), generator=g)
    text = text * (torch.arange(cfg.max_question_len)[None] < text_len[:, None])
    return app, mot, text, text_len


def make_tgif_dataset(root: Path, task: str, *, videos: int = 24, frames: int = 5, da: int = 6, dm: int = 5,
                      seed: int = 0, prefix: str = "tumblr_v") -> tuple[Path, Path]:
    """TGIF-QA-format annotation files (tab-separated, CRLF) + a feature store in which the
    answer is readable from the features, so a model can learn it."""
    rng = np.random.default_rng(seed)
    ann = root / "tgif"
    ann.mkdir(parents=True, exist_ok=True)
    feats, rows = [], {"Train": [], "Test": []}
    for v in range(videos):
        name = f"{prefix}{v:03d}"
        split = "Test" if v % 4 == 3 else "Train"
        color = int(rng.integers(len(COLORS)))
        count = int(rng.integers(1, 6))
        event = int(rng.integers(len(EVENTS)))
        app = rng.normal(0, 0.1, (frames, da)).astype(np.float32)
        mot = rng.normal(0, 0.1, (frames, dm)).astype(np.float32)
        app[:, color % da] += 1.0                     # colour visible in appearance
        mot[:, 0] += count / 5.0                      # count visible in motion
        mot[:, 1 + event % (dm - 1)] += 1.0           # event visible in motion
        feats.append((name, app, mot))
        if task == "count":
            rows[split].append([name, "how many times does the object jump ?", str(count), f"COUNT{v}", str(v)])
        elif task in ("action", "transition"):
            order = list(rng.permutation(len(EVENTS)))
            ans = order.index(event)
            q = "what does the object do 3 times ?" if task == "action" else "what does the object do after turn ?"
            rows[split].append([name, q, *[EVENTS[i] for i in order], str(ans), f"ACTION{v}", str(v)])
        else:
            rows[split].append([name, "what is the color of the object ?", COLORS[color], "2", f"FRAMEQA{v}", str(v),
                                "an object"])
    header = {"count": "gif_name question answer vid_id key",
              "action": "gif_name question a1 a2 a3 a4 a5 answer vid_id key",
              "transition": "gif_name question a1 a2 a3 a4 a5 answer vid_id key",
              "frameqa": "gif_name question answer type vid_id key description"}[task].split()
    for split, rs in rows.items():
        lines = ["\t".join(header)] + ["\t".join(r) for r in rs]
        (ann / f"{split}_{task}_question.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    store = write_store(root / "feats.h5", feats, attrs={"appearance": "test", "motion": "test"})
    return ann, store


def make_msvd_dataset(root: Path, *, videos: int = 20, frames: int = 5, da: int = 6, dm: int = 5, seed: int = 0,
                      prefix: str = "vid") -> tuple[Path, Path]:
    """MSVD-QA-format JSON (MSRVTT-QA with prefix='video') + a store where colour is visible."""
    rng = np.random.default_rng(seed)
    ann = root / "msvd"
    ann.mkdir(parents=True, exist_ok=True)
    feats, qs = [], {"train": [], "val": [], "test": []}
    qid = 0
    for v in range(1, videos + 1):
        split = "train" if v <= videos * 0.6 else ("val" if v <= videos * 0.8 else "test")
        color = int(rng.integers(4))
        app = rng.normal(0, 0.1, (frames, da)).astype(np.float32)
        app[:, color] += 1.0
        feats.append((f"{prefix}{v}", app, rng.normal(0, 0.1, (frames, dm)).astype(np.float32)))
        for q in ("what color is the thing ?", "who is the colourful thing ?"):
            qs[split].append({"answer": COLORS[color], "id": qid, "question": q, "video_id": v, "category_id": 3})
            qid += 1
    for split, items in qs.items():
        (ann / f"{split}_qa.json").write_text(json.dumps(items))
    store = write_store(root / "feats.h5", feats)
    return ann, store


def tiny_train_config(dataset: str, task: str, ann: Path, store: Path, **train) -> Config:
    cfg = Config()
    cfg.data.dataset, cfg.data.task, cfg.data.annotations, cfg.data.features = dataset, task, str(ann), str(store)
    cfg.data.val_fraction = 0.25
    for k, v in TINY.items():
        if k not in ("vocab_size", "num_answers", "appearance_dim", "motion_dim", "num_frames"):
            setattr(cfg.model, k, v)
    cfg.train.epochs, cfg.train.batch_size, cfg.train.lr, cfg.train.progress = 2, 4, 3e-3, False
    for k, v in train.items():
        setattr(cfg.train, k, v)
    return cfg


def overrides(cfg: Config) -> list[str]:
    """The config as CLI overrides (model.* and train.* fields that differ from defaults)."""
    base = Config()
    out = []
    for section in ("model", "train", "data"):
        for k, v in vars(getattr(cfg, section)).items():
            if section == "data" and k in ("dataset", "task", "annotations", "features"):
                continue
            if getattr(getattr(base, section), k) != v and v is not None:
                out.append(f"{section}.{k}={v}")
    return out
