"""Annotation readers: real TGIF-QA / MSVD-QA files (skipped when absent) and small files
written here in every format variant and every way a file can be broken."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from videoqa_core.data.readers import (
    load_dataset, msvd_video_names, read_qa_json, read_tgif_file, split_by_video, tgif_file_name,
)
from videoqa_core.data.records import QARecord
from videoqa_core.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real annotation files not found at {REAL} (shared/data/real beside the project)")

COUNT_HEADER = ["gif_name", "question", "answer", "vid_id", "key"]
MC_HEADER = ["gif_name", "question", "a1", "a2", "a3", "a4", "a5", "answer", "vid_id", "key"]
FRAMEQA_HEADER = ["gif_name", "question", "answer", "type", "vid_id", "key", "description"]


def write_tsv(path: Path, header, rows, *, newline: str = "\r\n") -> Path:
    """A TGIF-QA style file: tab-separated, header row, CRLF by default."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(str(x) for x in r) for r in rows]
    path.write_bytes((newline.join(lines) + newline).encode("utf-8"))
    return path


def count_rows(n: int = 6):
    return [[f"tumblr_g{i}", f"How many times does the cat {i} jump ?", i % 5 * 2, f"COUNT{i}", i] for i in range(n)]


def mc_rows(n: int = 6, per_video: int = 2):
    return [[f"tumblr_g{i // per_video}", f"What does the dog do after step {i} ?", "run", "sit", "jump", "roll", "bark",
             i % 5, f"TRANS{i}", i // per_video] for i in range(n)]


def frameqa_rows(videos: int = 40, per_video: int = 3):
    return [[f"tumblr_f{v}", f"what is the color of the thing {q} ?", ["red", "two", "cat", "room"][q % 4], q % 4,
             f"FRAMEQA{v * per_video + q}", v, "a red thing ."] for v in range(videos) for q in range(per_video)]


def assert_one_line_error(exc_info, *must_contain: str):
    msg = str(exc_info.value)
    assert "\n" not in msg and msg, msg
    for part in must_contain:
        assert part in msg, f"{part!r} not in {msg!r}"


# --------------------------------------------------------------------------- real files

@needs_real
@pytest.mark.parametrize("name,task,rows", [
    ("Train_count_question.csv", "count", 26_839),
    ("Test_count_question.csv", "count", 3_554),
    ("Train_action_question.csv", "action", 20_471),
    ("Test_action_question.csv", "action", 2_274),
    ("Test_transition_question.csv", "transition", 6_232),
    ("Test_frameqa_question.csv", "frameqa", 13_691),
])
def test_real_tgif_row_counts_and_clean_fields(name, task, rows):
    records = read_tgif_file(REAL / "tgif-qa" / name, task, split="test")
    assert len(records) == rows
    assert len({r.qid for r in records}) == rows  # vid_id is a per-question id
    for r in records:
        fields = (r.qid, r.video_id, r.question, r.answer, *r.candidates)
        assert not any("\r" in f or "\n" in f or "\t" in f for f in fields), r
        assert r.video_id.startswith("tumblr_")
        if task in ("action", "transition"):
            assert len(r.candidates) == 5 and r.candidates[r.answer_index] == r.answer
        else:
            assert r.answer_index == -1 and r.candidates == ()


@needs_real
def test_real_frameqa_types_and_answers():
    records = read_tgif_file(REAL / "tgif-qa" / "Test_frameqa_question.csv", "frameqa", split="test")
    types = {}
    for r in records:
        types[r.qtype] = types.get(r.qtype, 0) + 1
    assert types == {"object": 5_586, "number": 3_148, "color": 3_904, "location": 1_053}
    assert len({r.answer for r in records}) == 933


@needs_real
def test_real_count_answers_are_raw_and_quoted_candidates_unquoted():
    count = read_tgif_file(REAL / "tgif-qa" / "Train_count_question.csv", "count")
    values = {r.answer for r in count}
    assert "0" in values and "1" not in values and values <= {str(i) for i in range(11)}
    # Two transition candidates are CSV-quoted in the file ("respond ""no""").
    trans = read_tgif_file(REAL / "tgif-qa" / "Test_transition_question.csv", "transition", split="test")
    cands = {c for r in trans for c in r.candidates}
    assert 'respond "no"' in cands and 'write "i love you"' in cands


@needs_real
def test_real_msvd_splits_and_video_ranges():
    splits = load_dataset("msvd-qa", REAL / "msvd-qa")
    expected = {"train": (30_933, 1, 1200), "val": (6_415, 1201, 1450), "test": (13_157, 1451, 1970)}
    for split, (n, lo, hi) in expected.items():
        recs = splits[split]
        ids = [int(r.video_id[3:]) for r in recs]
        assert len(recs) == n and min(ids) == lo and max(ids) == hi
        assert all(r.video_id.startswith("vid") and r.split == split and r.task == "open" for r in recs)
        assert {r.qtype for r in recs} <= {"what", "who", "how", "when", "where", "other"}
    assert sum(r.qtype == "who" for r in splits["train"]) == 10_479


@needs_real
def test_real_msvd_video_names():
    names = msvd_video_names(REAL / "msvd-qa")
    assert len(names) == 1970 and names["-4wsuPCjDBc_5_15"] == "vid1" and names["zzit5b_-ukg_5_20"] == "vid1970"


@needs_real
def test_real_tgif_validation_split_is_by_video():
    splits = load_dataset("tgif-qa", REAL / "tgif-qa", "count")
    assert len(splits["train"]) + len(splits["val"]) == 26_839 and len(splits["test"]) == 3_554
    assert 0.08 < len(splits["val"]) / 26_839 < 0.12
    assert not {r.video_id for r in splits["train"]} & {r.video_id for r in splits["val"]}


# --------------------------------------------------------------------------- formats

def test_crlf_and_lf_read_the_same(tmp_path):
    crlf = read_tgif_file(write_tsv(tmp_path / "crlf" / "Train_count_question.csv", COUNT_HEADER, count_rows()), "count")
    lf = read_tgif_file(write_tsv(tmp_path / "lf" / "Train_count_question.csv", COUNT_HEADER, count_rows(), newline="\n"), "count")
    assert crlf == lf
    assert crlf[1] == QARecord(qid="COUNT1", video_id="tumblr_g1", question="How many times does the cat 1 jump ?",
                               task="count", qtype="count", answer="2", split="train")


def test_columns_are_read_by_header_name(tmp_path):
    """Releases differ in rows and optional columns; a file with reordered columns, no
    ``key`` and an extra column reads to the same records."""
    rows = mc_rows()
    standard = read_tgif_file(write_tsv(tmp_path / "a" / "Test_transition_question.csv", MC_HEADER, rows), "transition")
    order = ["vid_id", "answer", "a5", "a4", "a3", "a2", "a1", "question", "gif_name", "extra"]
    shuffled = [[r[MC_HEADER.index(c)] if c in MC_HEADER else "x" for c in order] for r in rows]
    variant = read_tgif_file(write_tsv(tmp_path / "b" / "Test_transition_question.csv", order, shuffled), "transition")
    assert variant == standard
    assert standard[2].answer == "jump" and standard[2].answer_index == 2 and standard[2].qtype == "transition"


def test_frameqa_types_and_bom(tmp_path):
    path = write_tsv(tmp_path / "Test_frameqa_question.csv", FRAMEQA_HEADER, frameqa_rows(2, 4))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # a byte-order mark must not hide 'gif_name'
    recs = read_tgif_file(path, "frameqa", split="test")
    assert [r.qtype for r in recs[:4]] == ["object", "number", "color", "location"]
    assert recs[0].answer == "red" and recs[0].split == "test"


def test_msrvtt_json_with_category_id(tmp_path):
    d = tmp_path / "msrvtt"
    d.mkdir()
    for split, base in (("train", 0), ("val", 10), ("test", 20)):
        items = [{"answer": "man ", "category_id": 3, "id": base + i, "question": q, "video_id": base + i}
                 for i, q in enumerate(["who is singing?", "What is he doing?", "Is it raining?"])]
        (d / f"{split}_qa.json").write_text(json.dumps(items))
    splits = load_dataset("msrvtt-qa", d)
    r = splits["val"][1]
    assert (r.video_id, r.qid, r.qtype, r.answer, r.split, r.task) == ("video11", "11", "what", "man", "val", "open")
    assert [x.qtype for x in splits["train"]] == ["who", "what", "other"]
    msvd = read_qa_json(d / "train_qa.json", "msvd-qa", split="train")
    assert msvd[0].video_id == "vid0"


# --------------------------------------------------------------------------- validation split

def test_val_split_deterministic_and_by_video(tmp_path):
    recs = read_tgif_file(write_tsv(tmp_path / "Train_frameqa_question.csv", FRAMEQA_HEADER, frameqa_rows(400, 3)), "frameqa")
    train, val = split_by_video(recs, val_fraction=0.2, seed=0)
    assert (train, val) == split_by_video(recs, val_fraction=0.2, seed=0)
    train_v, val_v = {r.video_id for r in train}, {r.video_id for r in val}
    assert not train_v & val_v and len(train) + len(val) == len(recs)
    assert all(r.split == "val" for r in val) and all(r.split == "train" for r in train)
    assert 0.12 < len(val_v) / 400 < 0.28
    assert {r.video_id for r in split_by_video(recs, val_fraction=0.2, seed=1)[1]} != val_v
    assert split_by_video(recs, val_fraction=0.0)[1] == []
    # Removing rows (the two releases differ by 4) leaves every other video's side unchanged.
    _, val_fewer = split_by_video(recs[12:], val_fraction=0.2, seed=0)
    assert {r.video_id for r in val_fewer} == val_v - {r.video_id for r in recs[:12]}


def test_val_split_same_across_python_processes(tmp_path):
    path = write_tsv(tmp_path / "Train_count_question.csv", COUNT_HEADER, count_rows(60))
    code = ("import sys; from videoqa_core.data.readers import read_tgif_file, split_by_video; "
            "print(sorted(r.video_id for r in split_by_video(read_tgif_file(sys.argv[1], 'count'), val_fraction=0.3)[1]))")
    outs = set()
    for hashseed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed, "PYTHONPATH": str(ROOT)}
        outs.add(subprocess.run([sys.executable, "-c", code, str(path)], env=env, check=True,
                                capture_output=True, text=True).stdout)
    assert len(outs) == 1 and outs.pop().strip() != "[]"


def test_load_dataset_tgif(tmp_path):
    write_tsv(tmp_path / "Train_frameqa_question.csv", FRAMEQA_HEADER, frameqa_rows(50, 2))
    write_tsv(tmp_path / "Test_frameqa_question.csv", FRAMEQA_HEADER, frameqa_rows(5, 2))
    splits = load_dataset("tgif-qa", tmp_path, "frameqa", val_fraction=0.2, seed=3)
    assert set(splits) == {"train", "val", "test"}
    assert len(splits["train"]) + len(splits["val"]) == 100 and len(splits["test"]) == 10
    assert all(r.split == "test" for r in splits["test"])


# --------------------------------------------------------------------------- bad input

def test_unknown_dataset_and_task(tmp_path):
    with pytest.raises(UserError) as e:
        load_dataset("tgif", tmp_path, "count")
    assert_one_line_error(e, "tgif", "tgif-qa", "msvd-qa", "msrvtt-qa")
    with pytest.raises(UserError) as e:
        load_dataset("tgif-qa", tmp_path, "counting")
    assert_one_line_error(e, "counting", "count, action, transition, frameqa")
    with pytest.raises(UserError) as e:
        load_dataset("tgif-qa", tmp_path)
    assert_one_line_error(e, "needs a task")
    with pytest.raises(UserError) as e:
        load_dataset("msvd-qa", tmp_path, "frameqa")
    assert_one_line_error(e, "msvd-qa", "frameqa")


def test_missing_directory_and_files(tmp_path):
    with pytest.raises(UserError) as e:
        load_dataset("tgif-qa", tmp_path / "nowhere", "count")
    assert_one_line_error(e, "nowhere", "Train_count_question.csv", "Test_count_question.csv")
    write_tsv(tmp_path / "Test_transition_question.csv", MC_HEADER, mc_rows())
    with pytest.raises(UserError) as e:  # the shared sample's situation: a Test file only
        load_dataset("tgif-qa", tmp_path, "transition")
    assert_one_line_error(e, "lacks Train_transition_question.csv")
    with pytest.raises(UserError) as e:
        load_dataset("msvd-qa", tmp_path)
    assert_one_line_error(e, "train_qa.json, val_qa.json, test_qa.json")
    with pytest.raises(UserError) as e:
        msvd_video_names(tmp_path)
    assert_one_line_error(e, "youtube_mapping.txt")


def _broken_tgif(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / tgif_file_name("train", "count")
    good = write_tsv(path, COUNT_HEADER, count_rows()).read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "header only":
        path.write_bytes(good.split(b"\r\n")[0] + b"\r\n")
    elif kind == "truncated":
        path.write_bytes(good[:-12])  # the last row lost its last fields
    elif kind == "missing column":
        write_tsv(path, ["gif_name", "question", "vid_id", "key"], [r[:2] + r[3:] for r in count_rows()])
    elif kind == "not utf-8":
        lines = good.split(b"\r\n")
        lines[3] = lines[3].replace(b"cat", b"caf\xe9")
        path.write_bytes(b"\r\n".join(lines))
    elif kind == "bad answer":
        write_tsv(path, COUNT_HEADER, count_rows() + [["tumblr_x", "How many ?", "many", "COUNT99", 99]])
    elif kind == "open quote":
        path.write_bytes(good + b'tumblr_x\t"How many\t3\tCOUNT99\t99\r\n')
    return path


@pytest.mark.parametrize("kind,needle", [
    ("empty", "is empty"), ("header only", "no questions"), ("truncated", "line 7 has 3 fields, the header has 5"),
    ("missing column", "no column 'answer'"), ("not utf-8", "line 4 is not UTF-8"),
    ("bad answer", "line 8: count answer 'many'"), ("open quote", "line 8 cannot be parsed"),
])
def test_broken_tgif_files(tmp_path, kind, needle):
    path = _broken_tgif(tmp_path, kind)
    with pytest.raises(UserError) as e:
        read_tgif_file(path, "count")
    assert_one_line_error(e, str(path), needle)


def test_mc_answer_index_out_of_range_and_bad_frameqa_type(tmp_path):
    rows = mc_rows()
    rows[3][7] = 5
    path = write_tsv(tmp_path / "Train_action_question.csv", MC_HEADER, rows)
    with pytest.raises(UserError) as e:
        read_tgif_file(path, "action")
    assert_one_line_error(e, str(path), "line 5", "answer '5' is not a candidate index 0-4")
    rows = frameqa_rows(2, 2)
    rows[0][3] = 7
    path = write_tsv(tmp_path / "Train_frameqa_question.csv", FRAMEQA_HEADER, rows)
    with pytest.raises(UserError) as e:
        read_tgif_file(path, "frameqa")
    assert_one_line_error(e, str(path), "type '7'")
    with pytest.raises(UserError) as e:  # a count file read as frameqa
        read_tgif_file(write_tsv(tmp_path / "c.csv", COUNT_HEADER, count_rows()), "frameqa")
    assert_one_line_error(e, "no column 'type'")


@pytest.mark.parametrize("content,needle", [
    (b"", "is empty"),
    (b'[{"answer": "man", "id": 0, "question": "who?", "video_id": 1}, {"answer": "wo', "is not valid JSON (line 1"),
    (b'{"answer": "man"}', "non-empty JSON list"),
    (b'[{"answer": "man", "id": 0, "video_id": 1}]', "item 0 lacks question"),
    (b'[{"answer": "man", "id": 0, "question": "who?", "video_id": "x1"}]', "video_id 'x1' is not a number"),
    (b'[{"answer": "caf\xe9", "id": 0, "question": "who?", "video_id": 1}]', "line 1 is not UTF-8"),
])
def test_broken_json_files(tmp_path, content, needle):
    path = tmp_path / "train_qa.json"
    path.write_bytes(content)
    with pytest.raises(UserError) as e:
        read_qa_json(path, "msvd-qa", split="train")
    assert_one_line_error(e, str(path), needle)


def test_cli_prints_one_error_line(tmp_path, capsys):
    from videoqa_core.__main__ import main
    _broken_tgif(tmp_path, "truncated")
    code = main(["data-stats", "--dataset", "tgif-qa", "--task", "count", "--annotations", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Train_count_question.csv line 7" in lines[0]
    assert "Traceback" not in captured.err
