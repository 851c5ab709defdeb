"""A layer graph as standalone PyTorch source, and as an ``nn.Module`` compiled from it.

:func:`to_source` writes a module file that imports only torch: a class
``EvolvedLayer(channels, dims=2, groups=8, momentum=0.1)`` whose ``forward`` computes the
graph's live nodes one per line and ends with the per-channel affine transform (Liu et al.,
NeurIPS 2020: every candidate is followed by ``* gamma + beta``). :func:`to_module` executes
that same source, so the module the search trains and the file a user exports are one code
path. Batch statistics use the batch in training and running averages at inference, as
BatchNorm does (running variance updated with the unbiased estimate, momentum 0.1); grouped
statistics use the largest divisor of the channel count not above ``groups``. Every value
has the input's rank (the zero constant is ``(1, 1, 1, 1)``), so any statistic of any value
is defined.
"""

from __future__ import annotations

from typing import Any

from primeval.layers.genome import N_LEAVES, LayerGraph, canonical, formula
from primeval.layers.primitives import EPS, LEAVES, PRIMITIVES

_PRELUDE = f"""import torch
from torch import nn

EPS = {EPS!r}


def _axes(x, over):
    spatial = tuple(range(2, x.dim()))
    return {{"bhw": (0,) + spatial, "hw": spatial, "hwc": (1,) + spatial}}[over]


def _stat(stat, x, dims):
    if stat == "mean":
        return x.mean(dim=dims, keepdim=True)
    if stat == "var":
        return x.var(dim=dims, unbiased=False, keepdim=True)
    return (x * x).mean(dim=dims, keepdim=True)


def _grouped(stat, x, groups):
    b, c = x.shape[0], x.shape[1]
    if c % groups:  # a value constant over channels: its groups are all of it
        return _stat(stat, x, _axes(x, "hwc"))
    s = _stat(stat, x.reshape(b, groups, -1), (2,))
    return s.repeat_interleave(c // groups, dim=1).reshape((b, c) + (1,) * (x.dim() - 2))


def _mean(x, over, groups):
    return _grouped("mean", x, groups) if over == "hwcg" else _stat("mean", x, _axes(x, over))


def _var(x, over, groups):
    return _grouped("var", x, groups) if over == "hwcg" else _stat("var", x, _axes(x, over))


def _m2(x, over, groups):
    return _grouped("m2", x, groups) if over == "hwcg" else _stat("m2", x, _axes(x, over))
"""

_CLASS = '''

class EvolvedLayer(nn.Module):
    """{doc}"""

    BATCH_NODES = {batch_nodes!r}

    def __init__(self, channels, dims=2, groups=8, momentum=0.1):
        super().__init__()
        self.dims = dims
        self.momentum = momentum
        most = max(1, min(groups, channels))
        self.groups = max(g for g in range(1, most + 1) if channels % g == 0)
        self.v0 = nn.Parameter(torch.zeros(channels))
        self.v1 = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))
        for node, stat in self.BATCH_NODES.items():
            init = torch.zeros(channels) if stat == "mean" else torch.ones(channels)
            self.register_buffer(f"running_{{node}}", init)

    def _batch(self, node, stat, x):
        """A (b,h,w) statistic: of the batch in training (updating the running average),
        the running average at inference."""
        buf = getattr(self, f"running_{{node}}")
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if not self.training:
            return buf.view(shape)
        value = _stat(stat, x, _axes(x, "bhw"))
        with torch.no_grad():
            n = x.numel() // x.shape[1]
            update = value * (n / (n - 1)) if stat == "var" and n > 1 else value
            buf.mul_(1 - self.momentum).add_(self.momentum * update.reshape(-1))
        return value

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        zero = x.new_zeros((1,) * x.dim())
        v0 = self.v0.view(shape)
        v1 = self.v1.view(shape)
{body}
        return {out} * self.gamma.view(shape) + self.beta.view(shape)
'''


def to_source(graph: LayerGraph) -> str:
    """Standalone PyTorch source of ``graph`` (canonical form): a class ``EvolvedLayer``."""
    g = canonical(graph)
    names = list(LEAVES)
    lines = []
    batch_nodes: dict[int, str] = {}
    for k, node in enumerate(g.nodes):
        prim = PRIMITIVES[node.op]
        name = f"n{N_LEAVES + k}"
        if prim.batch:
            assert prim.stat is not None
            batch_nodes[N_LEAVES + k] = prim.stat
        expr = prim.code.format(*(names[i] for i in node.inputs), node=N_LEAVES + k)
        lines.append(f"        {name} = {expr}")
        names.append(name)
    doc = "y = " + formula(g).replace("\\", "\\\\")
    body = "\n".join(lines)
    return _PRELUDE + _CLASS.format(doc=doc, batch_nodes=batch_nodes, body=body, out=names[-1])


def layer_class(graph: LayerGraph) -> Any:
    """The ``EvolvedLayer`` class of ``graph``, compiled from :func:`to_source`."""
    namespace: dict[str, Any] = {"__name__": "primeval_evolved_layer"}
    exec(compile(to_source(graph), "<evolved layer>", "exec"), namespace)
    return namespace["EvolvedLayer"]


def factory(graph: LayerGraph, groups: int = 8) -> Any:
    """A ``norm_act(channels, dims)`` factory (the model families' slot) making ``graph``."""
    cls = layer_class(graph)

    def norm_act(channels: int, dims: int) -> Any:
        return cls(channels, dims, groups)

    return norm_act


def to_module(graph: LayerGraph, channels: int, dims: int = 2, groups: int = 8) -> Any:
    """``graph`` as an ``nn.Module`` for ``channels`` channels."""
    return layer_class(graph)(channels, dims, groups)
