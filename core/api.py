"""The API's side of the domain error (settings ``REST_FRAMEWORK["EXCEPTION_HANDLER"]``).

A ``DomainError`` raised by a service anywhere under a view becomes one response shape:
HTTP 409 for a conflict code, 429 for a throttled one, 422 for an idempotency key reused
with another request, 404 for ``not_found``, else 400, with the body
``{"detail": message, "code": code, "errors": ["path: message", …], <field>: [message]}``
(``<field>`` is the field concerned, ``non_field_errors`` when there is none). Views and
viewsets call services and let the error through; they map nothing by hand."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import KEY_REUSED, NOT_FOUND, DomainError


def domain_error_body(exc: DomainError) -> dict:
    return {
        "detail": exc.message,
        "code": exc.code,
        "field": exc.field,
        "errors": exc.errors or ([f"{exc.field}: {exc.message}"] if exc.field else [exc.message]),
        exc.field or "non_field_errors": [exc.message],
    }


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        if exc.is_conflict:
            code = status.HTTP_409_CONFLICT
        elif exc.is_throttled:
            code = status.HTTP_429_TOO_MANY_REQUESTS
        elif exc.code == KEY_REUSED:
            code = status.HTTP_422_UNPROCESSABLE_ENTITY
        elif exc.code == NOT_FOUND:
            code = status.HTTP_404_NOT_FOUND
        else:
            code = status.HTTP_400_BAD_REQUEST
        return Response(domain_error_body(exc), status=code)
    return drf_exception_handler(exc, context)
