"""Programs: immutability, JSON round trips, validation of malformed files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from primeval.algorithms.memory import Banks
from primeval.algorithms.mutate import Mutator
from primeval.algorithms.program import (
    Function,
    Program,
    ProgramFormatError,
    load_program,
    program_from_json,
    program_to_json,
    save_program,
)


def test_programs_are_immutable(all_ops_mutator: Mutator, rng: np.random.Generator) -> None:
    p = all_ops_mutator.random_program(rng)
    with pytest.raises(ValueError):
        p.setup.ops[0] = 1
    with pytest.raises(AttributeError):
        p.setup = Function.empty(1)  # type: ignore[misc]


def test_json_round_trip_of_random_programs(
    all_ops_mutator: Mutator, rng: np.random.Generator
) -> None:
    for _ in range(200):
        p = all_ops_mutator.random_program(rng)
        for _ in range(3):
            p, _ = all_ops_mutator.mutate(p, rng)
        text = json.dumps(program_to_json(p))
        q = program_from_json(json.loads(text))
        assert q == p
        assert q.fingerprint() == p.fingerprint()


def test_json_names_ops_not_numbers(all_ops_mutator: Mutator, rng: np.random.Generator) -> None:
    obj = program_to_json(all_ops_mutator.random_program(rng))
    for comp in ("setup", "predict", "learn"):
        for ins in obj[comp]:
            assert isinstance(ins["op"], str) and ins["op"].isupper()


def test_save_and_load(tmp_path, all_ops_mutator: Mutator, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    p = all_ops_mutator.random_program(rng)
    save_program(p, tmp_path / "a.json")
    assert load_program(tmp_path / "a.json") == p


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "must be a JSON object"),
        ({"format": "other/9"}, "unsupported algorithm format"),
        ({"setup": [{"op": "SCALAR_FROBNICATE", "out": 2}]}, "unknown op 'SCALAR_FROBNICATE'"),
        ({"setup": [{"op": "SCALAR_SUM", "in1": 0, "out": 2}]}, "missing field"),
        ({"setup": [{"op": "SCALAR_SUM", "in1": 0, "in2": 1, "out": 0}]}, "not a writable"),
        ({"predict": [{"op": "VECTOR_SUM", "in1": 7, "in2": 1, "out": 1}]}, "not a readable"),
        ({"learn": [{"op": "SCALAR_CONST_SET", "out": 2, "value": "x"}]}, "bad field value"),
        ({"learn": [{"op": "NO_OP", "out": 1}]}, "has no field"),
        ({"memory": {"scalars": 1}}, "memory"),
        ({"learn": {"op": "NO_OP"}}, "must be a list"),
    ],
)
def test_malformed_programs_are_rejected_with_a_clear_message(obj: object, message: str) -> None:
    with pytest.raises(ProgramFormatError, match=message):
        program_from_json(obj)


def test_corrupt_file_names_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "bad.json"
    f.write_text('{"setup": [')
    with pytest.raises(ProgramFormatError, match=r"bad\.json: not valid JSON"):
        load_program(f)
    with pytest.raises(ProgramFormatError, match="no such algorithm file"):
        load_program(tmp_path / "missing.json")


def test_encode_gives_flat_arrays() -> None:
    p = Program(Function.empty(2), Function.empty(1), Function.empty(3), Banks())
    ops, args, data, bounds = p.encode()
    assert ops.shape == (6,) and args.shape == (6, 3) and data.shape == (6, 3)
    assert bounds.tolist() == [0, 2, 3, 6]
