"""``python -m videoqa_core data-stats``: numbers on the real files and on small ones."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from videoqa_core.__main__ import main

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real annotation files not found at {REAL} (shared/data/real beside the project)")


def run_json(capsys, *argv: str) -> dict:
    assert main(["data-stats", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def write_tsv(path: Path, header, rows) -> None:
    lines = ["\t".join(header)] + ["\t".join(map(str, r)) for r in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())


FRAMEQA = ["gif_name", "question", "answer", "type", "vid_id", "key", "description"]


@needs_real
def test_real_tgif_numbers(capsys):
    report = run_json(capsys, "--dataset", "tgif-qa", "--annotations", str(REAL / "tgif-qa"))
    tasks = report["tasks"]
    assert list(tasks) == ["count", "action", "transition", "frameqa"]
    rows = {(t, k): f["questions"] for t, rep in tasks.items() for k, f in rep["files"].items()}
    assert rows[("count", "train")] == 26_839 and rows[("count", "test")] == 3_554
    assert rows[("action", "train")] == 20_471 and rows[("action", "test")] == 2_274
    assert rows[("transition", "test")] == 6_232 and rows[("frameqa", "test")] == 13_691
    assert rows[("count", "total")] == 30_397  # Total = Train + Test + the 4 rows the newer Train dropped

    frame = tasks["frameqa"]
    assert frame["files"]["test"]["answers"] == 933
    assert frame["files"]["test"]["qtypes"] == {"object": 5_586, "color": 3_904, "number": 3_148, "location": 1_053}
    # Only Test files exist for transition/frameqa: reported, but marked untrainable.
    assert set(frame["splits"]) == {"test"} and frame["missing"] == ["Train_frameqa_question.csv"] and not frame["trainable"]
    assert tasks["transition"]["missing"] == ["Train_transition_question.csv"]

    count = tasks["count"]
    assert count["trainable"] and count["answer_vocab"] is None
    assert count["splits"]["train"]["questions"] + count["splits"]["val"]["questions"] == 26_839
    assert count["splits"]["val"]["coverage"] is None


@needs_real
def test_real_msvd_numbers(capsys):
    report = run_json(capsys, "--dataset", "msvd-qa", "--annotations", str(REAL / "msvd-qa"))
    rep = report["tasks"]["open"]
    got = {s: (v["questions"], v["video_range"]) for s, v in rep["files"].items()}
    assert got == {"train": (30_933, [1, 1200]), "val": (6_415, [1201, 1450]), "test": (13_157, [1451, 1970])}
    assert rep["answer_vocab"] == {"size": 1000, "top_k": 1000}
    assert 0.85 < rep["splits"]["test"]["coverage"] < 0.95 and rep["splits"]["val"]["coverage"] < rep["splits"]["train"]["coverage"]


def test_single_task_table_and_json(tmp_path, capsys):
    rows = [[f"tumblr_{v}", f"what is the color of thing {q} ?", ["red", "blue", "cat"][(v + q) % 3], q % 2,
             f"FRAMEQA{v}_{q}", v, "d"] for v in range(30) for q in range(2)]
    write_tsv(tmp_path / "Train_frameqa_question.csv", FRAMEQA, rows)
    write_tsv(tmp_path / "Test_frameqa_question.csv", FRAMEQA, [["tumblr_t", "what ?", "green", 2, "F1", 1, "d"],
                                                                ["tumblr_t", "what ?", "red", 0, "F2", 1, "d"]])
    report = run_json(capsys, "--dataset", "tgif-qa", "--task", "frameqa", "--annotations", str(tmp_path),
                      "--val-fraction", "0.3", "--seed", "5")
    rep = report["tasks"]["frameqa"]
    assert list(report["tasks"]) == ["frameqa"] and rep["trainable"] and rep["missing"] == []
    train, val, test = (rep["splits"][s] for s in ("train", "val", "test"))
    assert train["questions"] + val["questions"] == 60 and train["videos"] + val["videos"] == 30
    assert train["questions"] % 2 == 0 and val["questions"] % 2 == 0            # videos are never split
    assert test["coverage"] == 0.5 and train["coverage"] == 1.0                  # "green" is no training answer
    assert test["qtypes"] == {"color": 1, "object": 1}
    assert rep["answer_vocab"] == {"size": 3, "top_k": None}

    assert main(["data-stats", "--dataset", "tgif-qa", "--task", "frameqa", "--annotations", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "Train_frameqa_question.csv" in table and "50.0%" in table and "color 1, object 1" in table


def test_msrvtt_and_missing_files(tmp_path, capsys):
    items = [{"answer": "man", "category_id": 1, "id": i, "question": "who sings?", "video_id": 7000 + i} for i in range(3)]
    (tmp_path / "test_qa.json").write_text(json.dumps(items))
    rep = run_json(capsys, "--dataset", "msrvtt-qa", "--annotations", str(tmp_path))["tasks"]["open"]
    assert rep["files"]["test"]["video_range"] == [7000, 7002] and rep["files"]["test"]["qtypes"] == {"who": 3}
    assert rep["missing"] == ["train_qa.json", "val_qa.json"] and rep["splits"]["test"]["coverage"] is None


def test_errors_are_one_line(tmp_path, capsys):
    assert main(["data-stats", "--dataset", "tgif-qa", "--annotations", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "holds no TGIF-QA question files" in err[0]
    assert main(["data-stats", "--dataset", "msvd-qa", "--task", "count", "--annotations", str(tmp_path)]) == 2
    assert "msvd-qa has no task 'count'" in capsys.readouterr().err
    (tmp_path / "val_qa.json").write_text("[{")
    assert main(["data-stats", "--dataset", "msvd-qa", "--annotations", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "val_qa.json is not valid JSON" in err and "Traceback" not in err
