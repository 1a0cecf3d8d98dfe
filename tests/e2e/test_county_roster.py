"""County staff import a roster with one bad row, download the rejected rows, fix them and
import them again — in a real browser, against gunicorn + a Celery worker."""

import copy

from openpyxl import load_workbook

from registry import roster
from registry.demo import synthetic_roster, write_xlsx
from registry.models import Household, Member
from tests.e2e.conftest import login, wait_for_text

COL = {name: i for i, name in enumerate(roster.CANONICAL_HEADERS)}


def wait_for_status(page, status):
    """Wait for the job's status line (the page reloads itself when the job is done); the
    progress bar's own label may say 完成 a moment before."""
    page.wait_for_selector(f"#job-status:has-text('{status}')", timeout=60_000)


def test_county_imports_fixes_and_reimports(live_app, browser_page, steps, county_user, tmp_path):
    page = browser_page
    rows = synthetic_roster(15, seed=21)
    bad = copy.deepcopy(rows)
    good_id = bad[3][COL["证件号码"]]
    bad[3][COL["证件号码"]] = good_id[:-1] + ("0" if good_id[-1] != "0" else "1")
    bad_household = bad[3][COL["户编号"]]
    path = tmp_path / "花名册-有错.xlsx"
    write_xlsx(bad, path)

    login(page, live_app, "county")
    steps.shot("logged-in")
    page.goto(live_app + "/registry/imports/")
    page.set_input_files("input[name=file]", str(path))
    page.check("input[name=create_areas]")
    page.check("input[name=skip_invalid]")
    steps.shot("upload-form")
    page.click("button:has-text('上传并预检')")
    wait_for_status(page, "预检完成")
    assert "校验位错误" in page.content()
    steps.shot("preview-with-error")

    page.click("button:has-text('确认导入')")
    wait_for_status(page, "导入完成")
    steps.shot("imported")
    assert not Household.objects.filter(number=bad_household).exists()
    imported = Household.objects.count()
    assert imported == len({r[COL["户编号"]] for r in bad[1:]}) - 1

    with page.expect_download() as download:
        page.click("a:has-text('下载未导入的行')")
    rejected_path = tmp_path / "rejected.xlsx"
    download.value.save_as(rejected_path)
    sheet = load_workbook(rejected_path).active
    rejected = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rejected[0][-2:] == ["错误原因", "原行号"]
    # Fix the ID number, drop the error and row-number columns, upload again.
    fixed = [rejected[0][:-2]]
    for row in rejected[1:]:
        row = row[:-2]
        if row[COL["证件号码"]] == bad[3][COL["证件号码"]]:
            row[COL["证件号码"]] = good_id
        fixed.append(row)
    fixed_path = tmp_path / "花名册-已改正.xlsx"
    write_xlsx(fixed, fixed_path)
    page.goto(live_app + "/registry/imports/")
    page.set_input_files("input[name=file]", str(fixed_path))
    # The rejected household's village was not created with the first file (nothing of an
    # invalid household is written), so it is created now.
    page.check("input[name=create_areas]")
    page.click("button:has-text('上传并预检')")
    wait_for_status(page, "预检完成")
    steps.shot("fixed-preview")
    page.click("button:has-text('确认导入')")
    wait_for_status(page, "导入完成")
    steps.shot("fixed-imported")
    assert Household.objects.filter(number=bad_household).exists()
    assert Member.objects.count() == len(rows) - 1

    page.goto(live_app + f"/registry/households/?q={bad_household}")
    page.click(f"text={bad_household}")
    wait_for_text(page, "修改记录")
    steps.shot("household-history")
