"""Training end to end on tiny data in the real formats: the CLI, checkpoints, resume
bit-exactness, DDP equivalence, evaluation files, and the errors a user can make."""
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import make_msvd_dataset, make_tgif_dataset, overrides, tiny_train_config
from videoqa_core.__main__ import main as cli
from videoqa_core.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def train_cli(ann, store, out, task="count", dataset="tgif-qa", extra=(), **train):
    cfg = tiny_train_config(dataset, task, ann, store, **train)
    args = ["train", "--dataset", dataset, "--task", task, "--annotations", str(ann), "--features", str(store),
            "--out", str(out), *overrides(cfg), *extra]
    return cli(args)


@pytest.mark.parametrize("task", ["count", "action", "frameqa"])
def test_train_and_evaluate_tgif(tmp_path, task, capsys):
    ann, store = make_tgif_dataset(tmp_path, task)
    run = tmp_path / "run"
    assert train_cli(ann, store, run, task) == 0
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2]
    assert {"train_loss", "train_samples_per_s", "lr"} <= set(lines[0])
    saved = json.loads((run / "config.json").read_text())
    assert saved["data"]["task"] == task and saved["model"]["hidden"] == 16
    ckpt = load_checkpoint(run / "best.pt")
    assert ckpt["config"] == saved and "optimizer" not in ckpt
    assert "optimizer" in load_checkpoint(run / "last.pt")
    assert cli(["evaluate", "--checkpoint", str(run), "--split", "test"]) == 0
    df = pd.read_parquet(run / "predictions_test.parquet")
    assert len(df) == 6
    need = {"qid", "video_id", "question", "task", "qtype", "answer", "prediction", "correct", "confidence"}
    assert need <= set(df.columns)
    metrics = json.loads((run / "metrics_test.json").read_text())
    if task == "count":
        assert {"mse_rounded", "mse_raw", "exact_acc"} <= set(metrics["overall"])
        assert df["prediction"].astype(int).between(1, 10).all()
    elif task == "action":
        assert len(df["candidate_scores"][0]) == 5
        assert metrics["overall"]["accuracy"] == pytest.approx(df["correct"].mean())
    else:
        assert "answer_coverage" in metrics["overall"]
    out = capsys.readouterr().out
    assert "question type" in out


def test_train_then_evaluate_in_one_process(tmp_path):
    """``train --evaluate test`` writes what a separate ``evaluate`` run writes."""
    ann, store = make_tgif_dataset(tmp_path, "action")
    run = tmp_path / "run"
    assert train_cli(ann, store, run, "action", extra=("--evaluate", "test", "--evaluate", "val")) == 0
    inline = pd.read_parquet(run / "predictions_test.parquet")
    inline_metrics = json.loads((run / "metrics_test.json").read_text())
    assert (run / "metrics_val.json").is_file()
    assert cli(["evaluate", "--checkpoint", str(run / "best.pt"), "--split", "test"]) == 0
    pd.testing.assert_frame_equal(inline, pd.read_parquet(run / "predictions_test.parquet"))
    assert inline_metrics == json.loads((run / "metrics_test.json").read_text())
    with pytest.raises(SystemExit) as bad:          # argparse: a usage line naming the choices
        cli(["train", "--resume", str(run), "--evaluate", "tset"])
    assert bad.value.code == 2


def test_train_msvd_and_msrvtt_formats(tmp_path):
    for prefix, dataset in (("vid", "msvd-qa"), ("video", "msrvtt-qa")):
        ann, store = make_msvd_dataset(tmp_path / dataset, prefix=prefix)
        run = tmp_path / dataset / "run"
        assert train_cli(ann, store, run, "open", dataset) == 0
        assert cli(["evaluate", "--checkpoint", str(run / "best.pt"), "--split", "test",
                    "--out", str(run / "pred.csv")]) == 0
        df = pd.read_csv(run / "pred.csv")
        assert set(df["qtype"]) == {"what", "who"}
        m = json.loads((run / "metrics_test.json").read_text())
        assert set(m["by_qtype"]) == {"what", "who"}


def test_learns_something(tmp_path):
    """On data whose answer is in the features the full model beats chance clearly."""
    ann, store = make_tgif_dataset(tmp_path, "frameqa", videos=80)
    run = tmp_path / "run"
    assert train_cli(ann, store, run, "frameqa", epochs=12, lr=1e-2) == 0
    cli(["evaluate", "--checkpoint", str(run), "--split", "train"])
    df = pd.read_parquet(run / "predictions_train.parquet")
    assert df["correct"].mean() > 0.6      # 7 colours: chance ~0.14


