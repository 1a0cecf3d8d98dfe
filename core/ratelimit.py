"""Per-user counters in the cache, for refusals that could be used to probe what exists in
another township (a duplicate ID number, an encounter reference): docs/security.md, attack 8.

A user who met ``settings.EXISTENCE_PROBE_LIMIT`` such refusals within
``EXISTENCE_PROBE_WINDOW`` seconds is refused every further attempt of that kind until the
window ends, whether the value exists or not."""

from django.conf import settings
from django.core.cache import cache


def _key(user, kind: str) -> str:
    # The account's creation time beside its id: an id given again (a recreated database, a
    # test run) never inherits another account's count.
    joined = int(user.date_joined.timestamp() * 1_000_000) if getattr(user, "date_joined", None) else 0
    return f"probe:{kind}:{user.pk}:{joined}"


def probe_blocked(user, kind: str) -> bool:
    return (cache.get(_key(user, kind)) or 0) >= settings.EXISTENCE_PROBE_LIMIT


def probe_counted(user, kind: str) -> None:
    key = _key(user, kind)
    cache.add(key, 0, timeout=settings.EXISTENCE_PROBE_WINDOW)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.EXISTENCE_PROBE_WINDOW)
