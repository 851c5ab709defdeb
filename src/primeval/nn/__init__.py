"""A small PyTorch toolkit shared by primeval's torch apps (Noisy Student self-training, layer
search, proxy architecture search): offline data sets as arrays, model families with width and
depth multipliers and a pluggable normalization-activation slot, noise (RandAugment, dropout,
stochastic depth), corrupted test sets and a seeded trainer with progress.

Nothing in :mod:`primeval` imports this package: torch is an optional dependency
(``pip install primeval[torch]``), so importing it is left to the commands that need it.
"""
