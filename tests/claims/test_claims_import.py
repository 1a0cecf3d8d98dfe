"""The encounter import on the real database: every fault, all-or-nothing, idempotent
re-import, updates, the web flow (preview → confirm → rejected rows) and the command."""

import datetime
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from openpyxl import load_workbook

from claims import encounter_rows, services
from claims.models import Encounter, EncounterImport
from core.outbox import outbox_dispatch
from registry.demo import write_xlsx
from registry.idnumber import make_id_number

HEADER = list(encounter_rows.CANONICAL_HEADERS)


def _row(world, ref, **overrides):
    # Rows of different refs are different stays (another admission day): identical ones would
    # be refused as 疑似重复录入.
    day = 1 + sum(map(ord, ref)) % 20
    values = {
        "住院号/流水号": ref,
        "姓名": world.east_head.name,
        "证件号码": world.east_head.id_number,
        "医疗机构": "县人民医院",
        "就诊类型": "住院",
        "入院日期": f"2025-03-{day:02d}",
        "出院日期": f"2025-03-{day + 4:02d}",
        "诊断编码": "C16.9",
        "诊断名称": "",
        "医疗总费用": "5000.00",
        "政策范围内费用": "4000.00",
        "单病种编码": "",
        "是否按规定转诊": "是",
    }
    values.update(overrides)
    return [values[h] for h in HEADER]


def _import(user, rows, **kwargs):
    return services.encounter_import(rows=[HEADER, *rows], user=user, **kwargs)


@pytest.fixture
def good_rows(world):
    return [
        _row(world, "ZY1"),
        _row(world, "ZY2", **{"证件号码": world.west_head.id_number, "姓名": "李建国"}),
        _row(
            world,
            "MZ3",
            **{
                "就诊类型": "普通门诊",
                "出院日期": "",
                "医疗机构": world.east_clinic.name,
                "医疗总费用": "80.5",
                "政策范围内费用": "60",
            },
        ),
    ]


def test_import_creates_encounters_with_history_and_queues_each_member_year(
    world, county_user, good_rows, settlement_spy
):
    report = _import(county_user, good_rows, source_name="县医院3月.xlsx")
    assert not report.refused and report.errors == []
    assert (report.rows, report.created, report.member_years) == (3, 3, 2)
    zy1 = Encounter.objects.get(ref="ZY1")
    assert (zy1.member, zy1.institution, zy1.kind) == (world.east_head, world.county_hospital, "inpatient")
    assert zy1.diagnosis_code == "C16.9" and zy1.total_cost == Decimal("5000.00")
    assert zy1.created_by == county_user
    record = zy1.history.get()
    assert record.history_user == county_user and "县医院3月.xlsx" in record.history_change_reason
    assert sorted(settlement_spy.queued) == sorted([(world.east_head.pk, 2025), (world.west_head.pk, 2025)])


def test_reimporting_the_same_file_creates_no_duplicates(world, county_user, good_rows, settlement_spy):
    _import(county_user, good_rows)
    before = Encounter.objects.count(), Encounter.history.count()
    settlement_spy.queued.clear()
    again = _import(county_user, good_rows)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert (Encounter.objects.count(), Encounter.history.count()) == before
    assert settlement_spy.queued == []


def test_a_changed_row_updates_an_unsettled_encounter_but_not_a_settled_one(
    world, county_user, good_rows, settlement_spy
):
    _import(county_user, good_rows)
    changed = [list(r) for r in good_rows]
    changed[0][HEADER.index("医疗总费用")] = "5100.00"
    report = _import(county_user, changed)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    zy1 = Encounter.objects.get(ref="ZY1")
    assert (zy1.total_cost, zy1.version, zy1.history.count()) == (Decimal("5100.00"), 2, 2)

    settlement_spy.settled.add(zy1.pk)
    changed[0][HEADER.index("医疗总费用")] = "5200.00"
    report = _import(county_user, changed)
    assert report.refused and [str(e) for e in report.errors] == [
        "第2行 住院号/流水号: 该记录已结算或已更正，导入不能修改；请在就诊记录页面使用“更正”"
    ]
    assert Encounter.objects.get(ref="ZY1").total_cost == Decimal("5100.00")


