"""Word and answer vocabularies, GloVe vectors, answer coverage.

    from videoqa_core.data.vocab import build_word_vocab, build_default_answer_vocab
    words = build_word_vocab(splits["train"])
    answers = build_default_answer_vocab(splits["train"], "msvd-qa", "open")  # top 1000

Both vocabularies are built from TRAINING records only (validation and test answers must
not leak into the classifier's label set). They are stored in checkpoints as plain lists
of strings (``Vocab.to_list``), which ``torch.load(weights_only=True)`` accepts.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import UserError
from .records import QARecord

PAD, UNK = 0, 1
PAD_TOKEN, UNK_TOKEN = "<pad>", "<unk>"

# Words are runs of letters/digits; an apostrophe inside a word stays ("don't", "cat's"),
# while TGIF-QA's detached "cat 's" gives "cat", "s".
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")

# Tasks whose answers are classes of an answer vocabulary; count is regression and
# action/transition pick one of five candidates.
ANSWER_VOCAB_TASKS = ("frameqa", "open")
OPEN_TOP_K = 1000


def tokenize(text: str) -> list[str]:
    """Lowercased words of ``text``; punctuation splits words and is dropped."""
    return _WORD.findall(text.lower())


class Vocab:
    """Token <-> id map with ``<pad>`` = 0 and ``<unk>`` = 1."""

    PAD, UNK = PAD, UNK
    PAD_TOKEN, UNK_TOKEN = PAD_TOKEN, UNK_TOKEN

    def __init__(self, tokens: Iterable[str] = ()):
        self.itos: list[str] = [PAD_TOKEN, UNK_TOKEN]
        self.stoi: dict[str, int] = {PAD_TOKEN: PAD, UNK_TOKEN: UNK}
        for tok in tokens:
            if tok not in self.stoi:
                self.stoi[tok] = len(self.itos)
                self.itos.append(tok)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens)"

    def encode(self, tokens_or_text: str | Sequence[str], max_len: int | None = None) -> list[int]:
        """Ids of the tokens (a string is tokenized first); unknown words map to UNK."""
        tokens = tokenize(tokens_or_text) if isinstance(tokens_or_text, str) else tokens_or_text
        ids = [self.stoi.get(t, UNK) for t in tokens]
        return ids if max_len is None else ids[:max_len]

    def decode(self, ids: Iterable[int], *, skip_pad: bool = True) -> list[str]:
        return [self.itos[i] for i in ids if not (skip_pad and i == PAD)]

    def to_list(self) -> list[str]:
        return list(self.itos)

    @classmethod
    def from_list(cls, itos: Sequence[str]) -> "Vocab":
        """Inverse of :meth:`to_list` (e.g. from a checkpoint)."""
        itos = list(itos)
        if itos[:2] != [PAD_TOKEN, UNK_TOKEN] or len(set(itos)) != len(itos) or not all(isinstance(t, str) for t in itos):
            raise UserError(f"word vocabulary ({len(itos)} entries, starting {itos[:2]}) is not one this code wrote: "
                            f"it must start with {PAD_TOKEN}, {UNK_TOKEN} and hold unique strings; use a checkpoint from this project")
        return cls(itos[2:])


def _require_train(records: Sequence[QARecord], what: str) -> None:
    other = {r.split for r in records} - {"train"}
    if other:
        raise ValueError(f"{what} must be built from training records only, got splits {sorted(other)}")


def build_word_vocab(records: Sequence[QARecord], *, min_count: int = 1, include_candidates: bool = True) -> Vocab:
    """Words of the training questions (and multiple-choice candidates) seen ``min_count`` times.

    Ordered by frequency, ties by the word, so the same records always give the same ids.
    """
    _require_train(records, "the word vocabulary")
    counts: Counter[str] = Counter()
    for rec in records:
        counts.update(tokenize(rec.question))
        if include_candidates:
            for cand in rec.candidates:
                counts.update(tokenize(cand))
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return Vocab(words)


def build_answer_vocab(records: Sequence[QARecord], *, top_k: int | None) -> list[str]:
    """The ``top_k`` most frequent training answers (``None``: all), by count then text."""
    _require_train(records, "the answer vocabulary")
    counts = Counter(r.answer for r in records)
    ranked = sorted(counts, key=lambda a: (-counts[a], a))
    return ranked if top_k is None else ranked[:top_k]


def has_answer_vocab(task: str) -> bool:
    return task in ANSWER_VOCAB_TASKS


def default_top_k(dataset: str, task: str) -> int | None:
    """The answer-vocabulary size the literature uses.

    MSVD-QA / MSRVTT-QA: the 1000 most frequent training answers (others count as wrong
    at test time). FrameQA: every training answer. Count/action/transition have no answer
    vocabulary (see :func:`has_answer_vocab`); for them, as for FrameQA, this is ``None``.
    """
    if dataset in ("msvd-qa", "msrvtt-qa"):
        return OPEN_TOP_K
    return None


def build_default_answer_vocab(records: Sequence[QARecord], dataset: str, task: str) -> list[str] | None:
    """The answer vocabulary with the conventional size, or ``None`` when the task has none."""
    if not has_answer_vocab(task):
        return None
    return build_answer_vocab(records, top_k=default_top_k(dataset, task))


def answer_coverage(records: Sequence[QARecord], answers: Iterable[str]) -> float:
    """Share of ``records`` whose answer is in ``answers`` (0.0 for no records)."""
    if not records:
        return 0.0
    known = set(answers)
    return sum(r.answer in known for r in records) / len(records)


def load_glove(path: str | Path, vocab: Vocab, dim: int = 300, *, seed: int = 0, scale: float = 0.1) -> tuple[np.ndarray, int]:
    """Embedding matrix ``[len(vocab), dim]`` (float32) from a GloVe text file, and how many words were found.

    Words missing from the file get ``N(0, scale^2)`` vectors from ``seed``; ``<pad>`` is
    zeros. An exact match wins over a case variant (the 840B vectors are cased). Only the
    lines of vocabulary words are parsed, so a 5 GB file costs one pass of string splits.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"GloVe file {path} does not exist: pass the path of a text file with lines 'word v1 ... v{dim}'")
    rng = np.random.default_rng(seed)
    matrix = (rng.standard_normal((len(vocab), dim)) * scale).astype(np.float32)
    matrix[PAD] = 0.0
    exact = np.zeros(len(vocab), dtype=bool)
    found = np.zeros(len(vocab), dtype=bool)
    checked_dim = False
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            if line_no == 1 and _is_word2vec_header(line, dim, path):
                continue
            # rsplit: a few 840B entries are "words" containing spaces, so only the first
            # data line can tell a wrong dimension from such a word.
            parts = line.rsplit(b" ", dim)
            first = not checked_dim
            checked_dim = True
            if len(parts) != dim + 1 or not parts[0] or (first and len(line.split()) != dim + 1):
                n = len(line.split()) - 1
                raise UserError(f"{path} line {line_no} has {n} values, expected {dim}: "
                                f"if the file holds {n}-dimensional vectors pass that dimension, else the line is damaged")
            try:
                word = parts[0].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UserError(f"{path} line {line_no} is not UTF-8: re-save the file as UTF-8") from exc
            idx = vocab.stoi.get(word)
            is_exact = idx is not None
            if idx is None:
                idx = vocab.stoi.get(word.lower())
            if idx is None or idx == PAD or exact[idx] or (found[idx] and not is_exact):
                continue
            try:
                matrix[idx] = np.array(parts[1:], dtype=np.float32)
            except ValueError as exc:
                raise UserError(f"{path} line {line_no} has a value that is not a number: the file is damaged") from exc
            found[idx] = True
            exact[idx] |= is_exact
    return matrix, int(found.sum())


def _is_word2vec_header(line: bytes, dim: int, path: Path) -> bool:
    """True for a word2vec-style first line ``<count> <dim>``; checks the dimension."""
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        if int(parts[1]) != dim:
            raise UserError(f"{path} holds {int(parts[1])}-dimensional vectors, expected {dim}: pass the matching dimension")
        return True
    return False
