"""The one path from a DataConfig to datasets: used by train, evaluate and analyze.

    records = load_splits(cfg.data)                      # readers -> QARecords per split
    vocab, answers = build_vocabularies(records["train"], cfg.data)
    store = open_store(cfg.data.features, records)       # checks ids and shapes up front
    ds = make_dataset(records["val"], store, cfg, vocab, answers)
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional, Sequence

from ..errors import UserError
from .dataset import QADataset
from .features import FeatureStore, StoreUnion
from .readers import load_dataset
from .records import QARecord
from .vocab import Vocab, build_answer_vocab, build_word_vocab, default_top_k


def load_splits(data, *, extra: bool = True) -> dict[str, list[QARecord]]:
    """The splits of ``data.annotations``; with ``extra``, the questions of
    ``data.train_extra`` (all its splits) appended to train. Only training reads them:
    evaluation and the dashboard pass ``extra=False`` (their splits are the main set's)."""
    task = None if data.dataset != "tgif-qa" and data.task == "open" else data.task
    if data.dataset != "tgif-qa" and data.task != "open":
        raise UserError(f"{data.dataset} has one task, 'open' (got --task {data.task})")
    splits = load_dataset(data.dataset, data.annotations, task, val_fraction=data.val_fraction, seed=data.split_seed)
    if data.max_questions:
        splits = {k: v[: data.max_questions] for k, v in splits.items()}
    if extra and data.train_extra:
        splits["train"] = splits["train"] + _extra_train(data, task, splits)
    return splits


def _extra_train(data, task, splits) -> list[QARecord]:
    more = load_dataset(data.dataset, data.train_extra, task, val_fraction=data.val_fraction, seed=data.split_seed)
    added = [replace(r, qid=f"extra:{r.qid}", split="train") for k in ("train", "val", "test") for r in more.get(k, [])]
    if data.max_questions:
        added = added[: data.max_questions]
    if not added:
        raise UserError(f"data.train_extra {data.train_extra}: it has no {data.task} questions")
    videos = {r.video_id for r in added}
    if data.train_extra_features and data.train_extra_features != data.features:
        shared = sorted(videos & {r.video_id for v in splits.values() for r in v})
        if shared:
            raise UserError(f"data.train_extra {data.train_extra}: its video ids are also ids of {data.annotations} "
                            f"(e.g. '{shared[0]}') but come from another store: give one of the two sets other ids "
                            "(`synth --id-prefix`)")
    held = sorted(videos & {r.video_id for k in ("val", "test") for r in splits.get(k, [])})
    if held:
        raise UserError(f"data.train_extra {data.train_extra}: {len(held)} of its videos are in the val/test splits "
                        f"of {data.annotations} (e.g. '{held[0]}'), which would train on held-out videos: "
                        "use a set of other videos")
    return added


def build_vocabularies(train: Sequence[QARecord], data) -> tuple[Vocab, Optional[list[str]]]:
    """Word vocabulary from training questions (and candidates); answer vocabulary from
    training answers (top-K, the dataset's convention unless data.answer_top_k is set)."""
    vocab = build_word_vocab(train)
    top_k = data.answer_top_k if data.answer_top_k is not None else default_top_k(data.dataset, data.task)
    if data.task in ("count", "action", "transition"):
        return vocab, None
    return vocab, build_answer_vocab(train, top_k=top_k)


def open_store(path: str, records: dict[str, list[QARecord]] | Sequence[QARecord],
               extra: str = "") -> FeatureStore | StoreUnion:
    """Open the feature store (and ``extra``, the store of data.train_extra's videos,
    where it is another file) and check that every question's video is in it."""
    if not path:
        raise UserError("no feature store given: pass --features FILE.h5 (made by `python -m videoqa_core extract`)")
    store = FeatureStore(path)
    if extra and extra != path:
        store = StoreUnion(store, FeatureStore(extra))
        path = f"{path} or {extra}"
    recs = [r for v in records.values() for r in v] if isinstance(records, dict) else list(records)
    missing = sorted({r.video_id for r in recs if r.video_id not in store})
    if missing:
        raise UserError(f"{len(missing)} video(s) used by the annotations are not in feature store {path} "
                        f"(e.g. '{missing[0]}'): extract them, or check that the store was built for this dataset")
    return store


def check_dims(store: FeatureStore, model_cfg) -> None:
    if (store.appearance_dim, store.motion_dim) != (model_cfg.appearance_dim, model_cfg.motion_dim):
        raise UserError(f"feature store {store.path} has appearance/motion dims {store.appearance_dim}/{store.motion_dim} "
                        f"but the model expects {model_cfg.appearance_dim}/{model_cfg.motion_dim}: use the store the model was trained on")


def make_dataset(records: Sequence[QARecord], store: FeatureStore, cfg, vocab: Vocab,
                 answers: Optional[Sequence[str]]) -> QADataset:
    return QADataset(records, store, vocab=vocab, answers=answers, task=cfg.data.task,
                     max_len=cfg.model.max_question_len,
                     text_source="candidates" if cfg.model.baseline == "candidates-only" else "question")
