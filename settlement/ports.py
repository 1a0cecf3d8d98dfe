"""What settlement asks of the apps above it, without importing them.

A policy document may carry sections read by a higher app (``aid``: the aid applications'
rules, aid/rules.py). The engine lets such a section through untouched; the app that reads it
checks it, by calling ``provide_section_check`` from its ``AppConfig.ready``, so a policy with a
faulty section is refused on import like any other fault ("path: message")."""

from __future__ import annotations

from collections.abc import Callable

_checks: dict[str, Callable[[object], list[str]]] = {}


def provide_section_check(name: str, check: Callable[[object], list[str]]) -> None:
    """``check(section)`` returns the section's faults as ``"path: message"`` ([] when valid);
    it is called only when the document has the section."""
    _checks[name] = check


def section_errors(document) -> list[str]:
    if not isinstance(document, dict):
        return []
    errors: list[str] = []
    for name, check in _checks.items():
        if name in document:
            errors.extend(check(document[name]))
    return errors
