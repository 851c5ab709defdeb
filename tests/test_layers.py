"""Layer graphs: every primitive and statistic against a direct torch expression, the
baselines against PyTorch's own layers, canonical form, export, fingerprints, rejection."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from primeval.layers import baselines
from primeval.layers.cache import SharedCache
from primeval.layers.evaluate import (
    Arrays,
    Proxy,
    ProxySettings,
    arch_builder,
    fingerprint,
    stability_ratio,
)
from primeval.layers.genome import (
    N_LEAVES,
    LayerFormatError,
    LayerGraph,
    LayerSpace,
    Node,
    canonical,
    formula,
    from_json,
    graph,
    loads,
)
from primeval.layers.module import to_module, to_source
from primeval.layers.primitives import EPS, PRIMITIVES

torch.set_num_threads(1)  # two cores shared with the other test worker

C, G = 8, 4  # channels and groups of the test tensors
T = torch.Tensor


def _x(seed: int = 0, shape: tuple[int, ...] = (5, C, 4, 3)) -> T:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 2 + 0.5


def _random_params(module: torch.nn.Module, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g))


def _view(v: T) -> T:
    return v.view(1, -1, 1, 1)


def _grouped(stat: Callable[[T, tuple[int, ...]], T], x: T) -> T:
    b, c, h, w = x.shape
    s = stat(x.reshape(b, G, c // G, h, w), (2, 3, 4))  # (b, G, 1, 1, 1)
    return s.expand(b, G, c // G, 1, 1).reshape(b, c, 1, 1)


def _mean(x: T, d: tuple[int, ...]) -> T:
    return x.mean(dim=d, keepdim=True)


def _var(x: T, d: tuple[int, ...]) -> T:
    return ((x - x.mean(dim=d, keepdim=True)) ** 2).mean(dim=d, keepdim=True)


def _m2(x: T, d: tuple[int, ...]) -> T:
    return (x**2).mean(dim=d, keepdim=True)


STATS = {"mean": _mean, "var": _var, "m2": _m2}
AXES = {"bhw": (0, 2, 3), "hw": (2, 3), "hwc": (1, 2, 3)}

# Element-wise primitives applied to (x, v1): the direct torch expression of each.
DIRECT: dict[str, Callable[[T, T], T]] = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "max": torch.maximum,
    "neg": lambda a, b: -a,
    "sigmoid": lambda a, b: 1 / (1 + torch.exp(-a)),
    "tanh": lambda a, b: torch.tanh(a),
    "exp": lambda a, b: torch.exp(a),
    "log": lambda a, b: torch.log(torch.abs(a) + EPS),
    "abs": lambda a, b: torch.abs(a),
    "square": lambda a, b: a**2,
    "sqrt": lambda a, b: torch.sqrt(torch.abs(a) + EPS),
}


def test_the_table_holds_the_papers_primitives_and_every_statistic_over_every_axis_set() -> None:
    assert set(DIRECT) | {f"{s}_{o}" for s in STATS for o in ("bhw", "hw", "hwc", "hwcg")} == set(
        PRIMITIVES
    )


@pytest.mark.parametrize("op", sorted(DIRECT))
def test_each_elementwise_primitive_matches_a_direct_torch_expression(op: str) -> None:
    arity = PRIMITIVES[op].arity
    g = graph((op, ["x", "v1"][:arity]))
    layer = to_module(g, C, 2, G)
    _random_params(layer)
    x = _x()
    want = DIRECT[op](x, _view(layer.v1)) * _view(layer.gamma) + _view(layer.beta)
    torch.testing.assert_close(layer(x), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(n for n, p in PRIMITIVES.items() if p.stat is not None))
def test_each_statistic_matches_a_direct_torch_expression(name: str) -> None:
    stat, over = name.split("_")
    g = graph((name, ["x"]), ("add", ["x", 4]))  # x + stat(x): the input's shape
    layer = to_module(g, C, 2, G).train()
    x = _x()
    fn = STATS[stat]
    s = _grouped(fn, x) if over == "hwcg" else fn(x, AXES[over])
    torch.testing.assert_close(layer(x), x + s, rtol=1e-5, atol=1e-5)


def test_a_batch_statistic_uses_running_averages_at_inference() -> None:
    layer = to_module(graph(("var_bhw", ["x"]), ("add", ["x", 4])), C, 2, G).train()
    xs = [_x(s) for s in range(3)]
    running = torch.ones(C)
    for x in xs:
        layer(x)
        n = x.numel() // C
        running = 0.9 * running + 0.1 * _var(x, (0, 2, 3)).view(-1) * n / (n - 1)
    x = _x(9)
    torch.testing.assert_close(layer.eval()(x), x + _view(running), rtol=1e-5, atol=1e-6)


def _bn_reference(x: T, layer: torch.nn.Module, bn: torch.nn.BatchNorm2d) -> T:
    return F.relu(bn(x)) * _view(layer.gamma) + _view(layer.beta)


def test_bn_relu_matches_torch_batchnorm_and_relu_in_training_and_at_inference() -> None:
    layer = to_module(baselines.bn_relu(), C, 2, G)
    _random_params(layer)
    bn = torch.nn.BatchNorm2d(C, eps=EPS, momentum=0.1)
    with torch.no_grad():
        bn.weight.copy_(layer.v1)
        bn.bias.copy_(layer.v0)
    layer.train()
    bn.train()
    for s in range(3):
        x = _x(s)
        torch.testing.assert_close(layer(x), _bn_reference(x, layer, bn), rtol=1e-4, atol=1e-5)
    layer.eval()
    bn.eval()
    x = _x(7)
    torch.testing.assert_close(layer(x), _bn_reference(x, layer, bn), rtol=1e-4, atol=1e-5)


def _affine_relu(z: T, layer: torch.nn.Module) -> T:
    y = F.relu(z * _view(layer.v1) + _view(layer.v0))
    return y * _view(layer.gamma) + _view(layer.beta)


def test_gn_relu_matches_torch_group_norm_and_relu() -> None:
    layer = to_module(baselines.gn_relu(), C, 2, G)
    _random_params(layer)
    x = _x()
    want = _affine_relu(F.group_norm(x, G, eps=EPS), layer)
    torch.testing.assert_close(layer(x), want, rtol=1e-4, atol=1e-5)


def test_ln_relu_matches_torch_layer_norm_and_relu() -> None:
    layer = to_module(baselines.ln_relu(), C, 2, G)
    _random_params(layer)
    x = _x()
    want = _affine_relu(F.layer_norm(x, x.shape[1:], eps=EPS), layer)
    torch.testing.assert_close(layer(x), want, rtol=1e-4, atol=1e-5)


def test_evonorm_b0_matches_its_formula_in_training_and_at_inference() -> None:
    layer = to_module(baselines.evonorm_b0(), C, 2, G)
    _random_params(layer)
    gamma, beta, v1 = _view(layer.gamma), _view(layer.beta), _view(layer.v1)
    x = _x()
    running = 0.9 + 0.1 * x.var(dim=(0, 2, 3), unbiased=True)
    den = torch.maximum(
        torch.sqrt(_var(x, (0, 2, 3)) + EPS), v1 * x + torch.sqrt(_var(x, (2, 3)) + EPS)
    )
    torch.testing.assert_close(layer.train()(x), x / den * gamma + beta, rtol=1e-4, atol=1e-5)
    y = _x(3)
    den = torch.maximum(
        torch.sqrt(_view(running) + EPS), v1 * y + torch.sqrt(_var(y, (2, 3)) + EPS)
    )
    torch.testing.assert_close(layer.eval()(y), y / den * gamma + beta, rtol=1e-4, atol=1e-5)


def test_evonorm_s0_matches_its_formula() -> None:
    layer = to_module(baselines.evonorm_s0(), C, 2, G)
    _random_params(layer)
    x = _x()
    v1 = _view(layer.v1)
    den = torch.sqrt(_grouped(_var, x) + EPS)
    want = x * torch.sigmoid(v1 * x) / den * _view(layer.gamma) + _view(layer.beta)
    torch.testing.assert_close(layer(x), want, rtol=1e-4, atol=1e-5)
    assert not baselines.evonorm_s0().batch_dependent and baselines.evonorm_b0().batch_dependent


def _renumbered(g: LayerGraph, rng: np.random.Generator) -> LayerGraph:
    """The same function with nodes in another topological order, dead nodes inserted and
    the inputs of commuting operations swapped."""
    n = len(g.nodes)
    deps = [{i - N_LEAVES for i in node.inputs if i >= N_LEAVES} for node in g.nodes]
    placed: list[int] = []
    while len(placed) < n:
        ready = [k for k in range(n) if k not in placed and deps[k] <= set(placed)]
        placed.append(ready[int(rng.integers(len(ready)))])
    placed.remove(n - 1)
    placed.append(n - 1)  # the output stays last
    new_index = {N_LEAVES + k: N_LEAVES + pos for pos, k in enumerate(placed)}
    nodes = []
    for k in placed:
        node = g.nodes[k]
        ins = [new_index.get(i, i) for i in node.inputs]
        if PRIMITIVES[node.op].commutative and rng.random() < 0.5:
            ins.reverse()
        nodes.append(Node(node.op, tuple(ins)))
    # A dead node at the front shifts every index by one.
    shifted = [Node(nd.op, tuple(i + 1 if i >= N_LEAVES else i for i in nd.inputs)) for nd in nodes]
    return LayerGraph((Node("exp", (0,)), *shifted))


def test_the_canonical_form_is_stable_under_renumbering_dead_nodes_and_operand_order() -> None:
    rng = np.random.default_rng(3)
    space = LayerSpace(2, 7)
    for g in [baselines.named(n) for n in baselines.NAMED] + [space.random(rng) for _ in range(60)]:
        other = _renumbered(g, rng)
        assert other.key() == g.key()
        assert formula(other) == formula(g)
        x = _x()
        a, b = to_module(g, C, 2, G), to_module(other, C, 2, G)
        _random_params(a)
        _random_params(b)
        torch.testing.assert_close(a(x), b(x), equal_nan=True)
    assert baselines.bn_relu().key() != baselines.gn_relu().key()


def test_canonical_merges_equal_subexpressions() -> None:
    g = graph(("var_hw", ["x"]), ("var_hw", ["x"]), ("add", [4, 5]), ("mul", ["x", 6]))
    assert [n.op for n in canonical(g).nodes] == ["var_hw", "add", "mul"]


def test_the_exported_source_is_standalone_and_computes_the_module() -> None:
    for name in baselines.NAMED:
        g = baselines.named(name)
        src = to_source(g)
        assert "primeval" not in src
        namespace: dict[str, object] = {}
        exec(compile(src, f"{name}.py", "exec"), namespace)
        exported = namespace["EvolvedLayer"](C, 2, G)  # type: ignore[operator]
        layer = to_module(g, C, 2, G)
        _random_params(layer)
        exported.load_state_dict(layer.state_dict())
        x = _x()
        torch.testing.assert_close(exported.train()(x), layer.train()(x))
        torch.testing.assert_close(exported.eval()(x), layer.eval()(x))


def test_a_layer_runs_on_one_dimensional_signals() -> None:
    layer = to_module(baselines.evonorm_s0(), C, 1, G)
    assert layer(torch.randn(3, C, 11)).shape == (3, C, 11)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"nodes": [{"op": "frobnicate", "in": [0]}]}, "unknown op"),
        ({"nodes": [{"op": "neg", "in": [4]}]}, "not before it"),
        ({"nodes": [{"op": "mean_hw", "in": ["x"]}]}, "shape mismatch"),
        ({"nodes": [{"op": "add", "in": ["x"]}]}, "takes 2 input"),
        ({"nodes": [{"op": "neg", "in": ["y"]}]}, "unknown input"),
        ({"nodes": []}, "at least one node"),
        ([1, 2], "JSON object"),
    ],
)
def test_malformed_graphs_are_refused_with_a_one_line_reason(obj: object, message: str) -> None:
    with pytest.raises(LayerFormatError, match=message) as e:
        from_json(obj)
    assert "\n" not in str(e.value)


def test_a_graph_round_trips_through_json_and_a_summary_record() -> None:
    g = baselines.evonorm_b0()
    assert from_json(json.loads(json.dumps(g.to_json()))) == g
    assert loads(json.dumps({"layer": g.to_json()})) == g


def test_random_graphs_and_mutations_are_valid_layers_and_mutations_change_the_function() -> None:
    rng = np.random.default_rng(0)
    space = LayerSpace(2, 8)
    free = LayerSpace(2, 8, batch_independent=True)
    for _ in range(100):
        g = space.random(rng)
        child, what = space.mutate(g, rng)
        assert child.key() != g.key() and what
        assert canonical(child).nodes  # validated on construction
        assert not free.random(rng).batch_dependent
        assert not free.mutate(free.random(rng), rng)[0].batch_dependent


def test_fingerprints_join_equal_functions_and_separate_layers_equal_at_initial_values() -> None:
    square = graph(("square", ["x"]))
    product = graph(("mul", ["x", "x"]))
    assert square.key() != product.key()
    assert fingerprint(square) == fingerprint(product)
    # v1 * x equals x at v1 = 1: only random parameter values tell them apart.
    assert fingerprint(graph(("mul", ["v1", "x"]))) != fingerprint(graph(("abs", ["x"])))
    assert fingerprint(graph(("mul", ["v1", "x"]), ("max", [4, "zero"]))) != fingerprint(
        baselines.relu()
    )


def test_the_shared_cache_is_seen_by_another_reader(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "cache.jsonl"
    a, b = SharedCache(path), SharedCache(path)
    a.put("k1", "f1", {"status": "ok"})
    assert b.get("k1", None) == ("key", {"status": "ok"})
    assert b.get("k2", "f1") == ("fingerprint", {"status": "ok"})
    assert b.get("k2", "f2") is None


def _toy_arrays(n: int = 400) -> Arrays:
    """Ten classes, each a fixed random 8x8 pattern plus noise: learnt in a few steps."""
    rng = np.random.default_rng(0)
    protos = rng.normal(size=(10, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, n)
    x = (protos[y] + 0.3 * rng.normal(size=(n, 1, 8, 8))).astype(np.float32)
    h = n // 2
    return Arrays(x[:h], y[:h], x[h:], y[h:], x[h:], y[h:], 10)


def _toy_proxy(**settings: float) -> Proxy:
    data = _toy_arrays()
    s = ProxySettings(steps=30, batch_size=32, lr=0.05, quality_step=25, **settings)  # type: ignore[arg-type]
    return Proxy({"resnet": arch_builder("resnet", data.input_shape, 10)}, data, s)


@pytest.mark.slow
def test_stability_rejects_a_layer_dividing_by_a_zero_vector_and_accepts_bn_relu() -> None:
    proxy = _toy_proxy()
    unstable = graph(("div", ["x", "v0"]))  # v0 starts at 0: infinite outputs
    out = proxy.evaluate(unstable)
    assert out.status == "rejected_stability" and math.isnan(out.fitness)
    ok = proxy.evaluate(baselines.bn_relu())
    assert ok.status == "ok" and ok.accuracy["resnet"] > 0.5
    assert all(r < 10 for r in ok.stability.values())


def test_stability_measures_an_explosive_gradient_and_restores_the_weights() -> None:
    data = _toy_arrays()
    x, y = torch.as_tensor(data.x_train[:32]), torch.as_tensor(data.y_train[:32])
    build = arch_builder("resnet", data.input_shape, 10)
    from primeval.layers.module import factory

    explosive = build(factory(graph(("exp", ["x"]), ("exp", [4]), ("exp", [5]))))
    before = {k: v.clone() for k, v in explosive.state_dict().items()}
    assert not stability_ratio(explosive, x, y, 0.01) <= 100
    for k, v in explosive.state_dict().items():
        torch.testing.assert_close(v, before[k], equal_nan=True)
    bn = build(factory(baselines.bn_relu()))
    assert stability_ratio(bn, x, y, 0.01) < 10


def test_quality_rejects_a_layer_that_erases_its_input_and_keeps_bn_relu() -> None:
    proxy = _toy_proxy(quality_threshold=0.3)
    erased = proxy.evaluate(graph(("mul", ["x", "zero"])))
    assert erased.status == "rejected_quality" and "quality step" in erased.detail
    assert proxy.evaluate(baselines.bn_relu()).status == "ok"


@pytest.mark.slow
def test_the_python_api_searches_a_users_own_builders_and_arrays() -> None:
    from primeval.layers.api import search_layer
    from primeval.nn.models import ModelSpec, build

    data = _toy_arrays(200)

    def mine(norm_act: Callable[[int, int], torch.nn.Module]) -> torch.nn.Module:
        return build(ModelSpec("cnn", widths=(4, 8), depths=(1, 1)), data.input_shape, 10, norm_act)

    settings = ProxySettings(steps=6, batch_size=16, quality_step=3, quality_threshold=0.0)
    result = search_layer({"mine": mine}, data, candidates=4, population_size=2, settings=settings)
    assert len(result.records) == 4
    assert sum(result.count(s) for s in ("ok", "rejected_stability", "invalid")) == 4
    assert result.count("ok") >= 1  # no quality threshold: a stable layer is trained
    assert result.best is not None and set(result.best_accuracy) == {"mine"}
    assert result.formula == formula(result.best)


def test_every_norm_act_of_the_proxy_families_is_the_slot_and_mobile_has_depthwise_convs() -> None:
    from primeval.nn.mobile import InvertedResidual

    made: list[int] = []

    def slot(channels: int, dims: int) -> torch.nn.Module:
        made.append(channels)
        return torch.nn.ReLU()

    for arch in ("resnet", "mobile", "cnn"):
        made.clear()
        net = arch_builder(arch, (1, 14, 14), 10)(slot)
        assert net(torch.randn(2, 1, 14, 14)).shape == (2, 10)
        assert made  # the slot made every normalization-activation
        assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())
    mobile_net = arch_builder("mobile", (1, 14, 14), 10)(slot)
    blocks = [m for m in mobile_net.modules() if isinstance(m, InvertedResidual)]
    assert blocks and any(b.residual for b in blocks)
    convs = [m for m in mobile_net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert any(c.groups == c.in_channels > 1 for c in convs)
