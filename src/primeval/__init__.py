"""primeval: automated machine-learning design by evolution.

``import primeval`` is light: it imports neither torch nor ray.
"""

__version__ = "0.1.0"
