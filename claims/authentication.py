"""API tokens of 定点医疗机构 (``InstitutionToken``): ``Authorization: Token hw_…``.

Only keys with the ``hw_`` prefix are ours; any other key is left to DRF's own
``TokenAuthentication`` (listed after this class in settings). Ours are looked up by their
SHA-256 digest; a revoked token, a token whose holder is no longer a hospital user of the
token's institution, or an inactive holder is refused with 401 — never passed on."""

from __future__ import annotations

import datetime
import hashlib

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from registry import roles

from .models import InstitutionToken, InstitutionUser

PREFIX = "hw_"
# How often ``last_used_at`` is written (not on every request of a busy window).
_TOUCH_EVERY = datetime.timedelta(minutes=5)


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class InstitutionTokenAuthentication(authentication.TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key):
        if not key.startswith(PREFIX):
            return None  # DRF's TokenAuthentication (next in the list) may know it
        token = (
            InstitutionToken.objects.select_related("user__profile", "user__institution_link", "institution")
            .filter(digest=digest_of(key))
            .first()
        )
        if token is None or token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("接口令牌无效或已被吊销。")
        user = token.user
        try:
            linked = user.institution_link.institution_id
        except InstitutionUser.DoesNotExist:
            linked = None
        if not user.is_active or not roles.is_hospital(user) or linked != token.institution_id:
            raise exceptions.AuthenticationFailed("接口令牌的账号已停用或不再属于该医疗机构。")
        # claims.access reads them without another query
        user._institution_id, user._institution = linked, token.institution
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY:
            InstitutionToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return user, token


class InstitutionTokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme of these tokens (its own name beside DRF's ``tokenAuth``)."""

    target_class = InstitutionTokenAuthentication
    name = "institutionToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "定点医疗机构接口令牌：`Token hw_…`（县医保部门在“医疗机构接口令牌”页生成，可吊销）",
        }
