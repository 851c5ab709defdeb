"""``python -m primeval.cli``: the console script."""

from primeval.cli import main

main()
