"""The bureau's enrollment list, imported, re-settles the year it changes (eager Celery, through
the outbox): a member the list marks not insured for 2025 has its 2025 stays re-settled as not
insured; the same list again changes nothing."""

from core.models import OutboxEntry
from registry import fact_services
from settlement.models import Settlement, SettlementProblem
from tests.settlement_world import settle_all

HEADER = ["证件号码", "姓名", "年度", "是否参保", "缴费标准", "个人缴费", "资助金额", "资助类别", "资助资金"]


def test_member_marked_not_insured_by_the_import_is_resettled(
    facts_world, policies, county_user, django_capture_on_commit_callbacks
):
    m, other = facts_world.members["M"], facts_world.members["L"]
    settle_all(facts_world)
    paid = set(Settlement.objects.filter(member=m, is_current=True).values_list("pk", flat=True))
    assert len(paid) == 3 and not SettlementProblem.objects.exists()
    kept = set(Settlement.objects.filter(member=other, is_current=True).values_list("pk", flat=True))
    assert kept
    rows = [
        HEADER,
        [m.id_number, m.name, 2025, "否", None, None, None, "", ""],
        [
            other.id_number,
            other.name,
            2025,
            "是",
            "380.00",
            "0",
            "380.00",
            "低保对象全额资助",
            "医疗救助资金",
        ],
    ]

    with django_capture_on_commit_callbacks(execute=True):
        report = fact_services.enrollment_list_import(rows=rows, user=county_user)

    assert not report.refused and report.insured_changed == 2
    # Eager Celery: the commit dispatched the event, settlement re-settled M's 2025 stays.
    assert not OutboxEntry.objects.filter(done_at__isnull=True).exists()
    problems = SettlementProblem.objects.filter(encounter__member=m)
    assert problems.count() == 3 and {p.reason for p in problems} == {"not_insured"}
    assert "2025年度登记为未参保" in problems.first().detail
    # Money already paid is not reversed silently: the settlements stay, flagged by the problems.
    assert set(Settlement.objects.filter(member=m, is_current=True).values_list("pk", flat=True)) == paid
    # L, insured as before: the same settlements (nothing to change in the money).
    after = set(Settlement.objects.filter(member=other, is_current=True).values_list("pk", flat=True))
    assert after == kept

    with django_capture_on_commit_callbacks(execute=True):
        again = fact_services.enrollment_list_import(rows=rows, user=county_user)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert problems.count() == 3
