"""AutoML-Zero: algorithms as programs of basic math ops, evolved from scratch."""
