"""Who acts when no person does: the system actor of management commands.

``import_roster``, ``import_encounters``, ``import_policy`` and ``settle_year`` record an
operator in history. With ``--user NAME`` it is that user; without it, the system actor
``system`` (shown as 系统（命令行）), created on first use, so the commands work on a fresh
install before any county user exists. The system actor cannot log in (no usable password,
inactive) and counts as county staff (superuser) for the services' role checks."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction

SYSTEM_USERNAME = "system"
SYSTEM_DISPLAY_NAME = "系统（命令行）"


def system_actor():
    User = get_user_model()
    user = User.objects.filter(username=SYSTEM_USERNAME).first()
    if user is not None:
        return user
    user = User(
        username=SYSTEM_USERNAME,
        first_name=SYSTEM_DISPLAY_NAME,
        is_active=False,
        is_staff=False,
        is_superuser=True,
    )
    user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # created meanwhile by another command
        return User.objects.get(username=SYSTEM_USERNAME)
    return user


def command_user(username: str | None):
    """The operator of a management command: ``--user NAME`` or the system actor."""
    if not username:
        return system_actor()
    User = get_user_model()
    try:
        return User.objects.get(username=username)
    except User.DoesNotExist:
        raise CommandError(f"用户「{username}」不存在。")
