"""Response headers Django does not set by itself (docs/security.md)."""

from django.conf import settings


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
