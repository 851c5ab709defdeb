"""Evolved normalization-activation layers (Liu, Brock, Simonyan, Le, "Evolving
Normalization-Activation Layers", NeurIPS 2020).

A layer is a small computation graph over the input tensor, a zero constant and two
per-channel trainable vectors, built from element-wise primitives and statistics
(aggregations) over batch, spatial, channel and channel-group axes, and followed by a
per-channel affine transform. The search replaces every normalization-activation pair of
several proxy networks by the candidate, rejects most candidates cheaply (quality early in
training, stability under an adversarial weight perturbation) and selects by Pareto
tournament over the architectures.

- :mod:`~primeval.layers.primitives`: the table of primitives and aggregations (torch-free);
- :mod:`~primeval.layers.genome`: the graph genome, its canonical form, formula and mutation;
- :mod:`~primeval.layers.module`: a graph as standalone PyTorch source and as an ``nn.Module``;
- :mod:`~primeval.layers.baselines`: BN-ReLU, GN-ReLU, LN-ReLU, EvoNorm-B0 and -S0 as graphs;
- :mod:`~primeval.layers.evaluate`: proxy training, the rejection stages, fingerprints;
- :mod:`~primeval.layers.search`: the search on an asynchronous island over worker processes;
- :mod:`~primeval.layers.compare`: layers x architectures x batch sizes x seeds.

Nothing here is imported by ``import primeval``: the modules that need torch import it.
"""
