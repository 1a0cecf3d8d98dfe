"""A village cadre's 代办 application in a real browser: the township clinic receives it (受理)
with the cadre's name and phone and a photo of the invoice, reviews it (乡镇审核); county
staff see the amount the policy's 倾斜救助 rule gives, approve it (县级审批), print the 审批表
on A4, and find it among the cases approved and awaiting payment. Then the money moves: one
county clerk drafts the medical-aid fund's payment batch, a second checks it, a third approves
it, the bank file is exported (the full account number, the approved amount), and the bank's
reference marks the line paid — the application is 已给付."""

import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from aid.models import AidApplication, AidStatus
from payments import services as payments_services
from payments.models import BankFileColumn, BankFileLayout
from tests.e2e.conftest import ARTIFACTS, login, wait_for_text
from tests.factories import (
    EncounterFactory,
    HouseholdFactory,
    InstitutionFactory,
    MemberFactory,
    make_settlement,
    make_user,
    policy_for,
)
from tests.sheets import workbook_bytes

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def aid_case(areas, county_user, township_user):
    """A poor household of 城关镇一村 (yearly income 15000.00) whose head's stay was settled
    with 12345.67 yuan self-pay, under a policy of that year with a 倾斜救助 rule."""
    stay_end = timezone.localdate() - datetime.timedelta(days=10)
    # The year's active policy (the one the stay is settled under) with its aid section.
    policy = policy_for(stay_end.year)
    policy.document = {
        **policy.document,
        "aid": {
            "tilted": {
                "kind": "income_tested",
                "name": "倾斜救助（自付超过家庭年收入50%）",
                "threshold_share_of_income": 0.50,
                "rate": 0.70,
                "cap": 20000,
            }
        },
    }
    policy.save()
    household = HouseholdFactory(
        village=areas["east_village"], number="640221009001", annual_income=Decimal("15000.00")
    )
    patient = MemberFactory(household=household, name="韩立春", relation="head")
    stay = EncounterFactory(
        member=patient,
        institution=InstitutionFactory(name="宁夏医科大学总医院", level="province"),
        kind="inpatient",
        admission_date=stay_end - datetime.timedelta(days=9),
        discharge_date=stay_end,
        total_cost=Decimal("40000.00"),
        in_policy_cost=Decimal("36000.00"),
    )
    make_settlement(stay, {"basic_insurance": Decimal("27654.33")})  # self-pay 12345.67
    # The money side: the civil-affairs medical-aid account with this year's allocation, the
    # bank's file layout, the patient's 社保卡 and two more county clerks (four eyes).
    fund = payments_services.fund_create(user=county_user, code="JZ", name="医疗救助资金专户")
    payments_services.fund_income_record(
        user=county_user,
        fund=fund,
        kind="appropriation",
        received_on=stay_end.replace(month=1, day=1),
        amount="200000.00",
        document_number="民财〔2026〕8号",
    )
    layout = BankFileLayout.objects.create(name="农商银行代发", bank_name="农商银行", file_format="xlsx")
    for position, (header, field) in enumerate(
        [("收款账号", "account_number"), ("收款户名", "account_name"), ("金额", "amount")], start=1
    ):
        BankFileColumn.objects.create(layout=layout, position=position, header=header, field=field)
    payments_services.bank_account_save(
        user=county_user,
        household=household,
        member=patient,
        kind="social_card",
        bank_name="农商银行",
        account_name="韩立春",
        account_number="6217000012345678901",
    )
    make_user("checker", "county")
    make_user("approver", "county")
    return SimpleNamespace(patient=patient, stay=stay)


