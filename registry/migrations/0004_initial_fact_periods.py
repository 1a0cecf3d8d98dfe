"""Today's values become the first dated facts (docs/registry.md, "Dated facts").

* every household gets one status period with its current ``poverty_status``, effective from
  2014-01-01 (``registry.facts.FACTS_START``: 建档立卡 began in 2014; the registry knows nothing
  older, and an earlier-dated first period keeps every later change recorded by staff after it);
* every member gets one aid-category period with its current ``aid_category``, same date;
* every member whose ``insured`` flag is known gets an enrollment (amounts unknown) for the
  year before the migration ran and the year it ran: the years still being settled.
"""

import datetime

from django.db import migrations

START = datetime.date(2014, 1, 1)


def forwards(apps, schema_editor):
    Household = apps.get_model("registry", "Household")
    Member = apps.get_model("registry", "Member")
    StatusPeriod = apps.get_model("registry", "HouseholdStatusPeriod")
    AidPeriod = apps.get_model("registry", "MemberAidPeriod")
    Enrollment = apps.get_model("registry", "Enrollment")
    reason = "系统启用前的登记状态（迁移）"
    StatusPeriod.objects.bulk_create(
        (
            StatusPeriod(
                household_id=pk,
                poverty_status=status,
                event="initial",
                effective_from=START,
                reason=reason,
            )
            for pk, status in Household.objects.values_list("pk", "poverty_status").iterator()
        ),
        batch_size=2000,
    )
    AidPeriod.objects.bulk_create(
        (
            AidPeriod(
                member_id=pk,
                aid_category=aid,
                event="initial",
                effective_from=START,
                reason=reason,
            )
            for pk, aid in Member.objects.values_list("pk", "aid_category").iterator()
        ),
        batch_size=2000,
    )
    this_year = datetime.date.today().year
    Enrollment.objects.bulk_create(
        (
            Enrollment(member_id=pk, year=year, insured=insured, source="迁移：原“是否参保”标记")
            for pk, insured in Member.objects.filter(insured__isnull=False)
            .values_list("pk", "insured")
            .iterator()
            for year in (this_year - 1, this_year)
        ),
        batch_size=2000,
    )


def backwards(apps, schema_editor):
    for name in ("Enrollment", "MemberAidPeriod", "HouseholdStatusPeriod"):
        apps.get_model("registry", name).objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_dated_facts")]

    operations = [migrations.RunPython(forwards, backwards)]
