"""The roster import service on the real database: counts, all-or-nothing, history, moves."""

import copy
import json
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command

from registry import roster, services
from registry.demo import synthetic_roster, write_xlsx
from registry.models import Household, Member, Township, Village

COL = {name: i for i, name in enumerate(roster.CANONICAL_HEADERS)}


def _households(rows):
    return {row[COL["户编号"]] for row in rows[1:]}


def _import(rows, user, **kwargs):
    kwargs.setdefault("create_areas", True)
    return services.roster_import(rows=copy.deepcopy(rows), user=user, **kwargs)


@pytest.fixture
def roster_rows():
    return synthetic_roster(25, seed=7)


def test_first_import_creates_every_household_and_member(county_user, roster_rows):
    report = _import(roster_rows, county_user)

    assert not report.refused and report.errors == []
    assert report.rows == len(roster_rows) - 1
    assert report.households_created == len(_households(roster_rows)) == Household.objects.count()
    assert report.members_created == len(roster_rows) - 1 == Member.objects.count()
    member = Member.objects.get(id_number=roster_rows[1][COL["证件号码"]])
    assert member.name == roster_rows[1][COL["姓名"]]
    assert member.household.number == roster_rows[1][COL["户编号"]]
    assert member.household.village.name == roster_rows[1][COL["行政村"]]
    record = member.history.get()
    assert record.history_user == county_user and record.history_change_reason.startswith("名册导入")


def test_reimporting_the_same_roster_changes_nothing(county_user, roster_rows):
    _import(roster_rows, county_user)
    history_before = Member.history.count() + Household.history.count()

    report = _import(roster_rows, county_user)

    assert (report.households_created, report.households_updated) == (0, 0)
    assert report.households_unchanged == len(_households(roster_rows))
    assert (report.members_created, report.members_updated) == (0, 0)
    assert report.members_unchanged == len(roster_rows) - 1
    assert Member.history.count() + Household.history.count() == history_before


def test_changed_roster_updates_what_changed_and_keeps_history(county_user, roster_rows):
    _import(roster_rows, county_user)
    changed = copy.deepcopy(roster_rows)
    head_row = changed[1]
    number = head_row[COL["户编号"]]
    old_status = head_row[COL["脱贫状态"]]
    new_status = "已脱贫" if old_status != "已脱贫" else "未脱贫"
    for row in changed[1:]:
        if row[COL["户编号"]] == number:
            row[COL["脱贫状态"]] = new_status
    changed[2][COL["健康状况"]] = "患有大病" if changed[2][COL["健康状况"]] != "患有大病" else "健康"

    report = _import(changed, county_user)

    assert report.households_updated == 1
    assert report.members_updated == 1
    household = Household.objects.get(number=number)
    assert household.get_poverty_status_display() == new_status
    assert household.version == 2
    from registry.selectors import household_history

    newest, changes = household_history(household)[0]
    assert ("脱贫状态", old_status, new_status) in changes
    assert newest.history_user == county_user


def test_member_listed_under_another_household_is_moved(county_user, roster_rows):
    _import(roster_rows, county_user)
    moved = copy.deepcopy(roster_rows)
    numbers = list(dict.fromkeys(row[COL["户编号"]] for row in moved[1:]))
    # A non-head row of some household, moved to another household of the same village.
    row = next(r for r in moved[1:] if r[COL["与户主关系"]] != "户主")
    target = next(
        r for r in moved[1:] if r[COL["户编号"]] != row[COL["户编号"]] and r[COL["与户主关系"]] == "户主"
    )
    row[COL["户编号"]] = target[COL["户编号"]]
    row[COL["乡镇"]], row[COL["行政村"]] = target[COL["乡镇"]], target[COL["行政村"]]

    report = _import(moved, county_user)

    assert report.members_moved == 1 and report.members_updated == 1
    member = Member.objects.get(id_number=row[COL["证件号码"]])
    assert member.household.number == target[COL["户编号"]]
    assert member.history.count() == 2
    assert len(numbers) == Household.objects.count()


