"""Helpers shared by the settlement commands."""

import json
from pathlib import Path

from django.core.management.base import CommandError


def read_json(path: str, what: str):
    """The JSON in ``path``; a CommandError (exit status 1) naming the file otherwise."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"{path}: cannot read the {what} file ({exc.strerror})", returncode=1)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", returncode=1
        )


def error_lines(source: str, exc) -> str:
    """A SettlementError as lines ``SOURCE: path: message``."""
    errors = exc.errors or [exc.message]
    return "\n".join(f"{source}: {error}" for error in errors)
