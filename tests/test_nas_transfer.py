"""The cells a search found, looked up on other data sets: the table's mean over training
seeds for known cells, the transfer block of summary.json and --json, bad data set names."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from primeval.cli import app
from primeval.nas import table as T
from primeval.nas.space import cell_index, parse_arch
from primeval.nas.transfer import transfer_accuracy, transfer_summary

C3 = "nor_conv_3x3"
BEST_C10 = f"|{C3}~0|+|{C3}~0|{C3}~1|+|skip_connect~0|{C3}~1|nor_conv_1x1~2|"
RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"

# ResNet's 200-epoch validation accuracies per training seed, copied from the package's files
RESNET_SEEDS = {
    "cifar10": [90.88000000976562, 90.83999997802735],
    "cifar100": [70.57999993896485, 70.41999996337891],
    "ImageNet16-120": [43.66666654459635, 44.53333326212565],
}
RESNET_MEAN = {"cifar10": 90.86, "cifar100": 70.50, "ImageNet16-120": 44.10}

runner = CliRunner()


@pytest.mark.parametrize("dataset", sorted(RESNET_SEEDS))
def test_transfer_is_the_tables_mean_over_seeds(dataset: str) -> None:
    resnet = cell_index(parse_arch(RESNET))
    best = T.load_table(dataset).best_index
    got = transfer_accuracy(np.array([resnet, best, resnet]), dataset)
    assert got[0] == got[2] == pytest.approx(np.mean(RESNET_SEEDS[dataset]), abs=1e-9)
    assert round(float(got[0]), 2) == RESNET_MEAN[dataset]
    assert got[1] == T.load_table(dataset).optimum
    # and against the package's file read on its own (every seed of three random cells)
    with T.table_path(dataset).open("rb") as f:
        records = pickle.load(f)
    for key in ("000000", "421211", "131313"):
        i = int(key, 5)
        want = np.mean(records[key]["val_acc"])
        assert transfer_accuracy(np.array([i]), dataset)[0] == pytest.approx(want, abs=1e-9)


def test_transfer_summary_is_mean_and_std_over_runs() -> None:
    cells = np.array([cell_index(parse_arch(RESNET)), cell_index(parse_arch(BEST_C10))])
    s = transfer_summary(cells, ["cifar-100", "cifar10"], "evolution")
    assert list(s) == ["cifar100", "cifar10"]  # canonical names, in the order given
    acc = T.load_table("cifar100").mean_acc[cells]
    assert s["cifar100"]["mean"] == round(float(acc.mean()), 4)
    assert s["cifar100"]["std"] == round(float(acc.std()), 4)
    assert s["cifar100"]["published_mean"] == 71.81 and s["cifar10"]["published_std"] == 0.31
    assert "published_mean" not in transfer_summary(cells, ["cifar100"])["cifar100"]


def test_json_and_summary_carry_the_transfer_block(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["nas", "--strategy", "evolution,random", "--runs", "6", "--json"]
    twice = ["--evaluate-on", "cifar100,ImageNet16-120", "--evaluate-on", "cifar10"]
    r = runner.invoke(app, [*args, *twice, "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluate_on"] == ["cifar100", "ImageNet16-120", "cifar10"]
    arrays = np.load(out / "curves.npz")
    for row, entry in zip(rows, summary["strategies"], strict=True):
        assert row == entry
        block = row["transfer"]
        assert list(block) == ["cifar100", "ImageNet16-120", "cifar10"]
        assert block["cifar10"]["mean"] == row["mean"] and block["cifar10"]["std"] == row["std"]
        assert 60 < block["cifar100"]["mean"] <= 73.5 and block["ImageNet16-120"]["mean"] > 35
        assert block["cifar100"]["published_mean"] in (71.81, 70.93)  # the searches ran on cifar10
        runs = arrays[f"{row['strategy']}.transfer.cifar100"]
        cells = arrays[f"{row['strategy']}.final_cells"]
        np.testing.assert_array_equal(runs, T.load_table("cifar100").mean_acc[cells])
        assert block["cifar100"]["mean"] == round(float(runs.mean()), 4)

    # the human-readable table, and no published values for a search the paper did not run
    r = runner.invoke(
        app,
        [
            *("nas", "--dataset", "cifar100", "--strategy", "random", "--runs", "3", "--quiet"),
            *("--evaluate-on", "ImageNet16-120", "--out", str(tmp_path / "c100")),
        ],
    )
    assert r.exit_code == 0, r.output
    entry = json.loads((tmp_path / "c100" / "summary.json").read_text())["strategies"][0]
    moved = entry["transfer"]["ImageNet16-120"]
    assert "published_mean" not in moved and "published_mean" not in entry
    assert f"{moved['mean']:.2f} +- {moved['std']:.2f}" in r.stdout and "ImageNet16-120" in r.stdout


def test_no_transfer_block_unless_asked(tmp_path: Path) -> None:
    r = runner.invoke(app, ["nas", "--runs", "2", "--json", "--out", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    assert all("transfer" not in json.loads(line) for line in r.stdout.splitlines())


@pytest.mark.parametrize(
    "args",
    [["--evaluate-on", "cifar10,mnist"], ["--evaluate-on", "svhn"]],
)
def test_an_unknown_data_set_gives_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["nas", "--runs", "2", *args], catch_exceptions=False)
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert "evaluate_on: unknown NAS-Bench-201 data set" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_an_unknown_data_set_in_a_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "nas.yaml"
    cfg.write_text("runs: 2\nevaluate_on: [cifar100, imagenet32]\n")
    r = runner.invoke(app, ["nas", str(cfg)], catch_exceptions=False)
    assert r.exit_code == 2 and "imagenet32" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
