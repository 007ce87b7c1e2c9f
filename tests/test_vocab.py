"""Word/answer vocabularies, coverage and GloVe loading."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from videoqa_core.data.records import QARecord
from videoqa_core.data.vocab import (
    PAD, UNK, Vocab, answer_coverage, build_answer_vocab, build_default_answer_vocab, build_word_vocab,
    default_top_k, has_answer_vocab, load_glove, tokenize,
)
from videoqa_core.errors import UserError

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


def rec(question: str, answer: str, *, split: str = "train", candidates=(), qid: str = "q") -> QARecord:
    return QARecord(qid=qid, video_id="v", question=question, task="action" if candidates else "open",
                    qtype="what", answer=answer, split=split, answer_index=0 if candidates else -1,
                    candidates=tuple(candidates))


def test_tokenize():
    assert tokenize("What is the cat's toy?") == ["what", "is", "the", "cat's", "toy"]
    assert tokenize("what is putting its paw in another cat 's face ?") == ["what", "is", "putting", "its", "paw", "in",
                                                                            "another", "cat", "s", "face"]
    assert tokenize("How many t-shirts, 10 or more?!") == ["how", "many", "t", "shirts", "10", "or", "more"]
    assert tokenize("  ...  ") == []
    assert tokenize("Café__Crème") == ["café", "crème"]


def test_vocab_pad_unk_encode_decode():
    v = Vocab(["the", "cat", "the"])
    assert v.itos == ["<pad>", "<unk>", "the", "cat"] and len(v) == 4
    assert (v.PAD, v.UNK, PAD, UNK) == (0, 1, 0, 1) and v.stoi["cat"] == 3
    assert v.encode("The dog cat") == [2, 1, 3]
    assert v.encode(["cat", "cat", "the"], max_len=2) == [3, 3]
    assert v.decode([2, 3, 0, 0]) == ["the", "cat"]
    assert v.decode([2, 0], skip_pad=False) == ["the", "<pad>"]


def test_vocab_round_trip_through_a_weights_only_checkpoint(tmp_path):
    v = build_word_vocab([rec("what is the cat doing", "x"), rec("what is the dog", "y")])
    path = tmp_path / "ck.pt"
    torch.save({"vocab": v.to_list()}, path)
    loaded = Vocab.from_list(torch.load(path, weights_only=True)["vocab"])
    assert loaded == v and loaded.stoi == v.stoi and loaded.encode("the dog") == v.encode("the dog")
    for bad in (["cat", "<unk>"], ["<pad>", "<unk>", "a", "a"], []):
        with pytest.raises(UserError) as e:
            Vocab.from_list(bad)
        assert "\n" not in str(e.value)


def test_build_word_vocab_order_min_count_candidates():
    records = [rec("what does the man do", "run", candidates=("run", "jump high", "sit", "roll", "zzz")),
               rec("what does the dog do", "sit", candidates=("run", "bark", "sit", "roll", "zzz"))]
    v = build_word_vocab(records)
    # by frequency (does/do/what/the: 2, run/sit/roll/zzz: 2) then alphabetically
    assert v.itos[2:10] == ["do", "does", "roll", "run", "sit", "the", "what", "zzz"]
    assert "bark" in v and "high" in v
    assert "bark" not in build_word_vocab(records, include_candidates=False)
    assert build_word_vocab(records, min_count=2).itos[2:] == v.itos[2:10]
    with pytest.raises(ValueError, match="training records only"):
        build_word_vocab(records + [rec("a leak", "x", split="test")])


def test_answer_vocab_top_k_ties_and_coverage():
    answers = ["man", "dog", "man", "cat", "dog", "man", "bird", "ant"]
    train = [rec("q", a) for a in answers]
    assert build_answer_vocab(train, top_k=None) == ["man", "dog", "ant", "bird", "cat"]
    assert build_answer_vocab(train, top_k=3) == ["man", "dog", "ant"]
    test = [rec("q", a, split="test") for a in ["man", "dog", "eel", "ant"]]
    assert answer_coverage(test, build_answer_vocab(train, top_k=2)) == 0.5
    assert answer_coverage(test, ["man", "dog", "eel", "ant"]) == 1.0
    assert answer_coverage([], ["man"]) == 0.0
    with pytest.raises(ValueError):
        build_answer_vocab(test, top_k=2)


def test_default_answer_vocab_conventions():
    assert default_top_k("msvd-qa", "open") == 1000 and default_top_k("msrvtt-qa", "open") == 1000
    assert default_top_k("tgif-qa", "frameqa") is None          # every training answer
    for task in ("count", "action", "transition"):
        assert default_top_k("tgif-qa", task) is None and not has_answer_vocab(task)
    train = [rec("q", str(i % 1500)) for i in range(3000)]
    assert len(build_default_answer_vocab(train, "msvd-qa", "open")) == 1000
    assert len(build_default_answer_vocab(train, "tgif-qa", "frameqa")) == 1500
    assert build_default_answer_vocab(train, "tgif-qa", "count") is None


@pytest.mark.skipif(not REAL.is_dir(), reason=f"real annotation files not found at {REAL}")
def test_real_msvd_top1000_matches_published_answer_set():
    from videoqa_core.data.readers import load_dataset
    train = load_dataset("msvd-qa", REAL / "msvd-qa")["train"]
    ours = build_answer_vocab(train, top_k=1000)
    published = (REAL / "msvd-qa" / "answer_set.txt").read_text().split("\n")
    published = [a.strip() for a in published if a.strip()]
    assert len(published) == 1000 and ours[:5] == published[:5] == ["man", "woman", "person", "someone", "two"]
    counts = {}
    for r in train:
        counts[r.answer] = counts.get(r.answer, 0) + 1
    # The lists differ only in how answers tied at the cut-off count (2) are broken.
    assert {a for a in ours if counts[a] > 2} <= set(published)
    assert len(set(ours) & set(published)) >= 950


def write_glove(path: Path, rows: dict[str, list[float]], *, header: str | None = None) -> Path:
    lines = ([header] if header else []) + [" ".join([w, *map(str, v)]) for w, v in rows.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_glove(tmp_path):
    v = Vocab(["the", "cat", "paris", "zebra"])
    path = write_glove(tmp_path / "g.txt", {"the": [1, 2, 3], "Paris": [7, 7, 7], "paris": [4, 5, 6],
                                            "cat": [0.5, -0.5, 0], "dog": [9, 9, 9], "<pad>": [3, 3, 3]})
    emb, found = load_glove(path, v, dim=3)
    assert emb.shape == (6, 3) and emb.dtype == np.float32 and found == 3
    assert np.all(emb[PAD] == 0)
    np.testing.assert_array_equal(emb[v.stoi["the"]], [1, 2, 3])
    np.testing.assert_array_equal(emb[v.stoi["paris"]], [4, 5, 6])     # exact match beats the case variant
    again, _ = load_glove(path, v, dim=3)
    np.testing.assert_array_equal(emb, again)                          # missing words: seeded
    other, _ = load_glove(path, v, dim=3, seed=1)
    assert not np.array_equal(other[v.stoi["zebra"]], emb[v.stoi["zebra"]])
    assert 0 < np.abs(emb[v.stoi["zebra"]]).max() < 1

    cased = write_glove(tmp_path / "c.txt", {"Zebra": [1, 1, 1], "zebra words": [2, 2, 2]}, header="2 3")
    emb, found = load_glove(cased, v, dim=3)                           # word2vec header, case fallback
    assert found == 1 and np.array_equal(emb[v.stoi["zebra"]], [1, 1, 1])


def test_load_glove_errors(tmp_path):
    v = Vocab(["the"])
    with pytest.raises(UserError, match="line 1 has 2 values, expected 3"):
        load_glove(write_glove(tmp_path / "a.txt", {"the": [1, 2]}), v, dim=3)
    with pytest.raises(UserError, match="line 2 has 2 values, expected 3"):
        load_glove(write_glove(tmp_path / "b.txt", {"a": [1, 2, 3], "the": [1, 2]}), v, dim=3)
    with pytest.raises(UserError, match="line 2 has a value that is not a number"):
        load_glove(write_glove(tmp_path / "c.txt", {"a": [1, 2, 3], "the": [1, "x", 3]}), v, dim=3)
    with pytest.raises(UserError, match="holds 50-dimensional vectors, expected 3"):
        load_glove(write_glove(tmp_path / "d.txt", {"the": [1, 2, 3]}, header="1 50"), v, dim=3)
    with pytest.raises(UserError, match="does not exist"):
        load_glove(tmp_path / "none.txt", v, dim=3)
