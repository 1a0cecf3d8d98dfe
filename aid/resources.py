"""The Excel export of the applications list (``core.export.Sheet``); ID numbers masked."""

from core.export import Sheet
from registry.idnumber import mask_id_number

from . import selectors

ApplicationResource = Sheet(
    [
        ("申请编号", "number"),
        ("乡镇", "member.household.village.township.name"),
        ("行政村", "member.household.village.name"),
        ("户编号", "member.household.number"),
        ("姓名", "member.name"),
        ("证件号码", lambda o: mask_id_number(o.member.id_number)),
        ("救助类型", lambda o: o.get_kind_display()),
        ("申请方式", lambda o: o.get_applicant_display()),
        ("代办人", "proxy_name"),
        ("状态", lambda o: o.get_status_display()),
        ("受理日期", "received_on"),
        ("给付期限", "due_on"),
        ("超期", lambda o: "是" if selectors.is_overdue(o) else ""),
        ("救助金额", "amount", "money"),
        ("给付日期", "paid_on"),
    ]
)
