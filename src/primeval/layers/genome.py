"""The layer genome: a directed acyclic graph over the primitives, typed by shape kind.

A :class:`LayerGraph` is a tuple of nodes, each an operation and the indices of its inputs;
indices ``0..3`` are the leaves (:data:`~primeval.layers.primitives.LEAVES`), node ``k`` of
the tuple has index ``4 + k`` and reads only earlier indices, so a graph is acyclic by
construction. The last node is the output, which must vary along batch, channel and spatial
axes (the input's shape). Liu et al. (NeurIPS 2020) evolve such graphs from random ones by
mutating one node at a time (its operation or one of its inputs).

:func:`canonical` removes nodes the output does not read, merges equal sub-expressions and
orders the rest by a post-order walk from the output in which the inputs of a commuting
operation are sorted; two graphs that differ only by the numbering of their nodes (or by
dead nodes, or by the order of a sum's terms) have the same canonical form, which keys the
search's cache.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from primeval.layers.primitives import FULL, LEAF_KINDS, LEAVES, PRIMITIVES, Primitive

N_LEAVES = len(LEAVES)
MAX_NODES = 12


class LayerFormatError(ValueError):
    """A graph that is not a layer: unknown operation, bad input index, wrong arity, an
    output of the wrong shape, or malformed JSON."""


@dataclass(frozen=True)
class Node:
    op: str
    inputs: tuple[int, ...]


@dataclass(frozen=True)
class LayerGraph:
    """Nodes in evaluation order; the last one is the output."""

    nodes: tuple[Node, ...]

    def to_json(self) -> dict[str, Any]:
        return {"nodes": [{"op": n.op, "in": list(n.inputs)} for n in self.nodes]}

    def key(self) -> str:
        """The canonical form as compact JSON text: equal for equivalent numberings."""
        return json.dumps(canonical(self).to_json(), separators=(",", ":"))

    def kinds(self) -> list[frozenset[str]]:
        """The shape kind of every index (leaves first)."""
        kinds = [LEAF_KINDS[name] for name in LEAVES]
        for node in self.nodes:
            kinds.append(PRIMITIVES[node.op].kind([kinds[i] for i in node.inputs]))
        return kinds

    def live(self) -> list[bool]:
        """Whether each index (leaves first) is read, directly or not, by the output."""
        used = [False] * (N_LEAVES + len(self.nodes))
        used[-1] = True
        for k in range(len(self.nodes) - 1, -1, -1):
            if used[N_LEAVES + k]:
                for i in self.nodes[k].inputs:
                    used[i] = True
        return used

    @property
    def batch_dependent(self) -> bool:
        """Whether the output depends on other examples of the batch (a live (b,h,w)
        statistic)."""
        live = self.live()
        return any(live[N_LEAVES + k] and PRIMITIVES[n.op].batch for k, n in enumerate(self.nodes))


def _index(ref: Any, k: int) -> int:
    if isinstance(ref, str):
        if ref not in LEAVES:
            raise LayerFormatError(f"node {k}: unknown input {ref!r}; leaves: {', '.join(LEAVES)}")
        return LEAVES.index(ref)
    if isinstance(ref, bool) or not isinstance(ref, int):
        raise LayerFormatError(f"node {k}: input {ref!r} is neither an index nor a leaf name")
    return ref


def validate(graph: LayerGraph, max_nodes: int = MAX_NODES) -> LayerGraph:
    """``graph`` if it is a layer, else :class:`LayerFormatError` naming the first fault."""
    if not graph.nodes:
        raise LayerFormatError("a layer needs at least one node")
    if len(graph.nodes) > max_nodes:
        raise LayerFormatError(f"{len(graph.nodes)} nodes, more than the {max_nodes} allowed")
    for k, node in enumerate(graph.nodes):
        prim = PRIMITIVES.get(node.op)
        if prim is None:
            raise LayerFormatError(
                f"node {k}: unknown op {node.op!r}; known: {', '.join(sorted(PRIMITIVES))}"
            )
        if len(node.inputs) != prim.arity:
            raise LayerFormatError(
                f"node {k}: {node.op} takes {prim.arity} input(s), got {len(node.inputs)}"
            )
        for i in node.inputs:
            if not 0 <= i < N_LEAVES + k:
                raise LayerFormatError(
                    f"node {k} (index {N_LEAVES + k}) reads index {i}, which is not before it "
                    "(a cycle or a missing node)"
                )
    out = graph.kinds()[-1]
    if out != FULL:
        axes = "".join(a for a in "bcs" if a in out) or "none"
        raise LayerFormatError(
            f"shape mismatch: the output varies along axes '{axes}', a layer must return "
            "the input's shape (axes 'bcs')"
        )
    return graph


def from_json(obj: Any, max_nodes: int = MAX_NODES) -> LayerGraph:
    """A validated graph from ``{"nodes": [{"op": ..., "in": [...]}, ...]}``; inputs are
    indices or leaf names (``x``, ``zero``, ``v0``, ``v1``)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("nodes"), list):
        raise LayerFormatError('a layer is a JSON object {"nodes": [{"op": ..., "in": [...]}]}')
    nodes = []
    for k, n in enumerate(obj["nodes"]):
        if not isinstance(n, dict) or not isinstance(n.get("op"), str):
            raise LayerFormatError(f'node {k}: expected {{"op": NAME, "in": [INPUTS]}}, got {n!r}')
        ins = n.get("in", [])
        if not isinstance(ins, list):
            raise LayerFormatError(f"node {k}: 'in' must be a list")
        nodes.append(Node(n["op"], tuple(_index(r, k) for r in ins)))
    return validate(LayerGraph(tuple(nodes)), max_nodes)


