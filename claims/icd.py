"""ICD-10 codes and catalogue matching (no Django imports).

A catalogue entry names the codes it covers by prefixes: ``C16`` covers ``C16.9`` and
``C16.901``; a range such as ``J60-J65`` stands for ``J60, J61, … J65``. A diagnosis matches
every entry one of whose prefixes it starts with; the entry with the longest matching prefix
comes first (``N18.5`` before ``N18``). Dots are ignored when comparing, so ``C169`` and
``C16.9`` are the same code.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Hashable, Iterable

__all__ = ["normalize_code", "expand_range", "split_prefixes", "PrefixIndex"]


def normalize_code(code) -> str:
    """Upper case, no whitespace, full-width letters and digits folded to ASCII."""
    if code is None:
        return ""
    text = "".join(str(code).split())
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return text.upper()


def _key(code: str) -> str:
    return normalize_code(code).replace(".", "")


def expand_range(code: str) -> list[str]:
    """``"J60-J65"`` → ``["J60", …, "J65"]``; ``"Q35-Q37"`` likewise; anything else → ``[code]``.

    A range needs the same letter and the same number of digits on both sides."""
    code = normalize_code(code).replace("–", "-").replace("—", "-")
    if "-" not in code:
        return [code] if code else []
    first, _, last = code.partition("-")
    if (
        len(first) == len(last) >= 2
        and first[0] == last[0]
        and first[0].isalpha()
        and first[1:].isdigit()
        and last[1:].isdigit()
        and int(first[1:]) <= int(last[1:])
    ):
        width = len(first) - 1
        return [f"{first[0]}{n:0{width}d}" for n in range(int(first[1:]), int(last[1:]) + 1)]
    return [code]


def split_prefixes(prefixes: str, code: str = "") -> list[str]:
    """The prefixes of an entry: its comma-separated ``prefixes`` (ranges expanded), or its
    code when ``prefixes`` is blank. Order kept, duplicates dropped."""
    text = normalize_code(prefixes).replace("，", ",").replace("、", ",").replace(";", ",")
    parts = [part for part in text.split(",") if part] or ([code] if code else [])
    out = []
    for part in parts:
        for prefix in expand_range(part):
            if prefix not in out:
                out.append(prefix)
    return out


class PrefixIndex:
    """Catalogue lookup by code prefix: ``index.match("C16.9")`` → the keys of the matching
    entries, longest prefix first. Built once, then each lookup is a few dict probes."""

    def __init__(self, entries: Iterable[tuple[Hashable, Iterable[str]]]):
        self._by_prefix: dict[str, list] = {}
        self._longest = 0
        for key, prefixes in entries:
            for prefix in prefixes:
                stem = _key(prefix)
                if not stem:
                    continue
                keys = self._by_prefix.setdefault(stem, [])
                if key not in keys:
                    keys.append(key)
                self._longest = max(self._longest, len(stem))

    def match(self, code) -> list:
        stem = _key(code)
        found = []
        for length in range(min(len(stem), self._longest), 0, -1):
            for key in self._by_prefix.get(stem[:length], ()):
                if key not in found:
                    found.append(key)
        return found

    def first(self, code):
        found = self.match(code)
        return found[0] if found else None
