"""The exported numpy module reproduces primeval's predictions bit for bit.

Three views of one run must agree exactly: the exported module (run in a separate
process where ``import primeval`` is blocked), :class:`primeval.export.Machine` (the
reference interpreter's kernels) and :func:`run_task` itself (its step count, recorded
validation errors and fitness).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from primeval.algorithms.baselines import (
    function,
    instr,
    linear_regression_sgd,
    logistic_regression,
    two_layer_relu_net,
)
from primeval.algorithms.interpret.reference import MAX_ABS_ERROR, run_task, squash_rmse
from primeval.algorithms.memory import Banks
from primeval.algorithms.mutate import MutationType, Mutator, ProgramSpace
from primeval.algorithms.ops import REGISTRY
from primeval.algorithms.program import Instruction, Program, program_to_json, save_program
from primeval.algorithms.tasks.base import Task, shuffled_order
from primeval.cli import app
from primeval.export import KERNEL_FORM, Machine, export_python, load_algorithm
from primeval.export.python import instruction_line, kernel_source

F = 4


def _task(seed: int, classification: bool, epochs: int, n: int = 60) -> Task:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(F)

    def label(x: np.ndarray) -> np.ndarray:
        return (x @ w > 0).astype(np.float64) if classification else x @ w

    xs = [rng.standard_normal((k, F)) for k in (n, 40, 40)]
    return Task(
        train_x=xs[0],
        train_y=label(xs[0]),
        valid_x=xs[1],
        valid_y=label(xs[1]),
        classification=classification,
        epochs=epochs,
        order=shuffled_order(n, epochs, rng),
        test_x=xs[2],
        test_y=label(xs[2]),
    )


def _readme_solution() -> Program:
    """The demo's solution as the reference lists it (with s4), plus dead code."""
    return Program(
        function(
            instr("SCALAR_CONST_SET", out=2, data=(0.001,)),
            instr("SCALAR_CONST_SET", out=3, data=(7.0,)),  # dead: Learn overwrites s3
        ),
        function(instr("VECTOR_INNER_PRODUCT", out=1, in1=0, in2=1)),
        function(
            instr("SCALAR_DIFF", out=3, in1=0, in2=1),
            instr("SCALAR_PRODUCT", out=4, in1=3, in2=2),
            instr("SCALAR_VECTOR_PRODUCT", out=2, in1=4, in2=0),
            instr("VECTOR_SUM", out=1, in1=1, in2=2),
            instr("VECTOR_NORM", out=3, in1=1),  # dead
        ),
        Banks(5, 3, 1),
    )


def _random_programs(n: int) -> list[Program]:
    """Random programs over all 65 ops, stochastic ones included; together they use every op."""
    space = ProgramSpace.uniform(
        Banks(5, 4, 3),
        REGISTRY.names(),
        init_sizes=(10, 10, 10),
        min_sizes=(0, 0, 0),
        max_sizes=(10, 10, 10),
    )
    mutator = Mutator(space, list(MutationType))
    rng = np.random.default_rng(2024)
    return [mutator.random_program(rng) for _ in range(n)]


N_RANDOM = 24
CASES: list[tuple[str, Program, bool, int]] = [
    ("linear_sgd", linear_regression_sgd(), False, 1),
    ("linear_sgd_3_epochs", linear_regression_sgd(), False, 3),
    ("readme_solution", _readme_solution(), False, 2),
    ("logistic", logistic_regression(), True, 2),
    ("two_layer_net", two_layer_relu_net(), False, 2),
    *((f"random{k}", p, k % 3 == 0, 1 + k % 2) for k, p in enumerate(_random_programs(N_RANDOM))),
]

_RUNNER = """
import importlib.util, sys
import numpy as np
sys.modules["primeval"] = None  # the exported module must not need primeval

def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

out = {}
for case in CASES:
    data = np.load(case["data"])
    cls = getattr(load(case["module"], case["name"]), "Algorithm")
    alg = cls(int(data["train_x"].shape[1]), np.random.default_rng(case["seed"]))
    alg.fit(data["train_x"], data["train_y"], case["epochs"], data["order"],
            case["classification"], data["valid_x"])
    out[case["name"] + ".test"] = alg.predict_batch(data["test_x"])
    out[case["name"] + ".steps"] = np.array([alg.steps, alg.stopped])
    for k, v in enumerate(alg.validation):
        out[case["name"] + f".valid{k}"] = v
    for bank in ("s", "v", "m"):
        out[case["name"] + "." + bank] = getattr(alg, bank)
    out[case["name"] + ".next_draws"] = alg.rng.random(3)
    assert "primeval" not in {m.split(".")[0] for m in sys.modules if sys.modules[m]}
np.savez(sys.argv[1], **out)
"""


