"""One registry type for everything primeval looks up by name.

Ops, detectors, search strategies and worker back ends are each kept in a
:class:`Registry`: an explicit, ordered table that refuses a second entry under a
name already taken and answers an unknown name with the names it knows. This
follows nevergrad's ``Registry`` (refuse collisions) and evosax's habit of
testing a registry as a whole (iterate it, hold every entry to one contract).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class RegistryError(ValueError):
    """A registration that would make a registry ambiguous."""


class UnknownNameError(KeyError):
    """A name no entry of the registry carries; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError quotes its argument; a message reads better plain
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Entries of one kind by unique name, in registration order.

    ``what`` names the kind of entry in messages (``"op"``, ``"detector"``...).
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` under ``name``; a name already taken is refused."""
        if name in self._entries:
            raise RegistryError(f"{self.what} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def decorate(entry: T) -> T:
            return self.add(name, entry)

        return decorate

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self._entries) or "none"
            raise UnknownNameError(f"unknown {self.what} {name!r}; known: {known}") from None

    def get(self, name: str, default: T | None = None) -> T | None:
        return self._entries.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())
