"""The evaluation protocol of AutoML-Zero (Real et al., ICML 2020, Sec. 4; the reference
``Executor``), as plain Python that :mod:`.codegen` compiles into the generated module.

:func:`run_task` runs one task (programs that draw random numbers, task after task, in the
reference's order), :func:`run_lockstep` every task at once in SIMD lanes, and
:func:`run_tasks_with` chooses. Their single ``_exec(...)`` and ``_exec_tasks(...)`` lines
become jump tables over the registered kernels; run as Python they call the kernels through
the registry (``tests/test_compiled.py`` checks both against the reference).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from primeval.algorithms.interpret.intrinsics import LANES, borrow, generator_from, lane
from primeval.algorithms.interpret.jitting import flat, jitable, overload_stub
from primeval.algorithms.interpret.numpy_exact import exact_arctan, exact_exp
from primeval.algorithms.interpret.operands import c_arrays
from primeval.algorithms.memory import FEATURES, LABEL, LABELS, PREDICTION, PREDICTIONS
from primeval.algorithms.ops import REGISTRY, Cost, Kind, OpSpec

_TWO_OVER_PI = 2.0 / np.pi  # the reference's constant, computed the same way


def inlined(spec: OpSpec) -> bool:
    """Whether the jump tables inline the op's kernel (see the module docstring)."""
    return not spec.stochastic and spec.cost in (Cost.SCALAR, Cost.VECTOR)


def op_kinds(spec: OpSpec) -> set[Kind]:
    return {*spec.inputs, *((spec.output,) if spec.output else ())}


def every_lane(spec: OpSpec) -> bool:
    """Whether lockstep runs the op on every lane of a group, tasks running or not: the
    inlined ops (see :func:`inlined`) that touch no matrix (matrices are not saved when a
    task's validation stops)."""
    return inlined(spec) and Kind.MATRIX not in op_kinds(spec)