def _errors(y: np.ndarray, p: np.ndarray, classification: bool) -> list[float]:
    """Per-example validation errors as the reference computes them (signed for regression)."""
    out = []
    for yi, pi in zip(y, p, strict=True):
        if classification:
            with np.errstate(all="ignore"):
                prob = 1.0 / (1.0 + np.exp(-pi))
            out.append(0.0 if ((yi > 0.5) == (prob > 0.5)) else 1.0)
        else:
            out.append(float(yi) - pi)
    return out


def _fitness(y: np.ndarray, p: np.ndarray, classification: bool) -> float:
    """The reference's validation fitness, recomputed from predictions in the same order."""
    loss = 0.0
    for error in _errors(y, p, classification):
        if np.isnan(abs(error)) or abs(error) > MAX_ABS_ERROR:
            return 0.0
        loss += error if classification else error * error
    if classification:
        return 1.0 - loss / len(y)
    return squash_rmse(float(np.sqrt(loss / len(y))))


def _bits(a: Any) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64)


VARIANTS = {"pruned": True, "full": False}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """Every case run by its exported modules (pruned and full) in one subprocess."""
    tmp = tmp_path_factory.mktemp("export")
    cases = []
    for k, (name, program, classification, epochs) in enumerate(CASES):
        task = _task(k, classification, epochs)
        data = tmp / f"{name}.npz"
        np.savez(
            data,
            train_x=task.train_x,
            train_y=task.train_y,
            valid_x=task.valid_x,
            test_x=task.test_x,
            order=task.order,
        )
        for variant, prune in VARIANTS.items():
            module = tmp / f"{name}_{variant}.py"
            module.write_text(export_python(program, prune=prune))
            cases.append(
                {
                    "name": f"{name}.{variant}",
                    "module": str(module),
                    "data": str(data),
                    "seed": k,
                    "epochs": epochs,
                    "classification": classification,
                }
            )
    script = tmp / "runner.py"
    script.write_text(f"CASES = {cases!r}\n" + _RUNNER)
    result = tmp / "result.npz"
    subprocess.run([sys.executable, str(script), str(result)], check=True, cwd=tmp)
    with np.load(result) as z:
        return {k: z[k] for k in z.files}


def test_random_programs_use_every_op() -> None:
    used = {int(op) for p in _random_programs(N_RANDOM) for fn in p.functions for op in fn.ops}
    assert used == {s.code for s in REGISTRY}


@pytest.mark.parametrize(("k", "case"), list(enumerate(CASES)), ids=[c[0] for c in CASES])
def test_exported_module_reproduces_primeval_bit_for_bit(
    exported: dict[str, np.ndarray], k: int, case: tuple[str, Program, bool, int]
) -> None:
    name, program, classification, epochs = case
    task = _task(k, classification, epochs)
    assert task.test_x is not None
    machine = Machine(program, F, np.random.default_rng(k))
    machine.fit(task.train_x, task.train_y, epochs, task.order, classification, task.valid_x)
    test = machine.predict_batch(task.test_x)

    # Each exported module (separate process, no primeval) equals the machine exactly.
    for variant in VARIANTS:
        key = f"{name}.{variant}"
        assert list(exported[f"{key}.steps"]) == [machine.steps, machine.stopped]
        n_valid = sum(1 for e in exported if e.startswith(f"{key}.valid"))
        assert n_valid == len(machine.validation)
        for e, valid in enumerate(machine.validation):
            np.testing.assert_array_equal(_bits(exported[f"{key}.valid{e}"]), _bits(valid))
        np.testing.assert_array_equal(_bits(exported[f"{key}.test"]), _bits(test))
    # Unpruned, every instruction runs: the whole memory and the generator's state agree too.
    for bank in ("s", "v", "m"):
        np.testing.assert_array_equal(
            _bits(exported[f"{name}.full.{bank}"]), _bits(getattr(machine, bank))
        )
    np.testing.assert_array_equal(exported[f"{name}.full.next_draws"], machine.rng.random(3))

    # The machine follows run_task: same steps, same first-epoch errors, same fitness.
    ref = run_task(program, task, np.random.default_rng(k), record_errors=True)
    assert ref.train_steps == machine.steps
    fitness = max([0.0, *(_fitness(task.valid_y, v, classification) for v in machine.validation)])
    assert _bits(ref.fitness) == _bits(fitness)
    if machine.validation:
        errors = np.abs(_errors(task.valid_y, machine.validation[0], classification))
        recorded = ref.valid_errors
        np.testing.assert_array_equal(_bits(errors[: len(recorded)]), _bits(recorded))


