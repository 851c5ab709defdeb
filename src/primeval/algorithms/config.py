"""AutoML-Zero's search configurations: YAML files validated with pydantic.

The sections every search shares (``workers``' where-to-run fields, ``checkpoint``) are the
engine's (:mod:`primeval.engine.config`); the rest (memory, program, tasks, ops, mutation,
FEC, hurdles, select) is AutoML-Zero's.

Every section refuses unknown fields, so a typo is reported with its path
(``search.populaton: extra inputs are not permitted``) instead of being ignored.
The default configuration is the AutoML-Zero reference demo and ships inside
the package (``primeval/configs/demo.yaml``).
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from primeval.algorithms import baselines
from primeval.algorithms.memory import Banks
from primeval.algorithms.mutate import ConstantRule, MutationType
from primeval.algorithms.ops import REGISTRY
from primeval.algorithms.program import Component, Program, ProgramFormatError, load_program
from primeval.engine.config import CheckpointConfig
from primeval.engine.config import WorkersConfig as EngineWorkers

DEMO_OPS = [
    "SCALAR_CONST_SET",
    "VECTOR_INNER_PRODUCT",
    "SCALAR_DIFF",
    "SCALAR_PRODUCT",
    "SCALAR_VECTOR_PRODUCT",
    "VECTOR_SUM",
]


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemoryConfig(_Strict):
    scalars: int = Field(4, ge=2)
    vectors: int = Field(3, ge=1)
    matrices: int = Field(1, ge=0)


PAIR_SETS = {"search": 36, "selection": 9, "all": 45}  # pairs of 10 classes: held out, not, all


class TaskConfig(_Strict):
    """A family of tasks. ``seed`` None means: derived from the run's seed.

    Kinds: ``linear`` and ``nonlinear`` teachers (Real et al. 2020, Sec. 4.1; ``n_tasks`` is
    the paper's D, redrawn in every experiment unless ``seed`` is set); ``projected`` binary
    tasks of two classes of ``dataset`` (Sec. 4.2); ``multiclass`` tasks of all ten classes,
    the label a one-hot vector (Sec. 4.3); ``table``: the user's data set at ``path`` with the
    column ``target`` to predict.

    ``projections`` makes a task *pool*: every pair of ``pairs`` (or, for ``multiclass`` and
    ``table``, the one data set) under that many fixed random projections (the paper's 36
    pairs x 100 projections = 3,600 search tasks), fixed by ``seed`` (or the run's seed);
    each experiment draws ``n_tasks`` distinct members. ``None``: every task a fresh
    projection drawn from the experiment's seed.
    """

    kind: Literal["linear", "nonlinear", "projected", "multiclass", "table"] = "linear"
    dim: int = Field(4, ge=1, le=256)
    n_tasks: int = Field(10, ge=1)
    n_train: int = Field(100, ge=1)
    n_valid: int = Field(100, ge=1)
    n_test: int = Field(0, ge=0)
    epochs: int = Field(1, ge=1)
    seed: int | None = None
    dataset: Literal["digits", "mnist", "cifar10", "mnist1d"] = "digits"
    path: str | None = None
    pairs: Literal["search", "selection", "all"] | list[tuple[int, int]] = "search"
    zero_rows: list[int] = Field(default_factory=list)  # nonlinear: teacher units switched off
    projections: int | None = Field(None, ge=1)
    target: str | None = None  # table: the column to predict
    objective: Literal["auto", "regression", "classification"] = "auto"  # table

    @model_validator(mode="after")
    def _kind_fields(self) -> TaskConfig:
        if self.kind == "table" and (self.path is None or self.target is None):
            raise ValueError("tasks of kind table need a path (.csv or .npz) and a target column")
        if self.kind != "table" and (self.target is not None or self.objective != "auto"):
            raise ValueError("target and objective are for tasks of kind table")
        if self.kind == "multiclass" and self.dim < 10:
            raise ValueError(f"multiclass tasks need dim >= 10 (a one-hot label), got {self.dim}")
        if self.projections is not None:
            if self.kind in ("linear", "nonlinear"):
                raise ValueError("projections make a pool of projected, multiclass or table tasks")
            members = self.projections * self.pool_groups()
            if self.n_tasks > members:
                raise ValueError(
                    f"n_tasks {self.n_tasks} is more than the pool's {members} tasks "
                    f"({self.pool_groups()} x {self.projections} projections)"
                )
        return self

    def pool_groups(self) -> int:
        """How many data sets a pool projects: class pairs, or one."""
        if self.kind != "projected":
            return 1
        return PAIR_SETS[self.pairs] if isinstance(self.pairs, str) else len(self.pairs)


class SizesConfig(_Strict):
    setup: int = Field(ge=0)
    predict: int = Field(ge=0)
    learn: int = Field(ge=0)

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.setup, self.predict, self.learn)


DEFAULT_SIZES = SizesConfig(setup=10, predict=2, learn=8)  # the reference demo's


def _check_ops(names: list[str] | None) -> list[str] | None:
    if names is None:
        return None
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown op(s) {unknown}; see `primeval ops` for the list")
    return names


INITIAL_KINDS = ("random", "empty")
FunctionName = Literal["setup", "predict", "learn"]
FUNCTIONS: tuple[FunctionName, ...] = ("setup", "predict", "learn")


def initial_program(initial: str) -> Program | None:
    """The algorithm ``program.initial`` names (None for ``random`` / ``empty``): a baseline of
    :data:`primeval.algorithms.baselines.NAMED`, or an algorithm JSON file. Raises
    ``ValueError`` saying what is wrong."""
    if initial in INITIAL_KINDS:
        return None
    if initial in baselines.NAMED:
        return baselines.named(initial)
    if not initial.endswith(".json"):
        raise ValueError(
            f"{initial!r} is neither random, empty, a baseline ({', '.join(baselines.NAMED)}) "
            "nor an algorithm .json file"
        )
    try:
        return load_program(initial)
    except ProgramFormatError as e:
        raise ValueError(str(e)) from None


class ProgramConfig(_Strict):
    """Allowed ops (for all components, or per component) and sizes.

    ``initial`` is how the population starts: ``random`` programs or ``empty`` ones (no-ops)
    of ``sizes``, or copies of one algorithm, named as a baseline (``damaged_neural_net``)
    or as an algorithm JSON file (relative to the config file); then the initial sizes are
    the algorithm's, and ``min_sizes`` / ``max_sizes`` default to them.
    """

    ops: Literal["all"] | list[str] = Field(default_factory=lambda: list(DEMO_OPS))
    setup_ops: list[str] | None = None
    predict_ops: list[str] | None = None
    learn_ops: list[str] | None = None
    sizes: SizesConfig | None = None  # default: the initial algorithm's, or DEFAULT_SIZES
    min_sizes: SizesConfig | None = None
    max_sizes: SizesConfig | None = None
    initial: str = "random"

    @field_validator("initial")
    @classmethod
    def _initial(cls, v: str) -> str:
        initial_program(v)
        return v

    def start(self) -> Program | None:
        """The algorithm the population starts from, if ``initial`` names one."""
        return initial_program(self.initial)

    def initial_sizes(self, start: Program | None = None) -> tuple[int, int, int]:
        if start is not None:
            return start.sizes()
        return (self.sizes or DEFAULT_SIZES).as_tuple()

    @field_validator("ops")
    @classmethod
    def _known(cls, v: Any) -> Any:
        return v if v == "all" else _check_ops(v)

    @field_validator("setup_ops", "predict_ops", "learn_ops")
    @classmethod
    def _known_c(cls, v: list[str] | None) -> list[str] | None:
        return _check_ops(v)

    def component_ops(self) -> tuple[list[str], list[str], list[str]]:
        base = [s.name for s in REGISTRY] if self.ops == "all" else list(self.ops)
        return (
            self.setup_ops if self.setup_ops is not None else base,
            self.predict_ops if self.predict_ops is not None else base,
            self.learn_ops if self.learn_ops is not None else base,
        )


class MutationConfig(_Strict):
    """How a parent is changed. ``functions`` are the component functions mutations may
    change; the others stay as the initial program has them (the reference's Setup-only
    search of a damaged network freezes Predict and Learn).

    ``weights`` (one per entry of ``types``; None: uniform, as the reference) and
    ``constants`` (``log_normal``: the reference's sign flip or log-normal step; ``paper``:
    x U[0.5, 2], then a sign flip with p = 0.1) set the distribution. Real et al. 2020,
    Sec. 3.2: ``types: [insert, remove, randomize_function, alter_param]``, ``weights:
    [1, 2, 3, 3]``, ``constants: paper``.
    """

    types: list[MutationType] = Field(
        default_factory=lambda: [
            MutationType.ALTER_PARAM,
            MutationType.RANDOMIZE_INSTRUCTION,
            MutationType.RANDOMIZE_FUNCTION,
        ],
        min_length=1,
    )
    weights: list[float] | None = None
    constants: ConstantRule = ConstantRule.LOG_NORMAL
    prob: float = Field(0.9, ge=0.0, le=1.0)
    functions: list[FunctionName] = Field(default_factory=lambda: list(FUNCTIONS), min_length=1)

    @model_validator(mode="after")
    def _weights(self) -> MutationConfig:
        if self.weights is not None:
            if len(self.weights) != len(self.types):
                raise ValueError(
                    f"weights has {len(self.weights)} entries for {len(self.types)} types"
                )
            if any(not 0.0 <= w < float("inf") for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be finite, non-negative and not all zero")
        return self

    @field_validator("functions")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"lists a function twice: {v}")
        return v

    def frozen(self) -> tuple[Component, ...]:
        """The components mutations leave alone."""
        return tuple(c for c in Component if c.label not in self.functions)


class SearchConfig(_Strict):
    strategy: Literal["evolution", "random"] = "evolution"
    population: int = Field(1000, ge=1)
    tournament: int = Field(10, ge=1)
    remove: Literal["oldest", "worst"] = "oldest"
    max_evals: int | None = Field(1_000_000, ge=1)  # per experiment
    time_budget: float | None = Field(None, gt=0)  # seconds, whole run
    lineage: bool = True  # keep the population's ancestors (compiled search): ancestry.json
    lineage_max_mb: float = Field(16.0, gt=0)  # ancestors kept, all islands together
    # Fitness 0 without running for a program whose live Learn never reads the label or
    # whose live Predict never reads the features (primeval.algorithms.precheck).
    precheck: bool = False


class FECConfig(_Strict):
    enabled: bool = True
    n_train: int = Field(10, ge=1)
    n_valid: int = Field(10, ge=1)
    cache_size: int = Field(100_000, ge=1)


class HurdleConfig(_Strict):
    """Progressive hurdles: a candidate's fitness on the first ``tasks`` tasks must reach
    the ``percentile`` of the last ``window`` such scores (``rule: rolling``), or of the
    population's unique fitnesses (``rule: population``, Real et al. 2020, Suppl. S9),
    before it runs on the rest; everything passes during the first ``warmup`` checks."""

    enabled: bool = False
    tasks: int = Field(1, ge=1)
    percentile: float = Field(75.0, ge=0.0, le=100.0)
    window: int = Field(1000, ge=1)
    warmup: int = Field(100, ge=0)
    rule: Literal["rolling", "population"] = "rolling"


class FitnessConfig(_Strict):
    combine: Literal["mean", "median"] = "mean"
    max_cost_ratio: float | None = Field(None, gt=0)


class SelectConfig(_Strict):
    """Choose the run's result on fresh tasks; stop once it is good enough."""

    tasks: TaskConfig = TaskConfig(n_tasks=100, n_train=1000, n_valid=100)
    sufficient_fitness: float | None = 0.9999
    max_experiments: int = Field(0, ge=0)  # 0: repeat until solved or out of time
    check_during_search: bool = True
    # Each experiment after the first starts its population from copies of the algorithm
    # selected so far (restarts from the best, as Chen et al. 2023, "Symbolic Discovery of
    # Optimization Algorithms", do between their short searches).
    restart_from_best: bool = False


class FinalConfig(_Strict):
    tasks: TaskConfig | None = TaskConfig(n_tasks=100, n_train=1000, n_valid=100, seed=1_000_000)


class WorkersConfig(EngineWorkers):
    """Parallel islands (Real et al. 2020, AutoML-Zero, Sec. 4.2): ``count`` asynchronous
    workers (where they run: :class:`primeval.engine.config.WorkersConfig`), each evolving
    its own population; every ``migration_interval`` evaluations a worker sends
    ``migration_fraction`` of its population to a shared pool and takes as many programs
    from it. ``island_tasks``, if given, are the search tasks of island ``i``
    (round-robin), e.g. half the islands on one data set and half on another."""

    migration_interval: int = Field(10_000, ge=1)
    migration_fraction: float = Field(0.5, gt=0.0, le=1.0)
    island_tasks: list[TaskConfig] = Field(default_factory=list)


class Config(_Strict):
    name: str = "demo"
    seed: int = 0
    interpreter: Literal["compiled", "reference"] = "compiled"
    memory: MemoryConfig = MemoryConfig()
    tasks: TaskConfig = TaskConfig()
    program: ProgramConfig = ProgramConfig()
    mutation: MutationConfig = MutationConfig()
    search: SearchConfig = SearchConfig()
    fec: FECConfig = FECConfig()
    hurdles: HurdleConfig = HurdleConfig()
    fitness: FitnessConfig = FitnessConfig()
    select: SelectConfig = SelectConfig()
    final: FinalConfig = FinalConfig()
    progress_every_seconds: float = Field(1.0, gt=0)
    workers: WorkersConfig = WorkersConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if self.hurdles.enabled and self.hurdles.tasks >= self.tasks.n_tasks:
            raise ValueError("hurdles.tasks must be smaller than tasks.n_tasks")
        if self.search.max_evals is None and self.search.time_budget is None:
            raise ValueError("search needs max_evals or time_budget")
        dims = {self.tasks.dim, self.select.tasks.dim}
        if self.final.tasks is not None:
            dims.add(self.final.tasks.dim)
        dims.update(t.dim for t in self.workers.island_tasks)
        if len(dims) > 1:
            raise ValueError("search, select, final and island tasks must share the same dim")
        sets = [self.tasks, self.select.tasks, self.final.tasks, *self.workers.island_tasks]
        if any(t is not None and t.kind == "multiclass" for t in sets) and self.memory.vectors < 3:
            raise ValueError("multiclass tasks need memory.vectors >= 3 (v1 label, v2 prediction)")
        if self.search.precheck and any(t is not None and t.kind == "multiclass" for t in sets):
            raise ValueError("search.precheck follows the scalar label: not for multiclass tasks")
        w = self.workers
        if w.backend == "inline" and w.count > 1:
            raise ValueError("workers.backend inline runs one worker; use processes or ray")
        if self.hurdles.enabled and any(self.hurdles.tasks >= t.n_tasks for t in w.island_tasks):
            raise ValueError("hurdles.tasks must be smaller than every island's n_tasks")
        self._check_program()
        return self

    def _check_program(self) -> None:
        pc, frozen = self.program, self.mutation.frozen()
        start = pc.start()
        if self.search.strategy == "random" and self.select.restart_from_best:
            raise ValueError(
                "search.strategy random draws whole random programs: it cannot restart from "
                "the best (select.restart_from_best)"
            )
        if self.search.strategy == "random" and (start is not None or frozen):
            raise ValueError(
                "search.strategy random draws whole random programs: it cannot start from "
                "program.initial or keep functions out of mutation.functions"
            )
        ops = pc.component_ops()
        if not any(ops[c] for c in Component if c not in frozen):
            raise ValueError("no function in mutation.functions has any allowed op")
        if start is None:
            return
        banks = Banks(self.memory.scalars, self.memory.vectors, self.memory.matrices)
        if start.banks != banks:
            raise ValueError(
                f"program.initial {pc.initial!r} uses memory {start.banks}, but memory is {banks}"
            )
        sizes = start.sizes()
        if pc.sizes is not None and pc.sizes.as_tuple() != sizes:
            raise ValueError(
                f"program.sizes {pc.sizes.as_tuple()} differ from the sizes of program.initial "
                f"{pc.initial!r} {sizes}; leave sizes out"
            )
        init, lo, hi = self.size_bounds(start)
        for c in Component:
            if not lo[c] <= init[c] <= hi[c]:
                raise ValueError(
                    f"program.initial {pc.initial!r} has {init[c]} {c.label} instructions, "
                    f"outside min_sizes..max_sizes ({lo[c]}..{hi[c]})"
                )

    def size_bounds(
        self, start: Program | None = None
    ) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
        """Initial, least and most instructions per function (``start``:
        ``program.start()``). ``min_sizes`` / ``max_sizes`` default to the initial sizes;
        a function left out of ``mutation.functions`` keeps its initial size."""
        pc = self.program
        init = pc.initial_sizes(start)
        lo = list(pc.min_sizes.as_tuple() if pc.min_sizes else init)
        hi = list(pc.max_sizes.as_tuple() if pc.max_sizes else init)
        for c in self.mutation.frozen():
            lo[c] = hi[c] = init[c]
        return init, (lo[0], lo[1], lo[2]), (hi[0], hi[1], hi[2])

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with dotted-path overrides, e.g. ``{"search.max_evals": 100}``; re-validated."""
        data = self.model_dump(mode="json")
        for path, value in changes.items():
            node = data
            *parents, leaf = path.split(".")
            for p in parents:
                node = node[p]
            node[leaf] = value
        return parse_config(data, "overrides")


IMAGE_KINDS = ("projected", "multiclass")


def with_data_path(config: Config, path: str) -> Config:
    """A copy whose projected task sets (search, select, final, islands) of the search tasks'
    data set read it from ``path``, e.g. a local ``cifar-10-batches-py`` folder. Task sets of
    another data set keep theirs, so islands can mix data sets (Sec. 4.2: CIFAR-10 and
    MNIST)."""
    data = config.model_dump(mode="json")
    sections = [data["tasks"], data["select"]["tasks"], data["final"]["tasks"]]
    sections += data["workers"]["island_tasks"]
    images = [tc for tc in sections if tc is not None and tc["kind"] in IMAGE_KINDS]
    if images:
        main = data["tasks"] if data["tasks"]["kind"] in IMAGE_KINDS else images[0]
        for tc in images:
            if tc["dataset"] == main["dataset"]:
                tc["path"] = path
    return parse_config(data, "--data-path")


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(x) for x in err["loc"]) or "(top level)"
    return f"{where}: {err['msg']}"


def parse_config(data: Any, source: str) -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a config must be a YAML mapping")
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{source}: {_first_error(e)}") from None


def default_config_text() -> str:
    return (importlib.resources.files("primeval") / "configs" / "demo.yaml").read_text()


def _anchored(data: Any, base: Path) -> Any:
    """``data`` with a relative ``program.initial`` file made relative to ``base``, the
    config file's folder (the run folder's copy then names the same file)."""
    program = data.get("program") if isinstance(data, dict) else None
    if not isinstance(program, dict):
        return data
    initial = program.get("initial")
    if not isinstance(initial, str) or not initial.endswith(".json") or Path(initial).is_absolute():
        return data
    return {**data, "program": {**program, "initial": str((base / initial).resolve())}}


def load_config(path: str | Path | None = None) -> Config:
    """Read a YAML config (the embedded demo when ``path`` is None)."""
    base = Path.cwd()
    if path is None:
        text, source = default_config_text(), "demo.yaml (embedded)"
    else:
        p = Path(path)
        builtin = importlib.resources.files("primeval") / "configs" / f"{p.name}.yaml"
        if not p.exists() and builtin.is_file():  # `primeval search nonlinear` names a shipped one
            text, source = builtin.read_text(), f"{p.name}.yaml (shipped)"
            base = Path(__file__).parent.parent / "configs"
        else:
            base = p.parent
            try:
                text, source = p.read_text(), str(p)
            except FileNotFoundError:
                raise ConfigError(f"{p}: no such config file") from None
            except (IsADirectoryError, UnicodeDecodeError) as e:
                raise ConfigError(f"{p}: cannot read ({e})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML ({str(e).splitlines()[0]})") from None
    return parse_config(_anchored(data, base), source)


def dump_config(config: Config) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
