"""Regularized evolution of algorithms inside one compiled call per batch of candidates.

The Python search loop (:class:`primeval.engine.search.Search` with an
:class:`~primeval.algorithms.evaluate.AlgorithmEvaluator`) costs tens of microseconds per
candidate in tournament selection, mutation, FEC hashing and bookkeeping, more than a
compiled evaluation. This module runs the same loop in numba, many candidates per call:

- **The same search.** Tournament selection, the mutation operators of
  :mod:`~primeval.algorithms.mutate`, functional equivalence checking with an LRU cache
  (Real et al., "AutoML-Zero", ICML 2020, Sec. 4.2), progressive hurdles (So et al., "The
  Evolved Transformer", ICML 2019), the compute-cost cap and aging or worst-first removal
  (Real et al., "Regularized Evolution", AAAI 2019) are ported one to one and draw from the
  same generator in the same order. A compiled search and the Python one started from the
  same seed make the same candidates and fitnesses, step for step
  (``tests/test_compiled_search.py`` checks it).
- **Less work.** Before a candidate runs, dead code (:mod:`~primeval.algorithms.dce`: results
  that can never reach a prediction) is dropped; the fitness is unchanged. (A program whose
  only random draws are dead is evaluated in full, draws included: they advance the search
  generator.) FEC probes of programs that draw random numbers use one freshly seeded
  generator per task, as the reference does: the probe's generators are put back into their
  seeded state by copying saved bytes over their state
  (:func:`~.search_fec.restore_generators`; checked at start-up, else such candidates skip
  FEC).
- **One definition per op.** Op signatures, data fields and costs come from the op registry
  as tables (:class:`~.search_tables.SearchTables`); evaluation is the generated
  interpreter's ``run_tasks_with``. :func:`evolve_with` is plain Python here; the generated
  module (:mod:`.codegen`, which lists this module in ``EXTENSIONS``) compiles a copy of it
  next to the interpreter, so it calls the jump table directly, and caches the machine code
  on disk. Its arguments are two named records (:class:`~.search_state.SearchInputs`,
  :class:`~.search_state.SearchArrays`), the lineage log and the number of steps.

Programs live in fixed-size rows: component ``c`` of a row occupies ``max_sizes[c] + 1``
slots starting at ``offsets[c]`` (one spare slot for the insertion of a trade).
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

from primeval.algorithms.interpret.intrinsics import frozen, generator_from
from primeval.algorithms.interpret.protocol import run_tasks_with
from primeval.algorithms.interpret.search_fec import (
    fingerprint,
    lru_get,
    lru_put,
    restore_generators,
)
from primeval.algorithms.interpret.search_hurdle import combine_into, hurdle_check
from primeval.algorithms.interpret.search_precheck import learns_from_data_row
from primeval.algorithms.interpret.search_rows import (
    encode_live,
    live_mask_into,
    mutate_into,
    random_program_into,
    seed_program_into,
)
from primeval.algorithms.interpret.search_state import (
    BEST_FITNESS,
    BEST_FOUND,
    BEST_ID,
    BEST_MUTATION,
    BEST_PARENT,
    C_ARCHIVED,
    C_BYPASS,
    C_COUNT,
    C_EVALUATIONS,
    C_FULL,
    C_HEAD,
    C_HITS,
    C_LIVE_LEARN,
    C_LIVE_PREDICT,
    C_LIVE_SETUP,
    C_MIGRANTS,
    C_MIGRANTS_TAKEN,
    C_MISSES,
    C_NEXT_ID,
    C_OVER_BUDGET,
    C_REJECTED,
    F_FEC_SCALE,
    F_MAX_ABS_ERROR,
    F_MAX_COST,
    F_MUTATE_PROB,
    FLAG_DRAWS,
    FLAG_FEC_HIT,
    FLAG_OVER_BUDGET,
    FLAG_REJECTED,
    S_CLASSIFY,
    S_FEC,
    S_FEC_DRAWS,
    S_FEC_TRAIN,
    S_FEC_VALID,
    S_HURDLE_TASKS,
    S_LINEAGE,
    S_MEDIAN,
    S_N_TRAIN,
    S_N_VALID,
    S_POPULATION,
    S_PRECHECK,
    S_RANDOM,
    S_SEEDED,
    S_TOURNAMENT,
    S_WORST,
)
from primeval.algorithms.interpret.search_tables import (
    FLOPS,
    M_COPY,
    M_INITIAL,
    M_MIGRANT,
    M_RANDOM,
    STOCHASTIC,
    WHOLE,
    mutation_code,
)


def _copy_row(src_ops, src_args, src_data, src_lens, dst_ops, dst_args, dst_data, dst_lens, t):
    for c in range(3):
        base = t.offsets[c]
        for i in range(base, base + src_lens[c]):
            dst_ops[i] = src_ops[i]
            for k in range(3):
                dst_args[i, k] = src_args[i, k]
                dst_data[i, k] = src_data[i, k]
        dst_lens[c] = src_lens[c]


def _cost(t, ops, lens):
    """``evaluate.per_example_cost``: multiply-adds of Predict and Learn."""
    total = 0
    for c in (1, 2):
        base = t.offsets[c]
        for i in range(base, base + lens[c]):
            total += t.ops[ops[i], FLOPS]
    return total


def _clean(f):
    return f if np.isfinite(f) else -np.inf


def _any_draws(t, ops, lens):
    for c in range(3):
        base = t.offsets[c]
        for i in range(base, base + lens[c]):
            if t.ops[ops[i], STOCHASTIC]:
                return True
    return False


for _loop_helper in (_copy_row, _cost, _clean, _any_draws):
    register_jitable(error_model="numpy")(_loop_helper)


def evaluate_child(inputs, ws, cache, hurdle, ctr, pop):
    """``AlgorithmEvaluator.evaluate`` of the child in ``ws``; returns (fitness, flags).
    (Passed the records it uses, not all of :class:`~.search_state.SearchArrays`: fewer
    arrays to pass to a call per candidate; ``pop`` for the population hurdle rule.)"""
    known, t, tasks, si, sf, rngs, idle_rngs = inputs
    if sf[F_MAX_COST] < np.inf and _cost(t, ws.ops, ws.lens) > sf[F_MAX_COST]:
        ctr[C_OVER_BUDGET] += 1
        return 0.0, FLAG_OVER_BUDGET
    draws = live_mask_into(t, ws.ops, ws.args, ws.lens, ws.mask, ws.dce)
    if si[S_CLASSIFY] > 2:
        # Multi-class tasks predict the vector v2, which the liveness analysis does not follow:
        # every instruction runs.
        for i in range(ws.mask.shape[0]):
            ws.mask[i] = True
        draws = _any_draws(t, ws.ops, ws.lens)
    if si[S_PRECHECK] != 0 and not learns_from_data_row(t, ws.ops, ws.args, ws.lens, ws.mask):
        ctr[C_REJECTED] += 1
        return 0.0, FLAG_REJECTED
    n = encode_live(
        t, ws.ops, ws.args, ws.data, ws.lens, ws.mask,
        ws.live_ops, ws.live_args, ws.live_data, ws.live_bounds,
    )  # fmt: skip
    # Read-only, as the interpreter passes a program's arrays: one compilation of the callee.
    ops, args, data = frozen(ws.live_ops[:n]), frozen(ws.live_args[:n]), frozen(ws.live_data[:n])
    bounds = frozen(ws.live_bounds)
    classify = si[S_CLASSIFY]  # TaskSet.classes
    max_abs = sf[F_MAX_ABS_ERROR]
    flags = FLAG_DRAWS if draws else 0
    use_fec = si[S_FEC] != 0 and (not draws or si[S_FEC_DRAWS] != 0)
    key = np.uint64(0)
    if si[S_FEC] != 0 and not use_fec:
        ctr[C_BYPASS] += 1
    if use_fec:
        ws.probe[:, :] = np.nan
        probe_rngs = idle_rngs
        if draws:  # as the reference: each task draws from a freshly seeded generator
            restore_generators(cache.restore_to, cache.restore_from, cache.restore_len)
            probe_rngs = cache.gens
        ta = tasks.all
        run_tasks_with(
            known, ops, args, data, bounds, ws.s, ws.v, ws.m,
            ta.train_x, ta.train_y, ta.order, ta.valid_x, ta.valid_y, ta.lanes,
            classify, si[S_FEC_TRAIN], si[S_FEC_VALID], max_abs, probe_rngs, ws.fitness, ws.probe,
        )  # fmt: skip
        key = fingerprint(ws.probe, sf[F_FEC_SCALE], ws.bits)
        if lru_get(cache.keys, cache.values, cache.prev, cache.next, cache.table, cache.state,
                   key, ws.value):  # fmt: skip
            ctr[C_HITS] += 1
            return ws.value[0], FLAG_FEC_HIT
        ctr[C_MISSES] += 1
    if not draws and _any_draws(t, ws.ops, ws.lens):
        # Dead draws still advance the search generator in the reference protocol: keep them.
        for i in range(ws.mask.shape[0]):
            ws.mask[i] = True
        n = encode_live(
            t, ws.ops, ws.args, ws.data, ws.lens, ws.mask,
            ws.live_ops, ws.live_args, ws.live_data, ws.live_bounds,
        )  # fmt: skip
        ops, args = frozen(ws.live_ops[:n]), frozen(ws.live_args[:n])
        data = frozen(ws.live_data[:n])
    ctr[C_FULL] += 1
    ctr[C_LIVE_SETUP] += bounds[1]
    ctr[C_LIVE_PREDICT] += bounds[2] - bounds[1]
    ctr[C_LIVE_LEARN] += bounds[3] - bounds[2]
    median = si[S_MEDIAN] != 0
    h = si[S_HURDLE_TASKS]
    n_train, n_valid = si[S_N_TRAIN], si[S_N_VALID]
    if h > 0:
        th = tasks.head
        run_tasks_with(
            known, ops, args, data, bounds, ws.s, ws.v, ws.m,
            th.train_x, th.train_y, th.order, th.valid_x, th.valid_y, th.lanes,
            classify, n_train, n_valid, max_abs, rngs, ws.fitness[:h], ws.no_probe,
        )  # fmt: skip
        result = combine_into(ws.fitness[:h], median)
        if hurdle_check(hurdle.window, hurdle.finite, hurdle.state, hurdle.params, result,
                        pop.fitness, ctr[C_COUNT]):  # fmt: skip
            tt = tasks.tail
            run_tasks_with(
                known, ops, args, data, bounds, ws.s, ws.v, ws.m,
                tt.train_x, tt.train_y, tt.order, tt.valid_x, tt.valid_y, tt.lanes,
                classify, n_train, n_valid, max_abs, rngs, ws.fitness[h:], ws.no_probe,
            )  # fmt: skip
            result = combine_into(ws.fitness, median)
    else:
        ta = tasks.all
        run_tasks_with(
            known, ops, args, data, bounds, ws.s, ws.v, ws.m,
            ta.train_x, ta.train_y, ta.order, ta.valid_x, ta.valid_y, ta.lanes,
            classify, n_train, n_valid, max_abs, rngs, ws.fitness, ws.no_probe,
        )  # fmt: skip
        result = combine_into(ws.fitness, median)
    if use_fec:
        lru_put(cache.keys, cache.values, cache.prev, cache.next, cache.table, cache.state,
                key, result)  # fmt: skip
    return result, flags


def evolve_with(inputs, arrays, log, steps):
    """``steps`` rounds of ask / evaluate / tell (``RegularizedEvolution`` or
    ``RandomSearch`` with an ``AlgorithmEvaluator``), drawing from ``rngs[0]``. Waiting
    migrants are evaluated first, each in place of a new candidate. With ``S_LINEAGE``, a
    member that was a parent goes to ``archive`` when it leaves the population (the caller
    leaves room for ``steps`` rows)."""
    t, si, sf, rngs = inputs.tables, inputs.settings, inputs.float_settings, inputs.rngs
    pop, ws, best, migrants, archive, ctr = (
        arrays.pop, arrays.ws, arrays.best, arrays.migrants, arrays.archive, arrays.counters,
    )  # fmt: skip
    rng = generator_from(rngs[0])
    size = si[S_POPULATION]
    for step in range(steps):
        count = ctr[C_COUNT]
        parent = -1
        if ctr[C_MIGRANTS_TAKEN] < ctr[C_MIGRANTS]:
            k = ctr[C_MIGRANTS_TAKEN]
            ctr[C_MIGRANTS_TAKEN] = k + 1
            _copy_row(migrants.ops[k], migrants.args[k], migrants.data[k], migrants.lens[k],
                      ws.ops, ws.args, ws.data, ws.lens, t)  # fmt: skip
            mutation = mutation_code(M_MIGRANT, WHOLE)
        elif si[S_RANDOM] != 0:
            random_program_into(rng, ws.u, ws.pos, t, ws.ops, ws.args, ws.data, ws.lens)
            mutation = mutation_code(M_RANDOM, WHOLE)
        elif count < size:
            if si[S_SEEDED] != 0:
                seed_program_into(t, ws.ops, ws.args, ws.data, ws.lens)
            else:
                random_program_into(rng, ws.u, ws.pos, t, ws.ops, ws.args, ws.data, ws.lens)
            mutation = mutation_code(M_INITIAL, WHOLE)
        else:
            picks = rng.integers(0, count, si[S_TOURNAMENT])
            head = ctr[C_HEAD]
            row = pop.order[(head + picks[0]) % size]
            top = pop.fitness[row]
            for k in range(1, picks.shape[0]):
                r = pop.order[(head + picks[k]) % size]
                if pop.fitness[r] > top:
                    top = pop.fitness[r]
                    row = r
            _copy_row(pop.ops[row], pop.args[row], pop.data[row], pop.lens[row],
                      ws.ops, ws.args, ws.data, ws.lens, t)  # fmt: skip
            parent = pop.ids[row]
            pop.kids[row] = 1
            if sf[F_MUTATE_PROB] >= 1.0 or rng.random() < sf[F_MUTATE_PROB]:
                mutation = mutate_into(rng, ws.u, ws.pos, t, ws.ops, ws.args, ws.data, ws.lens)
            else:
                mutation = mutation_code(M_COPY, WHOLE)
        fitness, flags = evaluate_child(inputs, ws, arrays.cache, arrays.hurdle, ctr, pop)
        ctr[C_EVALUATIONS] += 1
        ident = ctr[C_NEXT_ID]
        ctr[C_NEXT_ID] += 1
        clean = _clean(fitness)
        if best.info[BEST_FOUND] == 0.0 or clean > _clean(best.info[BEST_FITNESS]):
            _copy_row(ws.ops, ws.args, ws.data, ws.lens,
                      best.ops, best.args, best.data, best.lens, t)  # fmt: skip
            best.info[BEST_FITNESS] = fitness
            best.info[BEST_FOUND] = 1.0
            best.ids[BEST_ID] = ident
            best.ids[BEST_PARENT] = parent
            best.ids[BEST_MUTATION] = mutation
        # tell: the child joins the population
        row = -1
        if count < size:
            row = count
            pop.order[count] = count
            ctr[C_COUNT] = count + 1
        elif si[S_WORST] == 0:
            head = ctr[C_HEAD]
            row = pop.order[head]
            ctr[C_HEAD] = (head + 1) % size
        else:  # drop the worst (the first of equals, oldest first), maybe the child itself
            worst = -1
            low = clean
            for k in range(size - 1, -1, -1):
                if pop.fitness[pop.order[k]] <= low:
                    low = pop.fitness[pop.order[k]]
                    worst = k
            if worst >= 0:
                row = pop.order[worst]
                for k in range(worst, size - 1):
                    pop.order[k] = pop.order[k + 1]
                pop.order[size - 1] = row
        if row >= 0:
            if si[S_LINEAGE] != 0 and count >= size and pop.kids[row] != 0:
                k = ctr[C_ARCHIVED]
                if k < archive.ids.shape[0]:
                    _copy_row(pop.ops[row], pop.args[row], pop.data[row], pop.lens[row],
                              archive.ops[k], archive.args[k], archive.data[k],
                              archive.lens[k], t)  # fmt: skip
                    archive.ids[k] = pop.ids[row]
                    archive.parents[k] = pop.parents[row]
                    archive.muts[k] = pop.muts[row]
                    archive.fitness[k] = pop.raw[row]
                    ctr[C_ARCHIVED] = k + 1
            _copy_row(ws.ops, ws.args, ws.data, ws.lens,
                      pop.ops[row], pop.args[row], pop.data[row], pop.lens[row], t)  # fmt: skip
            pop.fitness[row] = clean
            pop.raw[row] = fitness
            pop.ids[row] = ident
            pop.parents[row] = parent
            pop.muts[row] = mutation
            pop.kids[row] = 0
        if step < log.ids.shape[0]:
            log.ids[step] = ident
            log.parents[step] = parent
            log.mutations[step] = mutation
            log.fitness[step] = fitness
            log.flags[step] = flags
    return steps


GENERATED = (evaluate_child, evolve_with)
ENTRIES = {"evolve": evolve_with}