def test_proxy_application_through_county_approval(live_app, browser_page, steps, aid_case, tmp_path):
    page, base = browser_page, live_app
    login(page, base, "clinic")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="医疗救助").click()
    page.get_by_role("link", name="受理申请").click()
    page.get_by_label("申请人").fill("韩立春")
    page.get_by_role("button", name="查找").click()
    page.get_by_role("link", name="韩立春").click()
    page.get_by_label("救助类型").select_option(label="倾斜救助")
    page.get_by_label("申请事由").fill("在区外住院，自付费用超过家庭年收入一半，村干部代为申请倾斜救助。")
    page.get_by_label(aid_case.stay.ref, exact=False).check()
    page.get_by_label("申请方式").select_option(label="村干部代办")
    page.get_by_label("代办村干部姓名").fill("刘志强")
    page.get_by_label("代办人联系电话").fill("13995001234")
    steps.shot("form")
    page.get_by_role("button", name="受理").click()
    wait_for_text(page, "已受理。")
    assert page.locator("#application-status").inner_text() == "已受理"
    assert "村干部代办：刘志强（13995001234）" in page.content()

    photo = tmp_path / "发票.png"
    photo.write_bytes(PNG)
    page.get_by_label("材料类型").select_option(label="发票")
    page.get_by_label("文件").set_input_files(str(photo))
    page.get_by_role("button", name="上传").click()
    wait_for_text(page, "材料已上传。")
    assert page.locator("#documents img").count() == 1  # shown inline, through the role-checked view

    page.get_by_label("审核意见").fill("发票与出院小结核对无误")
    page.get_by_role("button", name="审核通过，报县级审批").click()
    wait_for_text(page, "乡镇审核已完成")
    assert page.locator("#application-status").inner_text() == "乡镇已审核"
    steps.shot("reviewed")
    detail = page.url

    page.context.clear_cookies()
    login(page, base, "county")
    page.goto(detail)
    # By hand: income 15000.00 × 50% = 7500.00; 12345.67 − 7500.00 = 4845.67;
    # × 70% = 3391.969 → 3391.97 (below the cap of 20000).
    wait_for_text(page, "审批金额：3,391.97 元")
    page.get_by_label("审批意见").fill("同意")
    page.get_by_role("button", name="批准").click()
    wait_for_text(page, "县级审批已完成，等待给付。")
    assert page.locator("#application-status").inner_text() == "县级已审批（待给付）"
    assert page.locator("#application-amount").inner_text() == "3,391.97 元"
    steps.shot("approved")

    page.get_by_role("link", name="审批表").click()
    wait_for_text(page, "医疗救助审批表")
    text = page.locator(".statement").inner_text()
    assert "倾斜救助（自付超过家庭年收入50%）" in text and "家庭年收入 15000.00 元 × 50% = 7500.00 元" in text
    assert "4845.67 × 70% = 3391.97 元" in text and "叁仟叁佰玖拾壹元玖角柒分" in text
    page.emulate_media(media="print")
    steps.shot("statement-print")
    pdf = page.pdf(format="A4", print_background=True)
    (ARTIFACTS / "aid-statement.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF")
    page.emulate_media(media="screen")

    page.goto(base + "/aid/?status=approved")
    row = page.locator(f"tr[data-application='{AidApplication.objects.get().number}']")
    assert "县级已审批（待给付）" in row.inner_text() and "3,391.97" in row.inner_text()
    steps.shot("awaiting-payment")

    # 拨付: drafted by one clerk, checked by another, approved by a third, then the bank file.
    page.goto(base + "/payments/batches/new/")
    page.get_by_label("资金").select_option(label="医疗救助资金专户")
    page.get_by_role("button", name="保存").click()
    wait_for_text(page, "拨付批次已起草")
    batch = page.url
    row = page.locator("#line-table tbody tr").filter(has_text="韩立春")
    assert "医疗救助给付" in row.inner_text() and "3,391.97" in row.inner_text()
    assert "6217000012345678901" not in page.content()  # masked on screen
    for clerk, button in (("checker", "复核通过"), ("approver", "审批通过")):
        page.context.clear_cookies()
        login(page, base, clerk)
        page.goto(batch)
        page.get_by_role("button", name=button).click()
        page.wait_for_load_state()
    steps.shot("batch-approved")
    page.get_by_label("银行代发版式").select_option(label="农商银行代发")
    with page.expect_download() as download:
        page.get_by_role("button", name="导出代发文件").click()
    sheet = workbook_bytes(download.value.path().read_bytes()).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True) if any(r)]
    paid_row = next(r for r in rows if "韩立春" in r)
    assert "6217000012345678901" in paid_row and Decimal(str(paid_row[2])) == Decimal("3391.97")

    page.goto(batch)
    row = page.locator("#line-table tbody tr").filter(has_text="韩立春")
    row.get_by_label("银行流水号").fill("NSH20261201001")
    row.get_by_label("支付日期").fill(timezone.localdate().isoformat())
    row.get_by_role("button", name="已支付").click()
    page.wait_for_load_state()
    application = AidApplication.objects.get()
    assert (application.status, application.payment_reference) == (AidStatus.PAID, "NSH20261201001")
    steps.shot("paid")