def test_resume_is_bit_exact(tmp_path):
    ann, store = make_tgif_dataset(tmp_path, "action")
    full, part = tmp_path / "full", tmp_path / "part"
    assert train_cli(ann, store, full, "action", epochs=3) == 0
    assert train_cli(ann, store, part, "action", epochs=1) == 0       # "crash" after epoch 1
    assert cli(["train", "--resume", str(part), "train.epochs=3"]) == 0
    a, b = load_checkpoint(full / "last.pt"), load_checkpoint(part / "last.pt")
    assert a["epoch"] == b["epoch"] == 3
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert len((part / "metrics.jsonl").read_text().splitlines()) == 3


def test_refuses_to_overwrite_a_run(tmp_path, capsys):
    ann, store = make_tgif_dataset(tmp_path, "count")
    assert train_cli(ann, store, tmp_path / "r", epochs=1) == 0
    before = (tmp_path / "r" / "last.pt").read_bytes()
    assert train_cli(ann, store, tmp_path / "r", epochs=1) == 2
    assert "--resume" in capsys.readouterr().err
    assert (tmp_path / "r" / "last.pt").read_bytes() == before


@pytest.mark.slow
def test_ddp_two_processes_match_one(tmp_path):
    """torchrun with 2 gloo processes, global batch 4 (2 per rank) == 1 process, batch 4."""
    ann, store = make_tgif_dataset(tmp_path, "count", videos=16)
    one, two = tmp_path / "one", tmp_path / "two"
    cfg = tiny_train_config("tgif-qa", "count", ann, store, epochs=2)
    base = ["--dataset", "tgif-qa", "--task", "count", "--annotations", str(ann), "--features", str(store), *overrides(cfg)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "videoqa_core", "train", *base, "--out", str(one), "--evaluate", "test"],
                   check=True, env=env, cwd=ROOT, timeout=300)
    # --evaluate under torchrun: both ranks score their shard (a rank-0-only evaluation
    # would wait forever on the gather, hence the timeout)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
                    "-m", "videoqa_core", "train", *base, "--out", str(two), "--evaluate", "test"], check=True, env=env,
                   cwd=ROOT, capture_output=True, timeout=300)
    pa, pb = (pd.read_parquet(r / "predictions_test.parquet") for r in (one, two))
    assert len(pa) > 0 and list(pa["qid"]) == list(pb["qid"])       # every test question once, in order
    assert np.allclose(pa["score"], pb["score"], atol=1e-3)
    a, b = load_checkpoint(one / "last.pt"), load_checkpoint(two / "last.pt")
    # Reduction order differs between 1 and 2 processes (float sums); Adam magnifies that
    # where a gradient is ~0 (key biases). A different data order moves weights by ~lr*steps
    # = 1e-2, two orders of magnitude above this tolerance.
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=5e-4), k
    la = [json.loads(x) for x in (one / "metrics.jsonl").read_text().splitlines()]
    lb = [json.loads(x) for x in (two / "metrics.jsonl").read_text().splitlines()]
    assert la[-1]["val_n"] == lb[-1]["val_n"]                     # every val question counted once
    assert la[-1]["val_mse_rounded"] == pytest.approx(lb[-1]["val_mse_rounded"], abs=1e-6)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > " + os.environ.get("EVIL_MARK", "/dev/null"),))