UNKNOWN_ID = make_id_number("640221", datetime.date(1980, 1, 1), 21)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"证件号码": UNKNOWN_ID}, "第3行 证件号码: 该证件号码不在建档立卡名册中"),
        ({"医疗机构": "外星医院"}, "第3行 医疗机构: 未知的医疗机构「外星医院」"),
        ({"出院日期": "2025-02-01"}, "第3行 出院日期: 早于入院日期"),
        ({"政策范围内费用": "6000"}, "第3行 政策范围内费用: 不能大于医疗总费用"),
        ({"医疗总费用": "-10"}, "第3行 医疗总费用: 不能为负数"),
        ({"入院日期": "2099-01-01", "出院日期": "2099-01-02"}, "第3行 入院日期: 不能晚于今天"),
        ({"住院号/流水号": "ZY1"}, "第2行 住院号/流水号: 与第3行重复"),
        ({"姓名": "张三"}, "第3行 姓名: 与名册登记的姓名「王秀英」不符"),
    ],
)
def test_each_fault_refuses_the_file_with_its_row_and_column(
    world, county_user, settlement_spy, overrides, expected
):
    rows = [_row(world, "ZY1"), _row(world, "ZY2", **overrides)]
    report = _import(county_user, rows)
    assert report.refused
    assert any(str(e).startswith(expected) for e in report.errors), [str(e) for e in report.errors]
    assert Encounter.objects.filter(ref__in=["ZY1", "ZY2"]).count() == 0
    assert settlement_spy.queued == []


def test_skip_invalid_imports_the_valid_rows(world, county_user, settlement_spy):
    rows = [_row(world, "ZY1"), _row(world, "ZY2", **{"医疗机构": "外星医院"}), _row(world, "ZY3")]
    report = _import(county_user, rows, skip_invalid=True)
    assert not report.refused and report.created == 2 and report.rejected_rows == [3]
    assert set(Encounter.objects.filter(ref__startswith="ZY").values_list("ref", flat=True)) == {"ZY1", "ZY3"}


def test_a_reference_used_by_another_patient_is_an_error(world, county_user, settlement_spy):
    rows = [_row(world, world.west_encounter.ref)]
    report = _import(county_user, rows)
    assert report.refused and "其他患者" in report.errors[0].message


def test_warnings_do_not_stop_the_import(world, county_user, settlement_spy):
    world.east_son.insured = None
    world.east_son.save()
    rows = [
        _row(
            world,
            "MZ1",
            **{
                "姓名": "王小明",
                "证件号码": world.east_son.id_number,
                "就诊类型": "门诊慢特病",
                "出院日期": "",
                "诊断编码": "J06.9",
                "医疗总费用": "100",
                "政策范围内费用": "90",
            },
        )
    ]
    report = _import(county_user, rows)
    assert report.created == 1 and report.errors == []
    assert {w.column for w in report.warnings} == {"证件号码", "诊断编码"}


def test_only_county_staff_import(world, township_user):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        _import(township_user, [])


def _upload(client, path, **data):
    with path.open("rb") as handle:
        return client.post(reverse("claims:import_upload"), {"file": handle, **data})


