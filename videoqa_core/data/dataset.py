"""From records + feature store to model batches.

One item is one question: its video's features (N, Da) / (N, Dm) and its token rows —
one row (question) for count and open-ended, C=5 rows (question + candidate c) for
multiple choice, or the candidate alone for the candidates-only baseline.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional, Sequence

import numpy as np
import torch

from ..tasks import kind_of
from .features import FeatureStore
from .records import QARecord
from .vocab import Vocab, tokenize


def encode_rows(record_question: str, candidates: Sequence[str], *, vocab: Vocab, max_len: int,
                text_source: str = "question") -> list[list[int]]:
    """Token-id rows for one question.

    Multiple choice appends each candidate to the question (spec 5); when the pair is too
    long the *question* is cut, never the candidate, because the candidate is what the
    row is scored for. ``text_source='candidates'`` drops the question (the
    candidates-only baseline)."""
    q = vocab.encode(tokenize(record_question))
    if not candidates:
        return [(q[:max_len] or [vocab.UNK])]
    rows = []
    for cand in candidates:
        c = vocab.encode(tokenize(cand))[: max(1, max_len // 2)] or [vocab.UNK]
        rows.append(c if text_source == "candidates" else q[: max_len - len(c)] + c)
    return rows


@dataclass
class Batch:
    appearance: torch.Tensor      # (B, N, Da) float32
    motion: torch.Tensor          # (B, N, Dm)
    video_mask: torch.Tensor      # (B, N) bool
    text: torch.Tensor            # (R, T) long, R = B or B*C
    text_len: torch.Tensor        # (R,) long
    target: torch.Tensor          # (B,) float count | long candidate index | long answer index (-1: OOV)
    index: torch.Tensor           # (B,) position of each item in its dataset

    def to(self, device, non_blocking: bool = False) -> "Batch":
        return Batch(**{f.name: getattr(self, f.name).to(device, non_blocking=non_blocking) for f in fields(self)})

    def inputs(self) -> dict:
        return dict(appearance=self.appearance, motion=self.motion, text=self.text,
                    text_len=self.text_len, video_mask=self.video_mask)


class QADataset(torch.utils.data.Dataset):
    def __init__(self, records: Sequence[QARecord], store: FeatureStore, *, vocab: Vocab,
                 answers: Optional[Sequence[str]], task: str, max_len: int,
                 text_source: str = "question"):
        self.records = list(records)
        self.store, self.vocab, self.task = store, vocab, task
        self.kind = kind_of(task)
        self.max_len, self.text_source = max_len, text_source
        self.answer_index = {a: i for i, a in enumerate(answers or [])}
        # Tokenise once up front: cheap, and keeps workers free of text work.
        self.rows = [encode_rows(r.question, r.candidates, vocab=vocab, max_len=max_len, text_source=text_source)
                     for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def target(self, r: QARecord):
        if self.kind.name == "count":
            return float(r.answer)
        if self.kind.name == "mc":
            return r.answer_index
        return self.answer_index.get(r.answer, -1)

    def __getitem__(self, i: int):
        r = self.records[i]
        app, mot = self.store.get(r.video_id)
        return app, mot, self.rows[i], self.target(r), i


def collate(items) -> Batch:
    """Pad frames (masked) and tokens (PAD=0, lengths kept) into one batch."""
    B = len(items)
    N = max(it[0].shape[0] for it in items)
    Da, Dm = items[0][0].shape[1], items[0][1].shape[1]
    app = np.zeros((B, N, Da), np.float32)
    mot = np.zeros((B, N, Dm), np.float32)
    vmask = np.zeros((B, N), bool)
    rows = [row for it in items for row in it[2]]
    T = max(len(r) for r in rows)
    text = np.zeros((len(rows), T), np.int64)
    for j, r in enumerate(rows):
        text[j, :len(r)] = r
    for b, (a, m, _, _, _) in enumerate(items):
        n = a.shape[0]
        app[b, :n], mot[b, :n], vmask[b, :n] = a, m, True
    targets = [it[3] for it in items]
    target = torch.tensor(targets, dtype=torch.float32 if isinstance(targets[0], float) else torch.long)
    return Batch(appearance=torch.from_numpy(app), motion=torch.from_numpy(mot), video_mask=torch.from_numpy(vmask),
                 text=torch.from_numpy(text), text_len=torch.tensor([len(r) for r in rows]),
                 target=target, index=torch.tensor([it[4] for it in items]))