# --- every op, one instruction at a time ----------------------------------------------


def _memory(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s, v, m = rng.standard_normal(5), rng.standard_normal((4, F)), rng.standard_normal((3, F, F))
    for x in (s, v, m):
        x[rng.random(x.shape) < 0.3] = rng.choice([0.0, np.nan, np.inf, -np.inf, 1e300, -0.0])
    return s, v, m


@pytest.mark.parametrize("name", REGISTRY.names())
def test_every_exported_instruction_matches_its_kernel_bit_for_bit(name: str) -> None:
    spec = REGISTRY[name]
    namespace: dict[str, Any] = {"np": np, "nan": np.nan, "inf": np.inf, "F": F}
    namespace["idx"] = lambda f: 0 if not f > 0.0 else (min(int(f * F), F - 1) if f < 1 else F - 1)
    if name in KERNEL_FORM:
        exec(kernel_source(spec), namespace)
    rng = np.random.default_rng(spec.code)
    for trial in range(20):
        special = (
            _memory(rng)
            if trial % 2
            else tuple(rng.standard_normal(shape) for shape in ((5,), (4, F), (3, F, F)))
        )
        a, b = (int(x) for x in rng.integers(0, 3, 2))
        data = (float(rng.random()), float(rng.standard_normal()), float(rng.standard_normal()))
        ins = Instruction(spec, a, b, int(rng.integers(1, 3)), data)
        mine = tuple(x.copy() for x in special)
        kernel = tuple(x.copy() for x in special)
        with np.errstate(all="ignore"):
            exec(
                instruction_line(ins),
                {
                    **namespace,
                    "s": mine[0],
                    "v": mine[1],
                    "m": mine[2],
                    "rng": np.random.default_rng(trial),
                },
            )
            spec.kernel(*kernel, a, b, ins.out, np.array(data), np.random.default_rng(trial))
        for got, want in zip(mine, kernel, strict=True):
            np.testing.assert_array_equal(_bits(got), _bits(want), err_msg=instruction_line(ins))


def test_kernel_form_copies_the_kernel_and_refuses_other_globals() -> None:
    source = kernel_source(REGISTRY["VECTOR_ST_DEV"])
    assert source.startswith("def _vector_st_dev(s, v, m, a, b, o, d, rng):")
    assert "register" not in source
    with pytest.raises(ValueError, match="feature_index"):
        kernel_source(REGISTRY["VECTOR_CONST_SET"])  # reads a helper outside numpy


def test_exported_module_is_documented_and_imports_only_numpy() -> None:
    text = export_python(_readme_solution(), class_name="Demo", source="runs/x/best.json")
    tree = ast.parse(text)
    doc = ast.get_docstring(tree)
    assert doc is not None
    for phrase in (
        "s[0] is the label",
        "v[0] holds the example's features",
        "sigmoid(s[1])",
        "above 100.0",
        "runs/x/best.json",
        "2 of 8 instructions",
    ):
        assert phrase in doc
    imports = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])
    }
    assert imports == {"numpy"}
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    methods = [f.name for f in cls.body if isinstance(f, ast.FunctionDef)]
    assert cls.name == "Demo"
    assert methods == ["__init__", "setup", "predict", "learn", "fit", "predict_batch"]