def test_members_missing_from_a_reimport_are_reported_not_deleted(county_user, roster_rows):
    _import(roster_rows, county_user)
    dropped = next(r for r in roster_rows[1:] if r[COL["与户主关系"]] != "户主")
    shorter = [r for r in roster_rows if r is not dropped]

    report = _import(shorter, county_user)

    assert Member.objects.filter(id_number=dropped[COL["证件号码"]]).exists()
    assert [a["id_number"] for a in report.absent_members] == [dropped[COL["证件号码"]]]


def test_new_head_replaces_an_absent_old_head(county_user):
    rows = synthetic_roster(40, seed=3)
    _import(rows, county_user)
    head = next(
        r
        for r in rows[1:]
        if r[COL["与户主关系"]] == "户主"
        and sum(1 for x in rows[1:] if x[COL["户编号"]] == r[COL["户编号"]]) >= 2
    )
    number = head[COL["户编号"]]
    successor = next(r for r in rows[1:] if r[COL["户编号"]] == number and r is not head)
    new_rows = [r for r in copy.deepcopy(rows) if r[COL["证件号码"]] != head[COL["证件号码"]]]
    for r in new_rows:
        if r[COL["证件号码"]] == successor[COL["证件号码"]]:
            r[COL["与户主关系"]] = "户主"

    report = _import(new_rows, county_user)

    assert not report.refused
    assert Member.objects.get(id_number=successor[COL["证件号码"]]).relation == "head"
    assert Member.objects.get(id_number=head[COL["证件号码"]]).relation == "other"


def test_errors_refuse_the_whole_file_and_write_nothing(county_user, roster_rows):
    bad = copy.deepcopy(roster_rows)
    id_number = bad[3][COL["证件号码"]]
    bad[3][COL["证件号码"]] = id_number[:-1] + ("0" if id_number[-1] != "0" else "1")

    report = _import(bad, county_user)

    assert report.refused
    assert [(e.row, e.column) for e in report.errors] == [(4, "证件号码")]
    assert "校验位" in report.errors[0].message
    assert Household.objects.count() == Member.objects.count() == Township.objects.count() == 0


def test_skip_invalid_imports_the_valid_households_and_reports_the_rest(county_user, roster_rows):
    bad = copy.deepcopy(roster_rows)
    bad[3][COL["姓名"]] = ""
    bad_household = bad[3][COL["户编号"]]
    household_rows = [i + 1 for i, r in enumerate(bad) if i and r[COL["户编号"]] == bad_household]

    report = _import(bad, county_user, skip_invalid=True)

    assert not report.refused
    assert report.rejected_rows == household_rows
    assert report.rows_skipped == len(household_rows)
    assert not Household.objects.filter(number=bad_household).exists()
    assert Household.objects.count() == len(_households(bad)) - 1
    assert Member.objects.count() == len(bad) - 1 - len(household_rows)


def test_dry_run_counts_like_the_real_run_and_writes_nothing(county_user, roster_rows):
    dry = _import(roster_rows, county_user, dry_run=True)
    assert Household.objects.count() == 0 and Village.objects.count() == 0

    real = _import(roster_rows, county_user)

    dry_counts, real_counts = dry.as_dict(), real.as_dict()
    for key in ("rows", "households_created", "members_created", "members_updated", "rows_skipped"):
        assert dry_counts[key] == real_counts[key], key


def test_unknown_areas_are_errors_without_create_areas(county_user, areas, roster_rows):
    report = _import(roster_rows, county_user, create_areas=False)

    assert report.refused
    first_head_row = 2
    assert report.errors[0].row == first_head_row and report.errors[0].column == "乡镇"
    assert "未知的乡镇" in report.errors[0].message
    assert Household.objects.count() == 0


def test_known_township_unknown_village_names_the_village(county_user, areas):
    rows = synthetic_roster(1, seed=1, townships=["城关镇"])
    report = _import(rows, county_user, create_areas=False)
    assert report.refused and report.errors[0].column == "行政村"