def _exec(
    ops: np.ndarray,
    args: np.ndarray,
    data: np.ndarray,
    lo: int,
    hi: int,
    s: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Run instructions ``lo:hi``. In the generated module the call becomes a jump table."""
    for i in range(lo, hi):
        a, b, o = (int(x) for x in args[i])
        REGISTRY[int(ops[i])].kernel(s, v, m, a, b, o, data[i], rng)


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + exact_exp(-x)))


def _validation_fitness(loss: float, nv: int, classification: bool) -> float:
    """The end of ``reference._validate``: accuracy, or the squashed RMS error."""
    if nv == 0:
        return 0.0
    if classification:
        return 1.0 - loss / nv
    rmse = np.sqrt(loss / nv)
    if not np.isfinite(rmse):
        return 0.0
    return float(1.0 - _TWO_OVER_PI * exact_arctan(rmse))


def _softmax_error(v: np.ndarray, classes: int, label: int) -> float:
    """``reference.softmax_error`` on the prediction vector ``v[PREDICTIONS]``."""
    top = v[PREDICTIONS, 0]
    for j in range(1, classes):
        if v[PREDICTIONS, j] > top:
            top = v[PREDICTIONS, j]
    total = 0.0
    for j in range(classes):
        v[PREDICTIONS, j] = exact_exp(v[PREDICTIONS, j] - top)
        total += v[PREDICTIONS, j]
    for j in range(classes):
        v[PREDICTIONS, j] = v[PREDICTIONS, j] / total
    error: float = abs(1.0 - v[PREDICTIONS, label])
    return error


def _argmax_error(v: np.ndarray, classes: int, label: int) -> float:
    """``reference.argmax_error`` on the prediction vector ``v[PREDICTIONS]``."""
    best = 0
    for j in range(1, classes):
        if v[PREDICTIONS, j] > v[PREDICTIONS, best]:
            best = j
    return 0.0 if best == label else 1.0


def _set_label_vector(v: np.ndarray, hot: int) -> None:
    """``v[LABELS]`` one-hot at ``hot``, or all zeros for ``hot = -1``."""
    for f in range(v.shape[1]):
        v[LABELS, f] = 1.0 if f == hot else 0.0


def _load(v: np.ndarray, x: np.ndarray, row: int) -> None:
    for f in range(x.shape[1]):
        v[FEATURES, f] = x[row, f]


def _zero(a: np.ndarray) -> None:
    a[...] = 0.0


def _zero_typer(a: Any) -> Any:
    """Compiled: one loop over a C-ordered array (numba's ``a[...] = 0.0`` calls ``memset``
    once per row)."""
    if not c_arrays(a):
        return None

    def loop(a: Any) -> None:
        fa = flat(a)
        for i in range(fa.size):
            fa[i] = 0.0

    return loop


def _load_lanes(v: np.ndarray, x: np.ndarray, row: Any, dim: int) -> None:
    """The features of example ``row`` of lane-ordered examples ``x`` (``(rows, G, F, W)``)
    into the vector banks ``v`` (``(G, n_v, F, W)``)."""
    for g in range(np.uint64(v.shape[0])):
        for f in range(np.uint64(dim)):
            for u in range(LANES):
                v[g, FEATURES, f, u] = x[row, g, f, u]


def _set_labels(s: np.ndarray, y: np.ndarray, row: Any) -> None:
    """``s[LABEL]`` of every lane from lane-ordered labels ``y[row]`` (``(rows, G, W)``)."""
    for g in range(np.uint64(s.shape[0])):
        for u in range(LANES):
            s[g, LABEL, u] = y[row, g, u]


def _clear_labels(s: np.ndarray) -> None:
    for g in range(np.uint64(s.shape[0])):
        for u in range(LANES):
            s[g, LABEL, u] = 0.0


def _any_fails(
    s: np.ndarray, y: np.ndarray, row: Any, mask: np.ndarray, max_abs_error: float
) -> bool:
    """Whether a lane in ``mask`` has an error ``|y - prediction|`` that is NaN or above
    ``max_abs_error`` (regression). Branch-free over the lanes: SIMD."""
    bad = 0
    for g in range(np.uint64(s.shape[0])):
        for u in range(LANES):
            err = abs(y[row, g, u] - s[g, PREDICTION, u])
            bad |= (mask[g * np.uint64(LANES) + u] != 0) & (not err <= max_abs_error)
    return bad != 0


def _add_losses(s: np.ndarray, y: np.ndarray, row: Any, mask: np.ndarray, loss: np.ndarray) -> None:
    """``loss += (y - prediction) ** 2`` on the lanes in ``mask`` (regression), as the
    protocol adds a validation error, branch-free over the lanes (SIMD)."""
    for g in range(np.uint64(s.shape[0])):
        for u in range(LANES):
            t = g * np.uint64(LANES) + u
            error = y[row, g, u] - s[g, PREDICTION, u]
            total = loss[t] + error * error
            loss[t] = total if mask[t] != 0 else loss[t]


def _save_lane(s: np.ndarray, v: np.ndarray, t: Any, bs: np.ndarray, bv: np.ndarray) -> None:
    """Task ``t``'s scalars and vectors, out of the lanes."""
    g, u = t // LANES, t % LANES
    for a in range(s.shape[1]):
        bs[t, a] = s[g, a, u]
    for a in range(v.shape[1]):
        for f in range(v.shape[2]):
            bv[t, a, f] = v[g, a, f, u]


def _restore_lane(s: np.ndarray, v: np.ndarray, t: Any, bs: np.ndarray, bv: np.ndarray) -> None:
    g, u = t // LANES, t % LANES
    for a in range(s.shape[1]):
        s[g, a, u] = bs[t, a]
    for a in range(v.shape[1]):
        for f in range(v.shape[2]):
            v[g, a, f, u] = bv[t, a, f]


jitable(_validation_fitness)
jitable(_sigmoid, _load, _load_lanes, _set_labels, _clear_labels, inline=True)
jitable(_softmax_error, _argmax_error, _set_label_vector)
jitable(_any_fails, _add_losses, inline=True)
jitable(_save_lane, _restore_lane)
overload_stub(_zero, _zero_typer, inline=True)

# What the instructions just run were.
_SETUP, _PREDICT, _LEARN, _VALIDATE = 0, 1, 2, 3

_KIND_CODES = {Kind.SCALAR: 0, Kind.VECTOR: 1, Kind.MATRIX: 2}


_VECTOR_KIND = _KIND_CODES[Kind.VECTOR]


def _writes_features(
    ops: np.ndarray, args: np.ndarray, bounds: np.ndarray, arg_kinds: np.ndarray
) -> bool:
    """Whether Predict writes ``v0``, which then holds the features no more. (A function: a
    flag set from literals would be typed ``Literal[bool]`` first, and the lockstep protocol
    compiled twice.)"""
    for i in range(bounds[1], bounds[2]):
        if arg_kinds[ops[i], 2] == _VECTOR_KIND and args[i, 2] == FEATURES:
            return True
    return False


jitable(_writes_features)


def draws_table(specs: list[OpSpec]) -> np.ndarray:
    """Whether op code ``c`` draws random numbers."""
    table = np.zeros(max(spec.code for spec in specs) + 1, dtype=np.bool_)
    table[[spec.code for spec in specs if spec.stochastic]] = True
    return table


def arg_kinds_table(specs: list[OpSpec]) -> np.ndarray:
    """The bank (0 scalars, 1 vectors, 2 matrices) of op code ``c``'s ``in1, in2, out``
    addresses, -1 where unused."""
    table = np.full((max(spec.code for spec in specs) + 1, 3), -1, dtype=np.int8)
    for spec in specs:
        for slot, kind in enumerate(spec.inputs):
            table[spec.code, slot] = _KIND_CODES[kind]
        if spec.output is not None:
            table[spec.code, 2] = _KIND_CODES[spec.output]
    return table


# The generated module has its own, from the ops it compiles.
DRAWS = draws_table(list(REGISTRY))
_ARG_KINDS = arg_kinds_table(list(REGISTRY))


def run_task(
    ops: np.ndarray,
    args: np.ndarray,
    data: np.ndarray,
    bounds: np.ndarray,
    s: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    rng: Any,
    train_x: np.ndarray,
    train_y: np.ndarray,
    order: np.ndarray,
    valid_x: np.ndarray,
    valid_y: np.ndarray,
    classes: int,
    n_train: int,
    n_valid: int,
    max_abs_error: float,
    errors: np.ndarray,
    record: bool,
) -> float:
    """``reference._run`` on one task; ``errors`` receives its probe row when ``record``.
    ``classes``: 0 regression, 2 binary classification, more: multi-class (``Task.classes``).

    The reference's nested loops (epochs; training, then validation examples) are one loop
    here that runs a component and then decides what runs next, so that the jump table is
    expanded at a single place.
    """
    s[:] = 0.0
    v[:, :] = 0.0
    m[:, :, :] = 0.0
    total = min(n_train, order.shape[0])
    per_epoch = min(train_x.shape[0], total)
    nv = min(n_valid, valid_x.shape[0])
    best = 0.0
    fitness = 0.0
    step = 0  # training steps taken, over all epochs
    stop = 0  # where the current epoch's training ends
    first_epoch = True
    y = 0.0  # the current example's label
    k = 0  # the current validation example
    loss = 0.0
    classification = classes > 0
    multi = classes > 2
    stage = _SETUP
    lo, hi = bounds[0], bounds[1]
    while True:
        _exec(ops, args, data, lo, hi, s, v, m, rng)
        if stage == _PREDICT:
            if multi:
                err = _softmax_error(v, classes, int(y))
            else:
                if classification:
                    s[PREDICTION] = _sigmoid(s[PREDICTION])
                err = abs(y - s[PREDICTION])
            if np.isnan(err) or err > max_abs_error:
                return best  # training stops; 0.0 in the first epoch
            if record and first_epoch:
                errors[step] = err
            _load(v, train_x, order[step])
            if multi:
                _set_label_vector(v, int(y))
            else:
                s[LABEL] = y
            stage, lo, hi = _LEARN, bounds[2], bounds[3]
            continue
        if stage == _LEARN:
            step += 1
            if step < stop:
                y = train_y[order[step]]
                _load(v, train_x, order[step])
                s[LABEL] = 0.0
                if multi:
                    _set_label_vector(v, -1)
                stage, lo, hi = _PREDICT, bounds[1], bounds[2]
                continue
            k = 0
            loss = 0.0
            if k < nv:
                _load(v, valid_x, k)
                s[LABEL] = 0.0
                if multi:
                    _set_label_vector(v, -1)
                stage, lo, hi = _VALIDATE, bounds[1], bounds[2]
                continue
            fitness = _validation_fitness(loss, nv, classification)
        elif stage == _VALIDATE:
            y = valid_y[k]
            if multi:
                error = _argmax_error(v, classes, int(y))
            elif classification:
                p = _sigmoid(s[PREDICTION])
                error = 0.0 if ((y > 0.5) == (p > 0.5)) else 1.0
            else:
                error = y - s[PREDICTION]
            a = abs(error)
            if np.isnan(a) or a > max_abs_error:
                fitness = 0.0
            else:
                if record and first_epoch:
                    errors[n_train + k] = a
                loss += error if classification else error * error
                k += 1
                if k < nv:
                    _load(v, valid_x, k)
                    s[LABEL] = 0.0
                    if multi:
                        _set_label_vector(v, -1)
                    continue
                fitness = _validation_fitness(loss, nv, classification)
        if stage != _SETUP:  # an epoch's validation is done
            if fitness > best:
                best = fitness
            first_epoch = False
        if step >= total:
            return best
        stop = min(step + per_epoch, total)
        y = train_y[order[step]]
        _load(v, train_x, order[step])
        s[LABEL] = 0.0
        if multi:
            _set_label_vector(v, -1)
        stage, lo, hi = _PREDICT, bounds[1], bounds[2]


def _exec_tasks(
    ops: np.ndarray,
    args: np.ndarray,
    data: np.ndarray,
    lo: int,
    hi: int,
    s: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    mask: np.ndarray,
    dim: int,
) -> None:
    """Run instructions ``lo:hi`` on every group of lanes, each instruction on every lane
    before the next. Deterministic ops only. In the generated module the call becomes a jump
    table whose branches loop over the groups and their lanes (:func:`_lockstep_branch`): the
    kernels of scalar and vector ops inlined into a loop of :data:`LANES` iterations, which
    LLVM turns into SIMD instructions across tasks; other kernels called on each lane in
    ``mask``."""
    for i in range(lo, hi):
        a, b, o = (int(x) for x in args[i])
        spec = REGISTRY[int(ops[i])]
        for g in range(s.shape[0]):
            for u in range(LANES):
                t = g * LANES + u
                if every_lane(spec) or mask[t] != 0:
                    spec.kernel(s[g, :, u], v[g, :, :, u], m[t], a, b, o, data[i], None)


def run_lockstep(
    ops: np.ndarray,
    args: np.ndarray,
    data: np.ndarray,
    bounds: np.ndarray,
    s: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    lanes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    n_tasks: int,
    n_examples: int,
    classification: bool,
    n_train: int,
    n_valid: int,
    max_abs_error: float,
    fitness: np.ndarray,
    errors: np.ndarray,
    record: bool,
    reload: bool,
    ints: np.ndarray,
    floats: np.ndarray,
    bs: np.ndarray,
    bv: np.ndarray,
) -> None:
    """:func:`run_task` on every task at once, for a program that draws no random numbers.

    All tasks have as many examples and epochs, so they take the same steps: each component
    runs on all tasks, instruction by instruction, and the dispatch of an instruction is paid
    once for all tasks. Tasks are lanes, :data:`LANES` to a group (:func:`bank_arrays`):
    ``s (G, n_s, W)``, ``v (G, n_v, F, W)``, ``m (G * W, n_m, F, F)``; ``lanes`` are the
    examples in that order (:func:`lane_arrays`), ``(train_x (E*N, G, F, W), train_y (E*N, G,
    W), valid_x (Nv, G, F, W), valid_y (Nv, G, W))``, training examples in each task's order.
    Scalar and vector ops run on every lane (lanes past ``n_tasks`` hold copies of the last
    task), whether its task still runs or not, so that they run as SIMD instructions; the
    other ops only on the lanes in ``mask``. A task leaves ``mask`` (and ``alive``) when its
    training stops (its fitness is then final), and ``mask`` alone for the rest of an epoch's
    validation when a validation error fails (that epoch's fitness is 0): its scalars and
    vectors are then saved (``bs``, ``bv``) and put back after the validation, as if its
    Predict had not run on the remaining examples (its matrices are not touched). Writes
    ``fitness`` and, when ``record``, the probe rows ``errors``.

    The features are loaded again before Learn only if ``reload`` (Predict may write ``v0``).
    ``ints`` (uint64, ``(3, G * W)``: ``alive``, ``mask`` and the groups' links), ``floats``
    (``(2, G * W)``), ``bs`` and ``bv`` are workspace: compiled without numba's runtime, so
    that no array view counts references, this function cannot allocate. Compiled with its
    array arguments ``noalias`` (:class:`NoAliasCompiler`): they must not overlap. Tasks and
    examples are indexed with unsigned integers: numba then drops the handling of negative
    indices.
    """
    train_x, train_y, valid_x, valid_y = lanes
    n_groups = np.uint64(s.shape[0])
    dim = v.shape[2]
    _zero(s)
    _zero(v)
    _zero(m)
    total = np.uint64(min(n_train, int(train_x.shape[0])))
    per_epoch = np.uint64(min(n_examples, int(total)))
    nv = np.uint64(min(n_valid, valid_x.shape[0]))
    first_valid = np.uint64(n_train)  # the probe's first validation column
    alive, mask, after = ints[0], ints[1], ints[2]
    if n_tasks == 0:
        return
    for g in range(n_groups):
        after[g] = g + 1
    best, loss = floats[0], floats[1]
    for t in range(n_tasks):
        alive[t] = 1
        mask[t] = 1
        best[t] = 0.0
    for t in range(n_tasks, alive.shape[0]):
        alive[t] = 0
        mask[t] = 0
    n_alive = n_tasks
    step = np.uint64(0)  # training steps taken, over all epochs
    stop = np.uint64(0)  # where the current epoch's training ends
    first_epoch = True
    k = np.uint64(0)  # the current validation example
    stage = _SETUP
    lo, hi = bounds[0], bounds[1]
    while True:
        _exec_tasks(ops, args, data, lo, hi, s, v, m, mask, dim)
        if stage == _PREDICT:
            slow = classification or (record and first_epoch)
            if not slow:
                slow = _any_fails(s, train_y, step, alive, max_abs_error)
            for t in range(n_tasks if slow else 0):
                if alive[t] == 0:
                    continue
                tg, tu = np.uint64(t) // np.uint64(LANES), np.uint64(t) % np.uint64(LANES)
                if classification:
                    s[tg, PREDICTION, tu] = _sigmoid(s[tg, PREDICTION, tu])
                err = abs(train_y[step, tg, tu] - s[tg, PREDICTION, tu])
                if np.isnan(err) or err > max_abs_error:
                    fitness[t] = best[t]  # training stops; 0.0 in the first epoch
                    alive[t] = 0
                    mask[t] = 0
                    n_alive -= 1
                    continue
                if record and first_epoch:
                    errors[t, step] = err
            if n_alive == 0:
                return  # every task's training stopped
            if reload:
                _load_lanes(v, train_x, step, dim)
            _set_labels(s, train_y, step)
            stage, lo, hi = _LEARN, bounds[2], bounds[3]
            continue
        if stage == _LEARN:
            step += np.uint64(1)
            if step < stop:
                _load_lanes(v, train_x, step, dim)
                _clear_labels(s)
                stage, lo, hi = _PREDICT, bounds[1], bounds[2]
                continue
            for t in range(n_tasks):
                loss[t] = 0.0
            k = np.uint64(0)
            n_valid_run = n_alive
            if nv > np.uint64(0):
                _load_lanes(v, valid_x, k, dim)
                _clear_labels(s)
                stage, lo, hi = _VALIDATE, bounds[1], bounds[2]
                continue
        elif stage == _VALIDATE:
            slow = classification or (record and first_epoch)
            if not slow:
                slow = _any_fails(s, valid_y, k, mask, max_abs_error)
                if not slow:
                    _add_losses(s, valid_y, k, mask, loss)
            for t in range(n_tasks if slow else 0):
                if mask[t] == 0:
                    continue
                tg, tu = np.uint64(t) // np.uint64(LANES), np.uint64(t) % np.uint64(LANES)
                y = valid_y[k, tg, tu]
                if classification:
                    p = _sigmoid(s[tg, PREDICTION, tu])
                    error = 0.0 if ((y > 0.5) == (p > 0.5)) else 1.0
                else:
                    error = y - s[tg, PREDICTION, tu]
                a = abs(error)
                if np.isnan(a) or a > max_abs_error:
                    mask[t] = 0  # this epoch's fitness is 0.0; Predict runs no more on it
                    _save_lane(s, v, t, bs, bv)
                    n_valid_run -= 1
                    continue
                if record and first_epoch:
                    errors[t, first_valid + k] = a
                loss[t] += error if classification else error * error
            k += np.uint64(1)
            if k < nv and n_valid_run > 0:  # the next example
                _load_lanes(v, valid_x, k, dim)
                _clear_labels(s)
                continue
        if stage != _SETUP:  # an epoch's validation is done
            for t in range(n_tasks):
                if alive[t] == 0:
                    continue
                if mask[t] != 0:
                    f = _validation_fitness(loss[t], int(nv), classification)
                    if f > best[t]:
                        best[t] = f
                else:
                    _restore_lane(s, v, t, bs, bv)
                    mask[t] = 1
            first_epoch = False
        if step >= total:
            for t in range(n_tasks):
                if alive[t] != 0:
                    fitness[t] = best[t]
            return
        stop = min(step + per_epoch, total)
        _load_lanes(v, train_x, step, dim)
        _clear_labels(s)
        stage, lo, hi = _PREDICT, bounds[1], bounds[2]


def run_tasks_with(
    known: np.ndarray,
    ops: np.ndarray,
    args: np.ndarray,
    data: np.ndarray,
    bounds: np.ndarray,
    s: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    train_x: np.ndarray,
    train_y: np.ndarray,
    order: np.ndarray,
    valid_x: np.ndarray,
    valid_y: np.ndarray,
    lanes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    classes: int,
    n_train: int,
    n_valid: int,
    max_abs_error: float,
    rngs: np.ndarray,
    fitness: np.ndarray,
    probe: np.ndarray,
) -> int:
    """Evaluate on every task; ``rngs`` holds one generator, or one per task. ``classes``: 0
    regression, 2 binary classification, more: multi-class (``TaskSet.classes``).

    ``s, v, m`` are the memory banks in lanes (:func:`bank_arrays`: ``(G, n_s, W)``,
    ``(G, n_v, F, W)``, ``(G * W, n_m, F, F)``, at least as many groups as the tasks fill;
    contents ignored); ``lanes`` the tasks' examples in lanes (:func:`lane_arrays`). Writes
    ``fitness (T,)`` and, when ``probe`` has rows, the probe errors ``(T, n_train + n_valid)``.
    Returns -1; or the index ``i`` of an instruction whose op is not in ``known``; or ``-2 - i``
    for an instruction with an address outside the memory banks (then nothing runs). Every array
    is the caller's, so they are borrowed without reference counting.

    A program that draws random numbers runs task after task (:func:`run_task`, on the
    task's lane of the memory), drawing in the reference's order, and so do multi-class
    tasks; any other runs on all tasks in lockstep (:func:`run_lockstep`).
    """
    draws = False
    for i in range(ops.shape[0]):
        if ops[i] < 0 or ops[i] >= known.shape[0] or not known[ops[i]]:
            return i
        draws = draws or DRAWS[ops[i]]
    sizes = (s.shape[1], v.shape[1], m.shape[1])
    for i in range(ops.shape[0]):
        for slot in range(3):
            kind = _ARG_KINDS[ops[i], slot]
            if kind >= 0 and (args[i, slot] < 0 or args[i, slot] >= sizes[kind]):
                return -2 - i
    n_tasks, dim = train_x.shape[0], train_x.shape[2]
    n_groups = (n_tasks + LANES - 1) // LANES
    n_lanes = n_groups * LANES
    lx, ly, lvx, lvy = lanes
    if (
        s.shape[2] != LANES
        or v.shape[3] != LANES
        or v.shape[2] != dim
        or s.shape[0] < n_groups
        or v.shape[0] < n_groups
        or m.shape[0] < n_lanes
        or lx.shape[1:] != (n_groups, dim, LANES)
        or lvx.shape[1:] != (n_groups, dim, LANES)
        or ly.shape[1:] != (n_groups, LANES)
        or lvy.shape[1:] != (n_groups, LANES)
        or lx.shape[0] != order.shape[1]
        or lvx.shape[0] != valid_x.shape[1]
    ):
        raise ValueError("memory or lanes do not match the tasks")
    ops, args, data, bounds = borrow(ops), borrow(args), borrow(data), borrow(bounds)
    s, v, m = borrow(s[:n_groups]), borrow(v[:n_groups]), borrow(m[:n_lanes])
    train_x, train_y, order = borrow(train_x), borrow(train_y), borrow(order)
    valid_x, valid_y = borrow(valid_x), borrow(valid_y)
    lanes = (borrow(lx), borrow(ly), borrow(lvx), borrow(lvy))
    rngs, fitness, probe = borrow(rngs), borrow(fitness), borrow(probe)
    record = probe.shape[0] > 0
    if not draws and classes <= 2:
        reload = _writes_features(ops, args, bounds, _ARG_KINDS)
        run_lockstep(
            ops, args, data, bounds, s, v, m, lanes, n_tasks, train_x.shape[1], classes > 0,
            n_train, n_valid, max_abs_error, fitness, probe, record, reload,
            np.empty((3, n_lanes), dtype=np.uint64), np.empty((2, n_lanes)),
            np.empty((n_lanes, s.shape[1])), np.empty((n_lanes, v.shape[1], dim)),
        )  # fmt: skip
        return -1
    for t in range(n_tasks):
        rng = generator_from(rngs[t if rngs.shape[0] > 1 else 0])
        g, u = t // LANES, t % LANES
        fitness[t] = run_task(
            ops, args, data, bounds, lane(s, g, u, dim), lane(v, g, u, dim), m[t], rng,
            train_x[t], train_y[t], order[t], valid_x[t], valid_y[t], classes, n_train,
            n_valid, max_abs_error, probe[t if record else 0], record,
        )  # fmt: skip
    return -1
