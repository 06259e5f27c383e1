"""The profile reader (`paso-local train-reader`) on a tiny GGUF: the loss by hand, training that lowers it, the
per-epoch checkpoint and --resume, refusals, the exported adapter llama.cpp applies, and eval's reader methods."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from paso_local.cli import main

SMALL = ["--people", "6", "--validation-people", "2", "--per-person", "2", "--threads", "1"]


def test_option_nll_is_the_cross_entropy_over_the_five_options():
    from paso_local.converters.reader import option_nll

    class Index:  # option log-probabilities given directly, unnormalised
        def option_logprobs(self, logp1, _logp2):
            return logp1

    raw = torch.log(torch.tensor([[1.0, 1.0, 2.0, 0.0 + 1e-9, 4.0]], dtype=torch.float64))
    loss = option_nll(Index(), raw, raw, torch.tensor([3]))
    assert float(loss) == pytest.approx(-np.log(2.0 / 8.0), abs=1e-6)


def row(epoch: int, mae: tuple[float, float], nll: tuple[float, float] = (1.0, 1.0)) -> dict:
    sets = ("new people", "new people, new questions")
    return {"epoch": epoch, **{s: {"mae": m, "nll": n} for s, m, n in zip(sets, mae, nll, strict=True)}}


def test_the_kept_epoch_has_the_lowest_validation_error_then_cross_entropy_then_comes_first():
    from paso_local.converters.reader import best_epoch

    # as the 0.5B measured: epoch 1 best by |err| (0.5085), the last epoch worse than the untouched model
    measured = [
        row(0, (0.558, 0.667)),
        row(1, (0.492, 0.525)),
        row(2, (0.542, 0.558)),
        row(4, (0.675, 0.758)),
    ]
    assert best_epoch(measured) == 1
    tied = [row(0, (0.5, 0.5)), row(1, (0.6, 0.4), (0.9, 0.9))]
    assert best_epoch(tied) == 1  # the same |err|, the lower cross-entropy
    assert best_epoch([*tied, row(2, (0.45, 0.5), (1.2, 1.2))]) == 2  # |err| first
    assert best_epoch([row(0, (0.5, 0.5)), row(1, (0.5, 0.5))]) == 0  # a full tie: the earlier
    assert best_epoch([row(0, (0.4, 0.4)), row(1, (0.5, 0.5))]) == 0  # nothing learnt: the untouched model


def test_train_reader_writes_an_adapter_reports_epochs_and_resumes(tmp_path, capsys, tiny_chat_model):
    out = tmp_path / "reader.gguf"
    report = tmp_path / "report.json"
    argv = ["train-reader", "--model", str(tiny_chat_model), "--out", str(out), *SMALL]
    assert main([*argv, "--epochs", "2", "--lr", "0.01", "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    assert [row["epoch"] for row in data["history"]] == [0, 1, 2]
    assert data["examples"] == {"training": 12, "new people": 4, "new people, new questions": 4}
    assert data["history"][0]["loss"] is None  # epoch 0: the untouched model
    assert data["history"][2]["loss"] < data["history"][1]["loss"]  # it learns its training examples
    from paso_local.converters.reader import best_epoch

    assert data["kept_epoch"] == best_epoch(data["history"])
    assert f"epoch {data['kept_epoch']} kept" in capsys.readouterr().err
    assert out.stat().st_mode & 0o777 == 0o600
    checkpoint = out.with_name(out.name + ".checkpoint")
    assert checkpoint.is_file() and checkpoint.stat().st_mode & 0o777 == 0o600
    # --resume with one more epoch trains only that one
    assert main([*argv, "--epochs", "3", "--lr", "0.01", "--resume", "--json", str(report)]) == 1
    assert "other settings" in capsys.readouterr().err  # the epochs are part of the settings
    again = tmp_path / "again.json"
    assert main([*argv, "--epochs", "2", "--lr", "0.01", "--resume", "--json", str(again)]) == 0
    assert "Resuming the reader after epoch 2" in capsys.readouterr().err
    assert json.loads(again.read_text())["history"] == data["history"]


def test_train_reader_refuses_bad_numbers_and_a_damaged_checkpoint(tmp_path, capsys, tiny_chat_model):
    out = tmp_path / "reader.gguf"
    argv = ["train-reader", "--model", str(tiny_chat_model), "--out", str(out), *SMALL]
    assert main([*argv, "--epochs", "0"]) == 1
    assert "at least 1" in capsys.readouterr().err
    out.with_name(out.name + ".checkpoint").write_bytes(b"not a checkpoint")
    assert main([*argv, "--epochs", "1", "--resume"]) == 1
    err = capsys.readouterr().err
    assert "cannot read the reader checkpoint" in err and "Traceback" not in err


def test_eval_reader_method_applies_the_adapter(tmp_path, capsys, tiny_chat_model, two_subjects):
    out = tmp_path / "reader.gguf"
    assert (
        main(["train-reader", "--model", str(tiny_chat_model), "--out", str(out), *SMALL, "--epochs", "1"])
        == 0
    )
    common = ["eval", "--subjects", str(two_subjects), "--model", str(tiny_chat_model), "--threads", "1"]
    report = tmp_path / "eval.json"
    argv = [
        *common,
        "--methods",
        "reader,retrieval-same-key-turns",
        "--reader",
        str(out),
        "--k",
        "4",
        "--json",
        str(report),
    ]
    assert main(argv) == 0
    data = json.loads(report.read_text())
    assert {"reader", "retrieval-same-key-turns"} <= set(data["methods"])
    assert data["memory_k"] == {"reader": 4, "retrieval-same-key-turns": 4}  # --k for both
    expected = {
        row["method"]: row["expected"]
        for row in data["per_subject"]
        if "reference" not in row and row["index"] == 0
    }
    # the same prompts; only the adapter differs, and it acts
    assert np.abs(np.array(expected["reader"]) - np.array(expected["retrieval-same-key-turns"])).max() > 1e-4
    capsys.readouterr()
    assert main([*common, "--methods", "reader", "--reader", str(tmp_path / "none.gguf")]) == 1
    assert "train-reader" in capsys.readouterr().err