def test_only_county_staff_import(township_user, supervisor, roster_rows):
    for user in (township_user, supervisor):
        with pytest.raises(PermissionDenied):
            _import(roster_rows, user)


def test_rejected_rows_workbook_lists_the_bad_rows_with_their_reason(county_user, roster_rows, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from core.reader import read_rows

    bad = copy.deepcopy(roster_rows)
    bad[2][COL["性别"]] = "女" if bad[2][COL["性别"]] == "男" else "男"
    path = tmp_path / "roster.xlsx"
    write_xlsx(bad, path)
    job = services.roster_job_create(
        user=county_user,
        uploaded_file=SimpleUploadedFile("roster.xlsx", path.read_bytes()),
        create_areas=True,
        skip_invalid=True,
    )
    job = services.roster_job_run(job_id=job.pk, confirm=False)
    assert job.status == "previewed"

    # Written once, when the preview ran (skip-invalid: only the rows not imported).
    with job.rejected_file.open("rb") as handle:
        rows = read_rows(handle)

    assert rows[0][-2:] == ["错误原因", "原行号"]
    bad_ids = {r[COL["证件号码"]] for r in rows[1:]}
    assert bad[2][COL["证件号码"]] in bad_ids
    reason, row_number = next(r[-2:] for r in rows[1:] if r[COL["证件号码"]] == bad[2][COL["证件号码"]])
    assert reason.startswith("性别") and row_number == 3


def test_job_run_is_idempotent(county_user, roster_rows, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    path = tmp_path / "roster.xlsx"
    write_xlsx(roster_rows, path)
    job = services.roster_job_create(
        user=county_user,
        uploaded_file=SimpleUploadedFile("r.xlsx", path.read_bytes()),
        create_areas=True,
        skip_invalid=False,
    )
    services.roster_job_run(job_id=job.pk, confirm=False)
    services.roster_job_confirm(user=county_user, job=job)
    first = services.roster_job_run(job_id=job.pk, confirm=True)
    history = Member.history.count()
    again = services.roster_job_run(job_id=job.pk, confirm=True)

    assert first.status == again.status == "done"
    assert again.result == first.result
    assert Member.history.count() == history
    with pytest.raises(services.RegistryError):
        services.roster_job_confirm(user=county_user, job=job)


@pytest.mark.django_db
def test_import_roster_command_json_and_exit_codes(county_user, roster_rows, tmp_path):
    good = tmp_path / "good.xlsx"
    write_xlsx(roster_rows, good)
    bad_rows = copy.deepcopy(roster_rows)
    index = next(i for i, r in enumerate(bad_rows) if i and r[COL["与户主关系"]] != "户主")
    bad_rows[index][COL["与户主关系"]] = "邻居"
    bad = tmp_path / "bad.xlsx"
    write_xlsx(bad_rows, bad)

    out = StringIO()
    with pytest.raises(SystemExit) as refused:
        call_command("import_roster", str(bad), "--json", "--create-areas", stdout=out)
    assert refused.value.code == 1
    result = json.loads(out.getvalue())
    assert result["errors"] == [
        {"row": index + 1, "column": "与户主关系", "message": result["errors"][0]["message"]}
    ]
    assert "邻居" in result["errors"][0]["message"]
    assert Member.objects.count() == 0

    out = StringIO()
    call_command("import_roster", str(good), "--json", "--create-areas", "--dry-run", stdout=out)
    result = json.loads(out.getvalue())
    assert result["dry_run"] is True and result["members_created"] == len(roster_rows) - 1
    assert Member.objects.count() == 0
    expected_keys = {
        "dry_run",
        "rows",
        "households_created",
        "households_updated",
        "members_created",
        "members_updated",
        "members_unchanged",
        "rows_skipped",
        "errors",
    }
    assert expected_keys <= set(result)

    call_command("import_roster", str(good), "--create-areas", stdout=StringIO())
    assert Member.objects.count() == len(roster_rows) - 1
