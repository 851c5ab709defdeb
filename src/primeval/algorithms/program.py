"""Programs: three component functions (Setup, Predict, Learn) as immutable values.

A component function is stored as three flat arrays, which is also the encoding
the compiled interpreter consumes:

- ``ops``  int16 ``(n,)``   op codes (the reference's ids),
- ``args`` int16 ``(n, 3)`` the addresses ``in1, in2, out`` (unused ones are 0),
- ``data`` float64 ``(n, 3)`` the data slots named by the op's registration.

Arrays are made read-only, so a program cannot change after construction; a
mutation builds a new one. On disk a program is JSON that names ops by their
stable names (never pickle); see :func:`program_to_json`.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from primeval.algorithms.memory import Banks
from primeval.algorithms.ops import REGISTRY, Kind, OpSpec

FORMAT = "primeval.algorithm/1"


class Component(enum.IntEnum):
    SETUP = 0
    PREDICT = 1
    LEARN = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class Instruction(NamedTuple):
    """A decoded instruction, for printing and inspection."""

    op: OpSpec
    in1: int
    in2: int
    out: int
    data: tuple[float, float, float]

    def address(self, slot: str) -> str:
        """``"s3"``-style name of an argument slot (``in1``, ``in2`` or ``out``)."""
        spec = self.op
        if slot == "out":
            assert spec.output is not None
            return f"{spec.output.prefix}{self.out}"
        i = 0 if slot == "in1" else 1
        return f"{spec.inputs[i].prefix}{getattr(self, slot)}"

    def render(self) -> str:
        """The instruction as a line of numpy code."""
        spec = self.op
        if spec.is_noop:
            return "pass"
        fields: dict[str, str] = {"out": self.address("out")}
        for slot in ("in1", "in2")[: spec.arity]:
            fields[slot] = self.address(slot)
        for k, f in enumerate(spec.data):
            if f.name in ("i", "j"):
                fields[f.name] = f"idx({self.data[k]:.6g})"
            else:
                fields[f.name] = f"{self.data[k]:.6g}"
        return spec.template.format(**fields)


def _frozen(a: Any, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    # Always a private copy: the array passed in may be a view of memory its owner keeps
    # writing (a compiled search's population and best rows), and a Function never changes.
    out: np.ndarray = np.array(a, dtype=dtype, order="C").reshape(shape)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Function:
    """One component function: parallel arrays of op codes, addresses and data."""

    ops: np.ndarray
    args: np.ndarray
    data: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", _frozen(self.ops, np.int16, (-1,)))
        object.__setattr__(self, "args", _frozen(self.args, np.int16, (-1, 3)))
        object.__setattr__(self, "data", _frozen(self.data, np.float64, (-1, 3)))
        if not (len(self.ops) == len(self.args) == len(self.data)):
            raise ValueError("ops, args and data must have the same length")

    @classmethod
    def empty(cls, size: int = 0) -> Function:
        """``size`` no-ops."""
        return cls(np.zeros(size), np.zeros((size, 3)), np.zeros((size, 3)))

    @classmethod
    def from_instructions(
        cls, rows: Sequence[tuple[int, int, int, int, Sequence[float]]]
    ) -> Function:
        """From ``(op_code, in1, in2, out, data)`` rows."""
        n = len(rows)
        ops = np.zeros(n)
        args = np.zeros((n, 3))
        data = np.zeros((n, 3))
        for i, (op, in1, in2, out, d) in enumerate(rows):
            ops[i] = op
            args[i] = (in1, in2, out)
            data[i, : len(d)] = d
        return cls(ops, args, data)

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self) -> Iterator[Instruction]:
        for i in range(len(self.ops)):
            a = self.args[i]
            d = self.data[i]
            yield Instruction(
                REGISTRY[int(self.ops[i])], int(a[0]), int(a[1]), int(a[2]), (d[0], d[1], d[2])
            )

    def __eq__(self, other: object) -> bool:
        # Bytewise, like the hash: a program holding NaN data equals itself.
        return (
            isinstance(other, Function)
            and self.ops.tobytes() == other.ops.tobytes()
            and self.args.tobytes() == other.args.tobytes()
            and self.data.tobytes() == other.data.tobytes()
        )

    def __hash__(self) -> int:
        return hash((self.ops.tobytes(), self.args.tobytes(), self.data.tobytes()))


@dataclass(frozen=True, eq=False)
class Program:
    """An algorithm: Setup, Predict and Learn over memory banks of given sizes."""

    setup: Function
    predict: Function
    learn: Function
    banks: Banks = field(default_factory=Banks)

    @property
    def functions(self) -> tuple[Function, Function, Function]:
        return (self.setup, self.predict, self.learn)

    def function(self, component: Component) -> Function:
        return self.functions[component]

    def replace(self, component: Component, fn: Function) -> Program:
        parts = list(self.functions)
        parts[component] = fn
        return Program(parts[0], parts[1], parts[2], self.banks)

    @classmethod
    def empty(cls, banks: Banks | None = None, sizes: tuple[int, int, int] = (0, 0, 0)) -> Program:
        s, p, ln = (Function.empty(n) for n in sizes)
        return cls(s, p, ln, banks or Banks())

    def sizes(self) -> tuple[int, int, int]:
        return (len(self.setup), len(self.predict), len(self.learn))

    def encode(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Flat arrays for a compiled interpreter: ``ops, args, data, bounds``.

        ``bounds`` has four entries; component ``c`` occupies rows
        ``bounds[c]:bounds[c + 1]``. Computed once per program (programs are immutable).
        """
        cached = self.__dict__.get("_encoded")
        if cached is None:
            ops = np.concatenate([f.ops for f in self.functions]).astype(np.int64)
            args = np.concatenate([f.args for f in self.functions]).astype(np.int64)
            data = np.ascontiguousarray(np.concatenate([f.data for f in self.functions]))
            sizes = self.sizes()
            bounds = np.array([0, sizes[0], sizes[0] + sizes[1], sum(sizes)], dtype=np.int64)
            for a in (ops, args, data, bounds):
                a.setflags(write=False)
            cached = (ops, args, data, bounds)
            object.__setattr__(self, "_encoded", cached)
        return cached  # type: ignore[no-any-return]

    def fingerprint(self) -> str:
        """A stable content hash (hex), equal for equal programs."""
        h = hashlib.blake2b(digest_size=12)
        for f in self.functions:
            h.update(len(f).to_bytes(4, "little"))
            h.update(f.ops.tobytes())
            h.update(f.args.tobytes())
            h.update(f.data.tobytes())
        h.update(repr(self.banks).encode())
        return h.hexdigest()

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Program)
            and self.banks == other.banks
            and all(a == b for a, b in zip(self.functions, other.functions, strict=True))
        )

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first instruction that is not well formed."""
        for comp in Component:
            for pos, ins in enumerate(self.function(comp)):
                where = f"{comp.label}[{pos}] ({ins.op.name})"
                for slot, kind in zip(("in1", "in2"), ins.op.inputs, strict=False):
                    if getattr(ins, slot) not in self.banks.in_range(kind):
                        raise ValueError(
                            f"{where}: {slot}={getattr(ins, slot)} is not a readable "
                            f"{kind.name.lower()} address"
                        )
                if ins.op.output is not None and ins.out not in self.banks.out_range(ins.op.output):
                    raise ValueError(
                        f"{where}: out={ins.out} is not a writable "
                        f"{ins.op.output.name.lower()} address"
                    )


# --- JSON -----------------------------------------------------------------------------


class ProgramFormatError(ValueError):
    """An algorithm file that cannot be read as a program."""


def _instruction_to_json(ins: Instruction) -> dict[str, Any]:
    spec = ins.op
    out: dict[str, Any] = {"op": spec.name}
    for slot in ("in1", "in2")[: spec.arity]:
        out[slot] = getattr(ins, slot)
    if spec.output is not None:
        out["out"] = ins.out
    for k, f in enumerate(spec.data):
        out[f.name] = float(ins.data[k])
    return out


def program_to_json(program: Program) -> dict[str, Any]:
    """A JSON-ready dict; ops are named, never numbered."""
    obj: dict[str, Any] = {"format": FORMAT, "memory": program.banks.to_json()}
    for comp in Component:
        obj[comp.label] = [_instruction_to_json(i) for i in program.function(comp)]
    return obj


def _instruction_from_json(obj: Any, where: str) -> tuple[int, int, int, int, list[float]]:
    if not isinstance(obj, dict) or "op" not in obj:
        raise ProgramFormatError(f"{where}: an instruction must be an object with an 'op' field")
    name = obj["op"]
    if not isinstance(name, str) or name not in REGISTRY:
        raise ProgramFormatError(f"{where}: unknown op {name!r}")
    spec = REGISTRY[name]
    allowed = {"op", *("in1", "in2")[: spec.arity], *(("out",) if spec.output else ())}
    allowed |= {f.name for f in spec.data}
    extra = set(obj) - allowed
    if extra:
        raise ProgramFormatError(f"{where}: {name} has no field(s) {sorted(extra)}")
    try:
        addr = [int(obj.get(k, 0)) for k in ("in1", "in2", "out")]
        data = [float(obj.get(f.name, 0.0)) for f in spec.data]
    except (TypeError, ValueError) as e:
        raise ProgramFormatError(f"{where}: bad field value ({e})") from None
    missing = [k for k in allowed - {"op"} if k not in obj]
    if missing:
        raise ProgramFormatError(f"{where}: {name} is missing field(s) {sorted(missing)}")
    return spec.code, addr[0], addr[1], addr[2], data


def program_from_json(obj: Any) -> Program:
    """Parse and validate a program dict; raises :class:`ProgramFormatError`."""
    if not isinstance(obj, dict):
        raise ProgramFormatError("an algorithm must be a JSON object")
    fmt = obj.get("format", FORMAT)
    if fmt != FORMAT:
        raise ProgramFormatError(f"unsupported algorithm format {fmt!r} (expected {FORMAT!r})")
    mem = obj.get("memory", {})
    try:
        banks = Banks(**mem) if mem else Banks()
    except (TypeError, ValueError) as e:
        raise ProgramFormatError(f"memory: {e}") from None
    fns = []
    for comp in Component:
        rows = obj.get(comp.label, [])
        if not isinstance(rows, list):
            raise ProgramFormatError(f"{comp.label}: must be a list of instructions")
        fns.append(
            Function.from_instructions(
                [_instruction_from_json(r, f"{comp.label}[{i}]") for i, r in enumerate(rows)]
            )
        )
    program = Program(fns[0], fns[1], fns[2], banks)
    try:
        program.validate()
    except ValueError as e:
        raise ProgramFormatError(str(e)) from None
    return program


def save_program(program: Program, path: str | Path) -> None:
    Path(path).write_text(json.dumps(program_to_json(program), indent=1) + "\n")


def load_program(path: str | Path) -> Program:
    """Read an algorithm file; any problem is a :class:`ProgramFormatError` naming the file."""
    p = Path(path)
    try:
        obj = json.loads(p.read_text())
    except FileNotFoundError:
        raise ProgramFormatError(f"{p}: no such algorithm file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ProgramFormatError(f"{p}: not valid JSON ({e})") from None
    try:
        return program_from_json(obj)
    except ProgramFormatError as e:
        raise ProgramFormatError(f"{p}: {e}") from None


def kinds_used(ops: Sequence[OpSpec]) -> set[Kind]:
    return {k for s in ops for k in (*s.inputs, *((s.output,) if s.output else ()))}