def loads(text: str, max_nodes: int = MAX_NODES) -> LayerGraph:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise LayerFormatError(f"not JSON ({e})") from None
    if isinstance(obj, dict) and "layer" in obj:  # a summary or an exported record
        obj = obj["layer"]
    return from_json(obj, max_nodes)


def canonical(graph: LayerGraph) -> LayerGraph:
    """The canonical form: live nodes only, equal sub-expressions merged, inputs of
    commuting operations sorted, nodes numbered by a post-order walk from the output."""
    # A structural key per index, bottom-up: leaves by name, nodes by op and input keys.
    keys: list[str] = list(LEAVES)
    for node in graph.nodes:
        ins = [keys[i] for i in node.inputs]
        if PRIMITIVES[node.op].commutative:
            ins.sort()
        keys.append(f"{node.op}({','.join(ins)})")
    order: dict[str, int] = {}  # key -> new index
    new_nodes: list[Node] = []

    def visit(i: int) -> int:
        if i < N_LEAVES:
            return i
        key = keys[i]
        if key in order:
            return order[key]
        node = graph.nodes[i - N_LEAVES]
        ins = list(node.inputs)
        if PRIMITIVES[node.op].commutative:
            ins.sort(key=lambda j: keys[j])
        new_ins = tuple(visit(j) for j in ins)
        new_nodes.append(Node(node.op, new_ins))
        order[key] = N_LEAVES + len(new_nodes) - 1
        return order[key]

    visit(N_LEAVES + len(graph.nodes) - 1)
    return LayerGraph(tuple(new_nodes))


def _wrap(text: str, prim: Primitive, position: int, operand_prec: int) -> str:
    # Parenthesize a looser operand, and an equal one where order matters (a / (b * c)).
    tight = (
        prim.prec == 9
        or operand_prec > prim.prec
        or (operand_prec == prim.prec and prim.prec < 3 and (position == 0 or prim.commutative))
    )
    return text if tight else f"({text})"


