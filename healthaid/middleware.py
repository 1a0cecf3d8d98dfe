"""Response headers Django does not set by itself (docs/security.md)."""

from django.conf import settings
from django.http import HttpResponseBadRequest


class SecurityHeadersMiddleware:
    """``Permissions-Policy`` on every response (no camera, microphone, location… for any page),
    and ``Referrer-Policy`` even on responses that bypass Django's SecurityMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        response.headers.setdefault("Referrer-Policy", settings.SECURE_REFERRER_POLICY)
        return response


class RefuseNulMiddleware:
    """A NUL character in a query parameter is never meaningful input and PostgreSQL refuses
    to store or compare it (a 500): such a request is answered 400, the same everywhere."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.META.get("QUERY_STRING", "") or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            return HttpResponseBadRequest(
                "查询参数中含有不允许的字符（NUL），请检查输入。", content_type="text/plain; charset=utf-8"
            )
        return self.get_response(request)
