"""The system actor: on a fresh install (no user at all) the import commands work and history
names 系统（命令行） as the operator; ``--user`` still names a person; the actor cannot log in."""

from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import RequestFactory

from core.actors import SYSTEM_DISPLAY_NAME, SYSTEM_USERNAME, system_actor
from registry.demo import synthetic_roster, write_xlsx
from registry.models import Household
from settlement.models import Policy
from tests.settlement_world import POLICY_FILE

pytestmark = pytest.mark.django_db


def test_commands_work_on_a_fresh_install_as_the_system_actor(tmp_path):
    assert not get_user_model().objects.exists()
    roster = tmp_path / "roster.xlsx"
    write_xlsx(synthetic_roster(3, seed=7), roster)
    call_command("import_roster", str(roster), "--create-areas", stdout=StringIO())
    call_command("import_policy", str(POLICY_FILE), "--activate", stdout=StringIO())

    actor = get_user_model().objects.get()
    assert (actor.username, actor.first_name) == (SYSTEM_USERNAME, SYSTEM_DISPLAY_NAME)
    record = Household.history.order_by("history_id").first()
    assert record.history_user == actor
    assert Policy.objects.get().history.first().history_user == actor
    # Not a login: no usable password, inactive.
    assert not actor.has_usable_password() and not actor.is_active
    # (django-axes wants the request a login comes with)
    login = RequestFactory().post("/accounts/login/")
    assert authenticate(login, username=SYSTEM_USERNAME, password="") is None
    assert system_actor() == actor  # created once


def test_a_named_user_is_still_the_operator(county_user):
    call_command("import_policy", str(POLICY_FILE), "--user", county_user.username, stdout=StringIO())
    assert Policy.objects.get().history.first().history_user == county_user
    with pytest.raises(CommandError, match="不存在"):
        call_command("import_policy", str(POLICY_FILE), "--user", "nobody", stdout=StringIO())
    assert not get_user_model().objects.filter(username=SYSTEM_USERNAME).exists()