def formula(graph: LayerGraph, affine: bool = True) -> str:
    """The printed formula of the output, e.g. ``x * sigmoid(v1 * x) / sqrt(var_hwcg(x))``;
    ``affine`` appends the per-channel affine transform every layer ends with."""
    g = canonical(graph)
    texts: list[str] = ["0" if name == "zero" else name for name in LEAVES]
    precs: list[int] = [9] * N_LEAVES
    for node in g.nodes:
        prim = PRIMITIVES[node.op]
        args = [_wrap(texts[i], prim, p, precs[i]) for p, i in enumerate(node.inputs)]
        texts.append(prim.text.format(*args))
        precs.append(prim.prec)
    out = texts[-1]
    if affine:
        out = f"({out}) * gamma + beta" if precs[-1] < 2 else f"{out} * gamma + beta"
    return out


class LayerSpace:
    """Random graphs and their mutations (the engine's :class:`GenomeSpace` for layers).

    ``batch_independent`` leaves out the (b,h,w) statistics, for layers that must work at
    any batch size (the search that found EvoNorm-S0). Random graphs have between
    ``min_nodes`` and ``max_nodes`` nodes whose inputs are drawn uniformly from the indices
    before them; a mutation (Liu et al. 2020, Section 4) picks a node uniformly and either
    replaces its operation (inputs redrawn if the arity changes) or redraws one input. Both
    retry until the output has the input's shape and, for a mutation, the canonical form
    changed.
    """

    def __init__(
        self, min_nodes: int = 3, max_nodes: int = 8, batch_independent: bool = False
    ) -> None:
        if not 1 <= min_nodes <= max_nodes <= MAX_NODES:
            raise ValueError(f"need 1 <= min_nodes <= max_nodes <= {MAX_NODES}")
        self.min_nodes = min_nodes
        self.max_nodes = max_nodes
        self.batch_independent = batch_independent
        self.ops = sorted(
            name for name, p in PRIMITIVES.items() if not (batch_independent and p.batch)
        )

    def _ok(self, graph: LayerGraph) -> bool:
        try:
            validate(graph, self.max_nodes)
        except LayerFormatError:
            return False
        return not (self.batch_independent and graph.batch_dependent)

    def _node(self, index: int, rng: np.random.Generator) -> Node:
        op = self.ops[int(rng.integers(len(self.ops)))]
        arity = PRIMITIVES[op].arity
        return Node(op, tuple(int(i) for i in rng.integers(0, index, arity)))

    def random(self, rng: np.random.Generator) -> LayerGraph:
        while True:
            n = int(rng.integers(self.min_nodes, self.max_nodes + 1))
            graph = LayerGraph(tuple(self._node(N_LEAVES + k, rng) for k in range(n)))
            if self._ok(graph):
                return graph

    def initial(self, rng: np.random.Generator) -> LayerGraph:
        return self.random(rng)

    def mutate(self, genome: LayerGraph, rng: np.random.Generator) -> tuple[LayerGraph, str]:
        key = genome.key()
        for _ in range(200):
            nodes = list(genome.nodes)
            k = int(rng.integers(len(nodes)))
            node = nodes[k]
            if rng.random() < 0.5:
                op = self.ops[int(rng.integers(len(self.ops)))]
                arity = PRIMITIVES[op].arity
                ins = (
                    node.inputs
                    if arity == len(node.inputs)
                    else tuple(int(i) for i in rng.integers(0, N_LEAVES + k, arity))
                )
                nodes[k], what = Node(op, ins), f"op {k}: {node.op}->{op}"
            else:
                j = int(rng.integers(len(node.inputs)))
                new = list(node.inputs)
                new[j] = int(rng.integers(0, N_LEAVES + k))
                nodes[k], what = Node(node.op, tuple(new)), f"input {k}.{j}"
            child = LayerGraph(tuple(nodes))
            if self._ok(child) and child.key() != key:
                return child, what
        return self.random(rng), "random"

    def to_json(self, genome: LayerGraph) -> Any:
        return genome.to_json()

    def from_json(self, obj: Any) -> LayerGraph:
        return from_json(obj, MAX_NODES)


def graph(*nodes: tuple[str, Sequence[int | str]]) -> LayerGraph:
    """A validated graph written inline: ``graph(("var_bhw", ["x"]), ("sqrt", [4]), ...)``."""
    return from_json({"nodes": [{"op": op, "in": list(ins)} for op, ins in nodes]})