def test_web_upload_preview_confirm_and_rejected_rows(
    as_user, world, county_user, tmp_path, settlement_spy, django_capture_on_commit_callbacks
):
    rows = [HEADER, _row(world, "ZY1"), _row(world, "ZY2", **{"医疗机构": "外星医院"}), _row(world, "ZY3")]
    path = tmp_path / "出院清单.xlsx"
    write_xlsx(rows, path)
    c = as_user(county_user)
    assert c.get(reverse("claims:import_list")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(c, path, skip_invalid="on")
    assert response.status_code == 302
    job = EncounterImport.objects.get()
    page = c.get(response["Location"]).content.decode()
    assert "预检完成" in page and "第3行" in page and "外星医院" in page
    assert not Encounter.objects.filter(ref__startswith="ZY").exists()

    c.post(reverse("claims:import_confirm", args=[job.pk]))
    outbox_dispatch()  # the sweeper (the test's one transaction never commits)
    job.refresh_from_db()
    assert job.status == "done" and job.result["created"] == 2
    assert "导入完成" in c.get(reverse("claims:import_detail", args=[job.pk])).content.decode()
    assert set(Encounter.objects.filter(ref__startswith="ZY").values_list("ref", flat=True)) == {"ZY1", "ZY3"}
    # Confirming twice does nothing more.
    c.post(reverse("claims:import_confirm", args=[job.pk]))
    outbox_dispatch()
    assert Encounter.objects.filter(ref__startswith="ZY").count() == 2

    sheet = load_workbook(
        io.BytesIO(c.get(reverse("claims:import_rejected", args=[job.pk])).getvalue())
    ).active
    out = list(sheet.iter_rows(values_only=True))
    assert out[0][-2:] == ("错误原因", "原行号") and len(out) == 2
    assert out[1][0] == "ZY2" and "医疗机构: 未知的医疗机构" in out[1][-2] and out[1][-1] == 3
    progress = c.get(reverse("claims:import_progress", args=[job.pk])).json()
    assert progress["done"] is True and progress["percent"] == 100


def test_web_upload_without_skip_is_refused_whole(
    as_user, world, county_user, tmp_path, settlement_spy, django_capture_on_commit_callbacks
):
    path = tmp_path / "bad.xlsx"
    write_xlsx([HEADER, _row(world, "ZY1"), _row(world, "ZY2", **{"出院日期": "2025-01-01"})], path)
    c = as_user(county_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(c, path)
    job = EncounterImport.objects.get()
    assert job.status == "refused"
    assert "整个文件未导入" in c.get(response["Location"]).content.decode()
    assert c.post(reverse("claims:import_confirm", args=[job.pk])).status_code == 302
    job.refresh_from_db()
    assert job.status == "refused" and not Encounter.objects.filter(ref__startswith="ZY").exists()


def test_upload_of_a_non_excel_file_is_refused_by_the_form(as_user, county_user, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("a,b")
    response = _upload(as_user(county_user), path)
    assert response.status_code == 200 and ".xlsx" in response.content.decode()


def test_import_pages_are_for_county_staff(as_user, township_user, supervisor):
    for user in (township_user, supervisor):
        c = as_user(user)
        assert c.get(reverse("claims:import_list")).status_code == 403


def test_template_download_has_the_canonical_header(as_user, township_user):
    response = as_user(township_user).get(reverse("claims:import_template"))
    header = next(load_workbook(io.BytesIO(response.getvalue())).active.iter_rows(values_only=True))
    assert list(header) == HEADER


def test_management_command_dry_run_json_and_skip_invalid(
    world, county_user, tmp_path, capsys, settlement_spy
):
    path = tmp_path / "list.xlsx"
    write_xlsx([HEADER, _row(world, "ZY1"), _row(world, "ZY2", **{"医疗总费用": "-1"})], path)
    with pytest.raises(SystemExit) as caught:
        call_command("import_encounters", str(path))
    assert caught.value.code == 1
    assert "第3行 医疗总费用: 不能为负数" in capsys.readouterr().out
    call_command("import_encounters", str(path), "--skip-invalid", "--dry-run", "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] and report["created"] == 1 and report["rejected_rows"] == [3]
    assert not Encounter.objects.filter(ref__startswith="ZY").exists()
    call_command("import_encounters", str(path), "--skip-invalid")
    assert "新增 1" in capsys.readouterr().out
    assert Encounter.objects.filter(ref="ZY1").exists()