def test_code_carrying_checkpoint_is_refused(tmp_path, capsys, monkeypatch):
    mark = tmp_path / "ran"
    monkeypatch.setenv("EVIL_MARK", str(mark))
    bad = tmp_path / "evil.pt"
    torch.save({"format": "videoqa_core/1", "config": {}, "model": {}, "vocab": [], "x": _Evil()}, bad)
    code = cli(["evaluate", "--checkpoint", str(bad), "--split", "test"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not mark.exists()
    assert err.startswith("error:") and "refused" in err and len(err.splitlines()) == 1
    # same through a real subprocess: one line, non-zero, nothing ran
    p = subprocess.run([sys.executable, "-m", "videoqa_core", "evaluate", "--checkpoint", str(bad)],
                       capture_output=True, text=True, cwd=ROOT, env={**os.environ, "EVIL_MARK": str(mark)})
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and not mark.exists()
    # a plain pickle file (not torch zip) is refused the same way
    plain = tmp_path / "plain.pt"
    plain.write_bytes(pickle.dumps(_Evil()))
    assert cli(["evaluate", "--checkpoint", str(plain)]) == 2 and not mark.exists()


def test_bad_inputs_give_one_line(tmp_path, capsys):
    ann, store = make_tgif_dataset(tmp_path, "count", da=6)
    other = make_tgif_dataset(tmp_path / "o", "count", da=9)[1]
    run = tmp_path / "run"
    assert train_cli(ann, store, run, epochs=1) == 0
    capsys.readouterr()
    cases = [
        (["evaluate", "--checkpoint", str(run), "--features", str(other)], "dims"),
        (["evaluate", "--checkpoint", str(tmp_path / "nope.pt")], "does not exist"),
        (["train", "--dataset", "tgif-qa", "--task", "count", "--annotations", str(ann), "--features", str(store),
          "--out", str(tmp_path / "x"), "model.hiddn=3"], "no such field"),
        (["train", "--dataset", "tgif-qa", "--task", "count", "--annotations", str(ann), "--features", str(store),
          "--out", str(tmp_path / "x"), "model.hidden=abc"], "expected a value of type int"),
        (["train", "--dataset", "tgif-qa", "--task", "count", "--annotations", str(ann), "--features", str(store),
          "--out", str(tmp_path / "x"), "model.variant=Bogus"], "Attvt-all"),
        (["train", "--dataset", "imdb", "--task", "count", "--annotations", str(ann), "--features", str(store),
          "--out", str(tmp_path / "x")], "tgif-qa"),
        (["train", "--dataset", "tgif-qa", "--task", "count", "--annotations", str(ann), "--features",
          str(tmp_path / "missing.h5"), "--out", str(tmp_path / "x")], "missing.h5"),
    ]
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes((run / "best.pt").read_bytes()[:500])
    cases.append((["evaluate", "--checkpoint", str(trunc)], "truncated"))
    # a store that lacks videos the annotations use
    from videoqa_core.data.features import FeatureStore, write_store
    fs = FeatureStore(store)
    partial = write_store(tmp_path / "partial.h5", [(v, *fs.get(v)) for v in fs.ids()[:3]])
    cases.append((["train", "--dataset", "tgif-qa", "--task", "count", "--annotations", str(ann), "--features",
                   str(partial), "--out", str(tmp_path / "y")], "not in feature store"))
    for args, needle in cases:
        assert cli(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error:") and needle in err, (args, err)
    assert not (tmp_path / "x" / "last.pt").exists()


def test_train_extra_adds_every_question_of_another_set_to_train_only(tmp_path, capsys):
    """data.train_extra: all questions of a second set (its own store) join the training
    split; val and test stay the main set's, and evaluating test needs none of the extra files."""
    import shutil
    from videoqa_core.data.pipeline import load_splits
    ann, store = make_tgif_dataset(tmp_path / "a", "transition")
    more, more_store = make_tgif_dataset(tmp_path / "b", "transition", videos=16, seed=1, prefix="more_v")
    cfg = tiny_train_config("tgif-qa", "transition", ann, store)
    plain = load_splits(cfg.data)
    cfg.data.train_extra, cfg.data.train_extra_features = str(more), str(more_store)
    both = load_splits(cfg.data)
    assert len(both["train"]) == len(plain["train"]) + 16 and both["val"] == plain["val"] and both["test"] == plain["test"]
    assert {r.qid for r in both["train"][len(plain["train"]):]} == {f"extra:ACTION{v}" for v in range(16)}
    assert load_splits(cfg.data, extra=False) == plain
    run = tmp_path / "run"
    extra = [f"data.train_extra={more}", f"data.train_extra_features={more_store}"]
    assert train_cli(ann, store, run, "transition", extra=extra, epochs=1) == 0
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[0])["train_samples"] == len(both["train"])
    shutil.rmtree(more)
    more_store.unlink()
    capsys.readouterr()
    assert cli(["evaluate", "--checkpoint", str(run / "best.pt"), "--split", "test"]) == 0
    # the main set's own questions as the extra ones: its val and test videos would be trained on
    leak = [f"data.train_extra={ann}"]
    assert train_cli(ann, store, tmp_path / "leak", "transition", extra=leak, epochs=1) == 2
    assert "val/test splits" in capsys.readouterr().err
    # the same ids from another store: two videos under one name
    same, same_store = make_tgif_dataset(tmp_path / "c", "transition", seed=2)
    clash = [f"data.train_extra={same}", f"data.train_extra_features={same_store}"]
    assert train_cli(ann, store, tmp_path / "clash", "transition", extra=clash, epochs=1) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--id-prefix" in err


def test_glove_initialises_the_embedding(tmp_path, capsys):
    ann, store = make_tgif_dataset(tmp_path, "count")
    glove = tmp_path / "glove.txt"
    glove.write_text("how " + " ".join(["0.5"] * 8) + "\nmany " + " ".join(["-0.25"] * 8) + "\n")
    run = tmp_path / "run"
    assert train_cli(ann, store, run, extra=["--glove", str(glove), "model.embed_dim=8"], epochs=1) == 0
    assert "GloVe: 2/" in capsys.readouterr().out
    ck = load_checkpoint(run / "best.pt")
    itos = ck["vocab"]
    emb = ck["model"]["embedding.weight"]
    # one epoch of Adam at lr 3e-3 moves a row by at most ~3e-3 per step
    assert torch.allclose(emb[itos.index("how")], torch.full((8,), 0.5), atol=0.05)
    assert torch.allclose(emb[itos.index("many")], torch.full((8,), -0.25), atol=0.05)


def test_init_from_copies_what_fits_and_words_by_word(tmp_path):
    from videoqa_core.config import Config
    from videoqa_core.data.vocab import Vocab
    from videoqa_core.model.videoqa import VideoQAModel
    from videoqa_core.train import warm_start
    ann, store = make_tgif_dataset(tmp_path, "action")
    src = tmp_path / "src"
    assert train_cli(ann, store, src, task="action", epochs=1) == 0
    ck = load_checkpoint(src / "best.pt")
    # a Count model over a vocabulary in another order, with one word the source never saw
    cfg = Config.from_dict(ck["config"])
    cfg.data.task = "count"
    cfg.validate()
    words = ck["vocab"][:2] + ["zebra"] + ck["vocab"][:1:-1]
    cfg.model.vocab_size = len(words)
    torch.manual_seed(1)
    model = VideoQAModel(cfg.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rep = warm_start(model, Vocab.from_list(words), None, src)          # a run folder: its best.pt
    after = model.state_dict()
    assert rep["checkpoint"] == str(src / "best.pt") and rep["source_task"] == "action"
    assert not rep["head_copied"] and rep["words"] == len(ck["vocab"])
    for name, value in ck["model"].items():
        if name.startswith("head."):   # an mc score head does not start a count regression
            assert torch.equal(after[name], before[name]), name
        elif name != "embedding.weight":
            assert torch.equal(after[name], value.float()), name
    emb, src_emb = after["embedding.weight"], ck["model"]["embedding.weight"].float()
    for j, w in enumerate(words):
        if w == "zebra":
            assert torch.equal(emb[j], before["embedding.weight"][j])
        else:
            assert torch.equal(emb[j], src_emb[ck["vocab"].index(w)]), w


def test_init_from_cli_records_and_refuses(tmp_path, capsys):
    ann, store = make_tgif_dataset(tmp_path, "action")
    src, run = tmp_path / "src", tmp_path / "run"
    assert train_cli(ann, store, src, task="action", epochs=1) == 0
    assert train_cli(ann, store, run, task="action", epochs=1, extra=["--init-from", str(src / "best.pt")]) == 0
    rec = json.loads((run / "init_from.json").read_text())
    assert rec["copied"] == rec["of"] and rec["head_copied"] and rec["skipped"] == []
    assert "init from" in capsys.readouterr().out
    bad = [
        (["--init-from", str(tmp_path / "none.pt")], "does not exist"),
        (["--init-from", str(src / "best.pt"), "model.hidden=12"], "this model's is"),
    ]
    for extra, needle in bad:
        assert train_cli(ann, store, tmp_path / "x", task="action", epochs=1, extra=extra) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, err
        assert not (tmp_path / "x").exists()
    assert cli(["train", "--resume", str(run), "--init-from", str(src / "best.pt")]) == 2
    assert "--init-from starts a new run" in capsys.readouterr().err
