"""The disk cache of compiled code: what is cached, and compiling it in a child process."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from primeval.algorithms import experiment
from primeval.algorithms.experiment import COMPILED_ENTRIES, compile_in_child
from primeval.algorithms.interpret.compiled import CompiledInterpreter, is_cached


@pytest.fixture(scope="module")
def warm() -> None:
    CompiledInterpreter().warm_up()
    compile_in_child()


def test_entries_are_cached_after_compile_in_child(warm: None) -> None:
    assert all(is_cached(entry) for entry in COMPILED_ENTRIES)
    assert not is_cached("no_such_entry")


def test_nothing_runs_when_cached(warm: None, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    compile_in_child()
    assert calls == []


@pytest.mark.slow
def test_a_missing_entry_is_compiled_in_a_child(
    warm: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child's command runs for the missing entry only and succeeds (on the warm cache
    it loads the machine code rather than compiling, which takes minutes)."""
    real_run = subprocess.run
    ran: list[subprocess.CompletedProcess[bytes]] = []

    def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        kwargs["check"] = True
        done = real_run(args, **kwargs)
        ran.append(done)
        return done

    import primeval.algorithms.interpret.compiled as compiled

    cached = compiled.is_cached
    monkeypatch.setattr(compiled, "is_cached", lambda entry: entry != "evolve" and cached(entry))
    monkeypatch.setattr(subprocess, "run", run)
    compile_in_child()
    assert len(ran) == 1 and "_compile('evolve')" in ran[0].args[-1]


def test_unknown_entry_point_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown entry point"):
        experiment._compile("nope")
