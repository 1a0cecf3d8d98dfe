"""Every URL the project serves, enumerated from the URL conf, checked for login, township
isolation and read-only supervisors. A new page or API route that is not classified below
makes these tests fail, so it cannot forget its access rules.

The data is the demo county (`load_demo`, smaller), so every kind of record exists in
every township. The township user is the demo clinic, bound to the first demo township.
"""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver

# URL name → (model label, lookup from that model to its township id). An object of another
# township must answer exactly like an object that does not exist (403 or 404, never 200).
SCOPED = {
    "registry:household_detail": ("registry.Household", "village__township_id"),
    "registry:household_edit": ("registry.Household", "village__township_id"),
    "registry:member_create": ("registry.Household", "village__township_id"),
    "registry:member_detail": ("registry.Member", "household__village__township_id"),
    "registry:member_edit": ("registry.Member", "household__village__township_id"),
    "claims:encounter_detail": ("claims.Encounter", "member__household__village__township_id"),
    "claims:encounter_edit": ("claims.Encounter", "member__household__village__township_id"),
    "claims:illness_detail": ("claims.IllnessRecord", "member__household__village__township_id"),
    "claims:illness_edit": ("claims.IllnessRecord", "member__household__village__township_id"),
    "claims:team_detail": ("claims.Team", "township_id"),
    "claims:team_edit": ("claims.Team", "township_id"),
    "claims:team_member_add": ("claims.Team", "township_id"),
    "claims:team_member_toggle": ("claims.TeamMember", "team__township_id"),
    "claims:contract_create": ("registry.Household", "village__township_id"),
    "claims:contract_detail": ("claims.Contract", "household__village__township_id"),
    "claims:contract_edit": ("claims.Contract", "household__village__township_id"),
    "claims:contract_terminate": ("claims.Contract", "household__village__township_id"),
    "claims:followup_create": ("claims.Contract", "household__village__township_id"),
    "claims:followup_edit": ("claims.FollowUp", "member__household__village__township_id"),
    "dashboards:township": ("registry.Township", "id"),
    "dashboards:notice": ("registry.Village", "township_id"),
    "settlement:statement": ("settlement.Settlement", "member__household__village__township_id"),
    "settlement:encounter_status": ("claims.Encounter", "member__household__village__township_id"),
    "household-detail": ("registry.Household", "village__township_id"),
    "member-detail": ("registry.Member", "household__village__township_id"),
    "township-detail": ("registry.Township", "id"),
    "village-detail": ("registry.Village", "township_id"),
    "illness-detail": ("claims.IllnessRecord", "member__household__village__township_id"),
    "screening-detail": ("claims.Screening", "member__household__village__township_id"),
    "team-detail": ("claims.Team", "township_id"),
    "contract-detail": ("claims.Contract", "household__village__township_id"),
    "followup-detail": ("claims.FollowUp", "member__household__village__township_id"),
    "encounter-detail": ("claims.Encounter", "member__household__village__township_id"),
    "encounter-correct": ("claims.Encounter", "member__household__village__township_id"),
    "settlement-detail": ("settlement.Settlement", "member__household__village__township_id"),
    "household-status-changes": ("registry.Household", "village__township_id"),
    "registry:status_change": ("registry.Household", "village__township_id"),
    "registry:aid_change": ("registry.Member", "household__village__township_id"),
    "registry:enrollment_record": ("registry.Member", "household__village__township_id"),
    "registry:member_exit": ("registry.Member", "household__village__township_id"),
    "member-aid-category-changes": ("registry.Member", "household__village__township_id"),
    "member-enrollments": ("registry.Member", "household__village__township_id"),
    **{
        name: ("aid.AidApplication", "member__household__village__township_id")
        for name in (
            "aid:application_detail",
            "aid:statement",
            "aid:review",
            "aid:approve",
            "aid:return",
            "aid:refuse",
            "aid:resubmit",
            "aid:invoice_add",
            "aid:document_add",
            "aid-application-detail",
            "aid-application-review",
            "aid-application-approve",
            "aid-application-return",
            "aid-application-refuse",
            "aid-application-resubmit",
        )
    },
    "aid:document": ("aid.AidDocument", "application__member__household__village__township_id"),
    "payments:batch_detail": ("payments.PaymentBatch", "lines__township_id"),
    "payments:account_detail": ("payments.BankAccount", "household__village__township_id"),
    "payments:account_close": ("payments.BankAccount", "household__village__township_id"),
    "payments-account-detail": ("payments.BankAccount", "household__village__township_id"),
    "payments-batch-detail": ("payments.PaymentBatch", "lines__township_id"),
    "payments-batch-check": ("payments.PaymentBatch", "lines__township_id"),
    "payments-batch-approve": ("payments.PaymentBatch", "lines__township_id"),
    "payments-batch-cancel": ("payments.PaymentBatch", "lines__township_id"),
    "payments-batch-export": ("payments.PaymentBatch", "lines__township_id"),
    "payments-line-detail": ("payments.PaymentLine", "township_id"),
    "payments-line-paid": ("payments.PaymentLine", "township_id"),
    "payments-line-return": ("payments.PaymentLine", "township_id"),
}