def test_any_source_name_keeps_the_module_valid() -> None:
    text = export_python(linear_regression_sgd(), source='C:\\runs\\"""odd\\best.json')
    compile(text, "<exported>", "exec")
    assert "from C:/runs/'''odd/best.json." in text


def test_export_refuses_bad_programs_and_names() -> None:
    bad = Program(function(instr("SCALAR_CONST_SET", out=0, data=(1.0,))), function(), function())
    with pytest.raises(ValueError, match="writable"):
        export_python(bad)
    with pytest.raises(ValueError, match="identifier"):
        export_python(linear_regression_sgd(), class_name="not a name")


def test_exported_fit_accepts_a_seed_and_matches_a_generator() -> None:
    namespace: dict[str, Any] = {}
    exec(export_python(two_layer_relu_net()), namespace)
    task = _task(0, False, 1)
    by_seed = namespace["Algorithm"](F, 5).fit(task.train_x, task.train_y)
    by_rng = namespace["Algorithm"](F, np.random.default_rng(5)).fit(task.train_x, task.train_y)
    np.testing.assert_array_equal(
        by_seed.predict_batch(task.valid_x), by_rng.predict_batch(task.valid_x)
    )
    assert by_seed.predict_batch(np.empty((0, F))).shape == (0,)


# --- loading and the command line -------------------------------------------------------


def test_load_algorithm_from_every_source(tmp_path: Path) -> None:
    program = linear_regression_sgd()
    save_program(program, tmp_path / "best.json")
    obj = program_to_json(program)
    for source in (
        program,
        obj,
        json.dumps(obj),
        tmp_path / "best.json",
        str(tmp_path / "best.json"),
        tmp_path,
    ):
        assert load_algorithm(source) == program
    with pytest.raises(ValueError, match="no such algorithm file"):
        load_algorithm(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="not int"):
        load_algorithm(3)  # type: ignore[arg-type]


runner = CliRunner()


def _algo(tmp_path: Path) -> Path:
    path = tmp_path / "best.json"
    save_program(_readme_solution(), path)
    return path


def test_cli_export_prints_or_writes_the_module(tmp_path: Path) -> None:
    algo = _algo(tmp_path)
    printed = runner.invoke(app, ["export", str(algo), "--format", "python"])
    assert printed.exit_code == 0, printed.output
    assert printed.stdout == export_python(_readme_solution(), source="best.json")
    out = tmp_path / "algo.py"
    wrote = runner.invoke(app, ["export", str(tmp_path), "-o", str(out), "--all"])  # run folder
    assert wrote.exit_code == 0, wrote.output
    assert out.read_text() == export_python(_readme_solution(), prune=False, source=tmp_path.name)


def test_cli_export_never_overwrites_without_force(tmp_path: Path) -> None:
    algo = _algo(tmp_path)
    out = tmp_path / "algo.py"
    out.write_text("precious\n")
    r = runner.invoke(app, ["export", str(algo), "-o", str(out)])
    assert r.exit_code == 2
    assert "already exists" in r.stderr and "--force" in r.stderr
    assert out.read_text() == "precious\n"
    r = runner.invoke(app, ["export", str(algo), "-o", str(out), "--force"])
    assert r.exit_code == 0
    assert out.read_text().startswith('"""Algorithm:')


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "{algo}", "--format", "onnx"], "unknown export format 'onnx'"),
        (["export", "{tmp}/missing.json"], "no such algorithm file"),
        (["export", "{bad}"], "unknown op 'FROBNICATE'"),
        (["export", "{tmp}/empty_dir"], "no such algorithm file"),
        (["export", "{algo}", "-o", "{tmp}/nowhere/a.py"], "no such folder"),
        (["export", "{algo}", "--class-name", "1st"], "not a Python identifier"),
    ],
)
def test_cli_export_bad_input_gives_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    algo = _algo(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"setup": [{"op": "FROBNICATE", "out": 2}]}))
    (tmp_path / "empty_dir").mkdir()
    r = runner.invoke(app, [a.format(algo=algo, bad=bad, tmp=tmp_path) for a in args])
    assert r.exit_code == 2
    assert message in r.stderr
    assert r.stderr.startswith("error:")
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr + r.stdout


def test_import_primeval_export_does_not_import_sklearn() -> None:
    code = "import sys, primeval, primeval.export; assert 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
