"""Helpers shared by the settlement commands."""

import json
from pathlib import Path

from django.core.management.base import CommandError

WHAT = {"policy": "政策", "claims": "案例"}


def read_json(path: str, what: str):
    """The JSON in ``path``; a CommandError (exit status 1) naming the file otherwise, in the
    words the web import uses (docs/policy-format.md §7.4)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"{path}: 无法读取{WHAT.get(what, what)}文件（{exc.strerror}）", returncode=1)
    except UnicodeDecodeError:
        raise CommandError(f"{path}: 文件不是UTF-8编码的文本", returncode=1)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{path}: JSON格式错误：第{exc.lineno}行第{exc.colno}列附近（{exc.msg}）", returncode=1
        )


def error_lines(source: str, exc) -> str:
    """A SettlementError as lines ``SOURCE: path: message``."""
    errors = exc.errors or [exc.message]
    return "\n".join(f"{source}: {error}" for error in errors)