# Records every role may read (county-wide reference data); writes stay county-only.
SHARED = {
    "claims:package_edit": "claims.ServicePackage",
    "claims:institution_edit": "claims.Institution",
    "claims:disease_edit": "claims.Disease",
    "institution-detail": "claims.Institution",
    "disease-detail": "claims.Disease",
    "package-detail": "claims.ServicePackage",
    "settlement:policy_detail": "settlement.Policy",
    "settlement:policy_edit": "settlement.Policy",
    "settlement:policy_activate": "settlement.Policy",
    "settlement:policy_export": "settlement.Policy",
    "settlement-policy-detail": "settlement.Policy",
}

# County staff's own tools: a township user is refused (403) whatever the object.
COUNTY_ONLY = {
    "registry:roster_import_detail",
    "registry:roster_import_progress",
    "registry:roster_import_confirm",
    "registry:roster_import_rejected",
    "registry:enrollment_import_detail",
    "registry:enrollment_import_progress",
    "registry:enrollment_import_confirm",
    "registry:enrollment_import_rejected",
    "claims:import_detail",
    "claims:import_progress",
    "claims:import_confirm",
    "claims:import_rejected",
    "claims:catalogue_import_detail",
    "claims:catalogue_import_progress",
    "claims:catalogue_import_confirm",
    "claims:catalogue_import_rejected",
    "claims:review_decide",
    "review-detail",
    "review-decide",
    "dashboards:refresh_progress",
    "dashboards:notice_close",
    "dashboards:objection_resolve",
    "settlement:run_detail",
    "settlement:run_progress",
    "claims:token_revoke",
    "payments:fund_detail",
    "payments:income_create",
    "payments:batch_check",
    "payments:batch_approve",
    "payments:batch_cancel",
    "payments:batch_export",
    "payments:line_paid",
    "payments:line_return",
    "payments-fund-detail",
    "payments-fund-account",
    "payments-fund-incomes",
}

# A user's own records (export jobs): anyone else gets 404, whatever the role or township.
OWNED = {"core:export_job", "core:export_job_progress", "core:export_job_file"}

# Pages without object arguments that may be reached without logging in.
PUBLIC = {"login", "logout"}
# URL kwargs that are not object ids, with a value to use.
PLAIN_KWARGS = {"format": "json", "figure": "insured", "year": 2025, "month": 1, "visit_number": "V1"}
# Notices are keyed by village and month; objections by notice id.
NOTICE_OBJECT_KWARGS = {"dashboards:objection_create": ("dashboards.Notice", "village__township_id")}


def _patterns(patterns=None, prefix="", namespace=None):
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(p, URLResolver):
            if str(p.pattern).startswith("admin/"):
                continue
            yield from _patterns(p.url_patterns, prefix + str(p.pattern), p.namespace or namespace)
        elif isinstance(p, URLPattern) and p.name:
            name = f"{namespace}:{p.name}" if namespace else p.name
            if "(?P<format>" in str(p.pattern) or "drf_format_suffix" in str(p.pattern):
                continue  # the same view as the pattern without a format suffix
            yield name, p


def _object_kwargs(pattern):
    return [k for k in pattern.pattern.regex.groupindex if k not in PLAIN_KWARGS]


def _url(name, pattern, pk):
    from django.urls import reverse

    kwargs = {}
    for key in list(pattern.pattern.regex.groupindex):
        kwargs[key] = PLAIN_KWARGS[key] if key in PLAIN_KWARGS else pk
    return reverse(name, kwargs=kwargs) if kwargs else reverse(name)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        call_command("load_demo", "--households", "40", verbosity=0, stdout=open("/dev/null", "w"))
        users = {u.username: u for u in get_user_model().objects.all()}
        yield users
        call_command("flush", interactive=False, verbosity=0)


def _model(label):
    from django.apps import apps

    return apps.get_model(label)


def _other_township_object(label, path, township_id):
    return _model(label).objects.exclude(**{path: township_id}).order_by("pk").first()


