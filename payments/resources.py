"""Excel exports of the payments lists (``core.export`` sheets). Account numbers are masked
here as on the pages: only the bank file carries them in full."""

from core.export import Sheet

from .masking import mask_account_number

LINE_SHEET = Sheet(
    [
        ("批次", "batch_id", "plain"),
        ("资金", "batch.fund.name"),
        ("序号", "position", "plain"),
        ("类型", lambda o: o.get_kind_display()),
        ("收款方", "payee_name"),
        ("乡镇", "township.name"),
        ("所属年度", "period_year"),
        ("所属月份", "period_month", "plain"),
        ("开户银行", "bank_name"),
        ("账号", lambda o: mask_account_number(o.account_number)),
        ("金额", "amount", "money"),
        ("用途", "purpose"),
        ("状态", lambda o: o.get_status_display()),
        ("支付日期", "paid_on"),
        ("银行流水号", "bank_reference"),
        ("退票原因", "return_reason"),
    ]
)

ACCOUNT_SHEET = Sheet(
    [
        ("户编号", "household.number"),
        ("乡镇", "household.village.township.name"),
        ("持卡成员", lambda o: o.member.name if o.member_id else "全户"),
        ("账户类型", lambda o: o.get_kind_display()),
        ("开户银行", "bank_name"),
        ("户名", "account_name"),
        ("账号", lambda o: mask_account_number(o.account_number)),
        ("在用", "active"),
    ]
)
