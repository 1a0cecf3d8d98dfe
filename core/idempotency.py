"""Requests that take effect once (the API's ``Idempotency-Key`` header, a page's one-time form
token).

``once(...)`` records the key in the caller's transaction, before the work: the unique index
on (user, operation, key) makes a concurrent duplicate wait until the first request commits —
then it finds the key and returns the first result — or rolls back — then it does the work
itself. So duplicates are serialised by the database, not by timing. A key sent again with a
different request (another patient, another amount) is refused: it names another request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TypeVar

from django.db import IntegrityError, transaction

from .errors import KEY_REUSED
from .models import IdempotencyKey

T = TypeVar("T")

MAX_KEY_LENGTH = IdempotencyKey._meta.get_field("key").max_length


class KeyReused(Exception):
    """The key was used before for a different request."""


def fingerprint(values: dict) -> str:
    """A digest of a request's meaning: model instances by primary key, other values as text."""

    def plain(value):
        return getattr(value, "pk", value)

    text = json.dumps({k: plain(v) for k, v in sorted(values.items())}, default=str, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def once(
    *,
    user,
    scope: str,
    key: str,
    digest: str,
    work: Callable[[], T],
    result_id: Callable[[T], int],
    replay: Callable[[int], T],
) -> tuple[T, bool]:
    """Do ``work()`` once per (user, scope, key), inside the caller's transaction (one is
    opened when there is none). Returns (result, replayed): the first request's result is
    ``replay(result_id)``. Raises ``KeyReused`` when the key came with another ``digest``."""
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: the failed insert must not spoil the rest
                record = IdempotencyKey.objects.create(user=user, scope=scope, key=key, fingerprint=digest)
        except IntegrityError:
            # Committed by the first request (ours waited for it on the unique index).
            record = IdempotencyKey.objects.get(user=user, scope=scope, key=key)
            if record.fingerprint != digest or record.result_id is None:
                raise KeyReused(key) from None
            return replay(record.result_id), True
        result = work()
        record.result_id = result_id(result)
        record.save(update_fields=["result_id"])
        return result, False


def service_once(
    *,
    user,
    scope: str,
    key: str,
    request: dict,
    work: Callable[[], T],
    replay: Callable[[int], T],
    error: Callable[..., Exception],
    reused_message: str,
) -> T:
    """``once`` as a service that creates one record uses it: without a key the work is simply
    done; otherwise the key is trimmed and its length checked, the request's ``fingerprint``
    taken, and the result (a model instance) marked ``_replayed``. A key too long or sent with
    another request raises ``error(message[, code="key_reused"])`` (the app's DomainError)."""
    key = (key or "").strip()
    if not key:
        return work()
    if len(key) > MAX_KEY_LENGTH:
        raise error(f"幂等键（Idempotency-Key）不能超过{MAX_KEY_LENGTH}个字符。")
    try:
        result, replayed = once(
            user=user,
            scope=scope,
            key=key,
            digest=fingerprint(request),
            work=work,
            result_id=lambda obj: obj.pk,
            replay=replay,
        )
    except KeyReused:
        raise error(reused_message, code=KEY_REUSED) from None
    result._replayed = replayed
    return result