def test_every_url_is_classified():
    unclassified = []
    for name, pattern in _patterns():
        if not _object_kwargs(pattern):
            continue
        if (
            name not in SCOPED
            and name not in SHARED
            and name not in COUNTY_ONLY
            and name not in NOTICE_OBJECT_KWARGS
            and name not in OWNED
        ):
            unclassified.append(name)
    assert not unclassified, f"classify these URLs in tests/test_url_security.py: {unclassified}"


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_login(client, world):
    for name, pattern in _patterns():
        if name in PUBLIC:
            continue
        url = _url(name, pattern, 1)
        response = client.get(url)
        if url.startswith("/api/"):
            assert response.status_code in (401, 403), f"{url}: {response.status_code}"
        else:
            assert response.status_code == 302 and "/accounts/login/" in response["Location"], (
                f"{url}: {response.status_code}"
            )


@pytest.mark.django_db
def test_township_user_cannot_reach_another_townships_records(client, world):
    clinic = world["clinic"]
    township_id = clinic.profile.township_id
    client.force_login(clinic)
    missing = 10**9
    checked = 0
    for name, pattern in _patterns():
        if not _object_kwargs(pattern):
            continue
        if name in SHARED:
            continue
        if name in COUNTY_ONLY:
            url = _url(name, pattern, missing)
            assert client.get(url).status_code in (403, 404), url
            continue
        if name in OWNED:
            continue  # test_owned_records_answer_404_to_anyone_else
        label, path = SCOPED.get(name) or NOTICE_OBJECT_KWARGS[name]
        obj = _other_township_object(label, path, township_id)
        if obj is None:
            continue  # the demo has none of these in other townships
        url = _url(name, pattern, obj.pk)
        got = client.get(url).status_code
        baseline = client.get(_url(name, pattern, missing)).status_code
        assert got in (403, 404, 405), f"{name} {url}: {got} (another township's record)"
        assert got == baseline, (
            f"{name}: {got} for another township's record but {baseline} for none (a leak)"
        )
        checked += 1
    assert checked >= 20, f"only {checked} scoped URLs were checked: the demo data lacks records"


@pytest.mark.django_db
def test_supervisor_changes_nothing(client, world):
    client.force_login(world["leader"])
    for name, pattern in _patterns():
        if name in PUBLIC or name == "settlement-preview":
            continue  # logout; a preview computes without storing anything
        url = _url(name, pattern, 1)
        response = client.post(url, {})
        assert response.status_code in (403, 404, 405), f"supervisor POST {url}: {response.status_code}"


@pytest.mark.django_db
def test_forms_are_protected_by_csrf(world):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(world["county"])
    for name in ("registry:roster_upload", "settlement:policy_import", "claims:encounter_create"):
        pattern = dict(_patterns())[name]
        assert csrf_client.post(_url(name, pattern, 1), {}).status_code == 403, name


def _own_object_pk(name, township_id):
    """A record the clinic may see for a URL with an object argument (None: not applicable)."""
    if name in SHARED:
        return _model(SHARED[name]).objects.order_by("pk").values_list("pk", flat=True).first()
    entry = SCOPED.get(name) or NOTICE_OBJECT_KWARGS.get(name)
    if entry is None:
        return None
    label, path = entry
    return (
        _model(label)
        .objects.filter(**{path: township_id})
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )


@pytest.mark.django_db
def test_every_page_opens_for_every_role(client, world):
    """GET every URL as each role, on a record that role may see: never a server error. (A
    page that breaks only when opened, e.g. a template download, is caught here.)"""
    township_id = world["clinic"].profile.township_id
    errors, opened = [], 0
    for username in ("county", "clinic", "leader"):
        client.force_login(world[username])
        for name, pattern in _patterns():
            if name in PUBLIC:
                continue
            pk = 1
            if _object_kwargs(pattern):
                pk = _own_object_pk(name, township_id)
                if pk is None:
                    continue  # county-only tools on a run/import that the demo does not have
            url = _url(name, pattern, pk)
            status = client.get(url).status_code
            opened += 1
            if status >= 500:
                errors.append(f"{username} GET {url}: {status}")
    assert not errors, errors
    assert opened >= 150, f"only {opened} pages were opened"


@pytest.mark.django_db
def test_owned_records_answer_404_to_anyone_else(client, world):
    from core.exportjobs import export_job_create

    job = export_job_create(
        user=world["county"],
        view_name="registry:member_list",
        view_kwargs={},
        params={},
        title="家庭成员名单",
    )
    patterns = dict(_patterns())
    for username in ("clinic", "leader"):
        client.force_login(world[username])
        for name in OWNED:
            assert client.get(_url(name, patterns[name], job.pk)).status_code == 404, (username, name)
    client.force_login(world["county"])
    assert client.get(_url("core:export_job", patterns["core:export_job"], job.pk)).status_code == 200


