"""Per-user counters in the cache, for refusals that could be used to probe what exists in
another township (a duplicate ID number, an encounter reference): docs/security.md, attack 8.

A user who met ``settings.EXISTENCE_PROBE_LIMIT`` such refusals within
``EXISTENCE_PROBE_WINDOW`` seconds is refused every further attempt of that kind until the
window ends, whether the value exists or not."""

from django.conf import settings
from django.core.cache import cache


def _key(user, kind: str) -> str:
    return f"probe:{kind}:{user.pk}"


def probe_blocked(user, kind: str) -> bool:
    return (cache.get(_key(user, kind)) or 0) >= settings.EXISTENCE_PROBE_LIMIT


def probe_counted(user, kind: str) -> None:
    key = _key(user, kind)
    cache.add(key, 0, timeout=settings.EXISTENCE_PROBE_WINDOW)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.EXISTENCE_PROBE_WINDOW)
