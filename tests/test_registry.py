"""The one registry type: unique names, registration order, clear unknown-name errors."""

import pytest

from primeval.engine.registry import Registry, RegistryError, UnknownNameError


def test_a_second_entry_under_a_taken_name_is_refused() -> None:
    reg: Registry[int] = Registry("widget")
    reg.add("a", 1)
    with pytest.raises(RegistryError, match="widget 'a' is already registered"):
        reg.add("a", 2)
    assert reg["a"] == 1


def test_entries_come_back_in_registration_order() -> None:
    reg: Registry[str] = Registry("widget")

    @reg.register("z")
    def z() -> None: ...

    reg.add("b", "B")
    assert reg.names() == ["z", "b"]
    assert len(reg) == 2 and "b" in reg and "c" not in reg


def test_an_unknown_name_lists_the_known_ones() -> None:
    reg: Registry[int] = Registry("strategy")
    reg.add("evolution", 1)
    reg.add("random", 2)
    with pytest.raises(UnknownNameError) as info:
        reg["annealing"]
    assert str(info.value) == "unknown strategy 'annealing'; known: evolution, random"