# --- 定点医疗机构 (hospital users) ------------------------------------------------------------------

# What a hospital user may open: these pages and API routes, and on them only its own
# institution's records. Every other URL answers 403 (or 404/405), whatever the object.
HOSPITAL_SCOPED = {
    "claims:encounter_detail": ("claims.Encounter", "institution_id"),
    "encounter-detail": ("claims.Encounter", "institution_id"),
    "settlement:statement": ("settlement.Settlement", "institution_id"),
    "settlement-detail": ("settlement.Settlement", "institution_id"),
    "settlement:encounter_status": ("claims.Encounter", "institution_id"),
}
HOSPITAL_PAGES = {
    "home",
    "claims:encounter_list",
    "settlement:settlement_list",
    "settlement:problem_list",
    "encounter-list",
    "settlement-list",
    "institution-list",
    "disease-list",
    "package-list",
    "claims:catalogue_list",  # the medical-insurance catalogue: reference data
    "catalogue-item-list",
    "institution-detail",
    "disease-detail",
    "package-detail",
    "settlement-preview",  # computes, stores nothing, reads no registry record
    "api-schema",
    "api-docs",
    "core:export_job_list",  # its own export jobs only
    "discharge-list",  # POST only (405 on GET)
    "discharge-correction",
    "discharge-cancel",
    "claims:review_report",  # its own institution's row (test_review_queue)
    "claims:review_feedback",  # its own deductions and their reasons
}


@pytest.fixture
def hospital(world):
    from claims.models import Encounter
    from tests.factories import make_hospital_user

    institution = Encounter.objects.order_by("pk").first().institution
    return make_hospital_user("hospital-cashier", institution), institution


@pytest.mark.django_db
def test_hospital_user_reaches_only_its_own_institutions_records(client, world, hospital):
    user, institution = hospital
    client.force_login(user)
    missing = 10**9
    checked = 0
    for name, pattern in _patterns():
        if name in PUBLIC:
            continue
        if name in HOSPITAL_SCOPED:
            label, path = HOSPITAL_SCOPED[name]
            other = _model(label).objects.exclude(**{path: institution.pk}).order_by("pk").first()
            own = _model(label).objects.filter(**{path: institution.pk}).order_by("pk").first()
            got = client.get(_url(name, pattern, other.pk)).status_code
            assert got == 404 == client.get(_url(name, pattern, missing)).status_code, (name, got)
            if own is not None:
                assert client.get(_url(name, pattern, own.pk)).status_code == 200, name
            checked += 1
            continue
        if name in HOSPITAL_PAGES:
            continue
        url = _url(name, pattern, 1)
        got = client.get(url).status_code
        assert got in (403, 404, 405), f"hospital GET {url}: {got}"
        assert client.post(url, {}).status_code in (403, 404, 405), f"hospital POST {url}"
    assert checked == len(HOSPITAL_SCOPED)


@pytest.mark.django_db
def test_hospital_lists_and_exports_show_its_institution_only(client, world, hospital):
    from claims.models import Encounter

    user, institution = hospital
    own = Encounter.objects.filter(institution=institution).count()
    assert own and Encounter.objects.exclude(institution=institution).exists()
    client.force_login(user)
    patterns = dict(_patterns())
    for name in HOSPITAL_PAGES:
        pk = 1
        if _object_kwargs(patterns[name]) and name in SHARED:
            pk = _model(SHARED[name]).objects.order_by("pk").values_list("pk", flat=True).first()
        expected = 405 if name.startswith("discharge-") or name == "settlement-preview" else 200  # POST only
        assert client.get(_url(name, patterns[name], pk)).status_code == expected, name
    listed = client.get("/api/v1/claims/encounters/", {"page_size": 500}).json()
    assert listed["count"] == own
    assert {row["institution"] for row in listed["results"]} == {institution.pk}
    settlements = client.get("/api/v1/settlement/settlements/").json()
    assert settlements["count"] and {row["institution"] for row in settlements["results"]} == {institution.pk}
    page = client.get("/claims/encounters/", {"export": "xlsx"})
    assert page.status_code in (200, 302)
    for path in ("/api/v1/registry/households/", "/api/v1/registry/members/", "/api/v1/claims/illnesses/"):
        assert client.get(path).status_code == 403, path
