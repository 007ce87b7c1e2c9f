"""The one path from a DataConfig to datasets: used by train, evaluate and analyze.

    records = load_splits(cfg.data)                      # readers -> QARecords per split
    vocab, answers = build_vocabularies(records["train"], cfg.data)
    store = open_store(cfg.data.features, records)       # checks ids and shapes up front
    ds = make_dataset(records["val"], store, cfg, vocab, answers)
"""
from __future__ import annotations

from typing import Optional, Sequence

from ..errors import UserError
from .dataset import QADataset
from .features import FeatureStore
from .readers import load_dataset
from .records import QARecord
from .vocab import Vocab, build_answer_vocab, build_word_vocab, default_top_k


def load_splits(data) -> dict[str, list[QARecord]]:
    task = None if data.dataset != "tgif-qa" and data.task == "open" else data.task
    if data.dataset != "tgif-qa" and data.task != "open":
        raise UserError(f"{data.dataset} has one task, 'open' (got --task {data.task})")
    splits = load_dataset(data.dataset, data.annotations, task, val_fraction=data.val_fraction, seed=data.split_seed)
    if data.max_questions:
        splits = {k: v[: data.max_questions] for k, v in splits.items()}
    return splits


def build_vocabularies(train: Sequence[QARecord], data) -> tuple[Vocab, Optional[list[str]]]:
    """Word vocabulary from training questions (and candidates); answer vocabulary from
    training answers (top-K, the dataset's convention unless data.answer_top_k is set)."""
    vocab = build_word_vocab(train)
    top_k = data.answer_top_k if data.answer_top_k is not None else default_top_k(data.dataset, data.task)
    if data.task in ("count", "action", "transition"):
        return vocab, None
    return vocab, build_answer_vocab(train, top_k=top_k)


def open_store(path: str, records: dict[str, list[QARecord]] | Sequence[QARecord]) -> FeatureStore:
    """Open the feature store and check that every question's video is in it."""
    if not path:
        raise UserError("no feature store given: pass --features FILE.h5 (made by `python -m videoqa_core extract`)")
    store = FeatureStore(path)
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
