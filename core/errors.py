"""The one domain error: what every service raises when it refuses an operation.

``DomainError(message, field=None, code=None)``: a Chinese message for the person at the
screen, the form/API field it concerns (None: the whole operation), and a code callers can
tell apart — ``"invalid"`` (the default: bad input), or one of ``CONFLICT_CODES`` (the
record's state forbids the change: a version conflict, a settled or superseded encounter, an
active policy). Each app's error type is a subclass with this signature (``RegistryError``,
``ClaimsError``, ``SettlementError``, ``DashboardError``), so a caller may catch the app's
type or this one. Pages show it with ``core.forms.show_domain_error``; the API turns it into
a response with ``core.api.exception_handler`` (settings ``REST_FRAMEWORK``)."""

from __future__ import annotations

# Codes that mean "the record's current state forbids this" (HTTP 409), not bad input (400).
# "duplicate": a suspected duplicate entry (resend confirmed, with a reason).
CONFLICT_CODES = frozenset({"conflict", "settled", "superseded", "duplicate"})
# An idempotency key sent again with another request (HTTP 422).
KEY_REUSED = "key_reused"
# "Too many refusals of this kind lately" (core.ratelimit): HTTP 429.
THROTTLED = "throttled"
# The record named by the request is not in the caller's scope (or does not exist): HTTP 404.
NOT_FOUND = "not_found"


class DomainError(Exception):
    def __init__(self, message: str, field: str | None = None, code: str | None = None, *, errors=None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code or "invalid"
        # Every fault of a document, "path: message" (a policy document or claims has many).
        self.errors = list(errors or [])

    @property
    def is_conflict(self) -> bool:
        return self.code in CONFLICT_CODES

    @property
    def is_throttled(self) -> bool:
        return self.code == THROTTLED

    def __str__(self) -> str:
        return self.message
