"""The demo county's aid applications (``make run``): in each township, a few people with
settled stays have applied — one by themselves, one through the village cadre (代办) — at
different steps, one of them past its deadline. Called by ``load_demo`` after settlement."""

from __future__ import annotations

import datetime

from claims.models import Encounter
from registry.models import Township

from . import selectors, services
from .models import AidApplication, AidKind, Applicant


def load_demo_aid(*, user) -> int:
    if AidApplication.objects.exists():
        return 0
    today = selectors.today()
    made = 0
    for township in Township.objects.order_by("name"):
        stays = list(
            Encounter.objects.filter(
                is_current=True, kind="inpatient", member__household__village__township=township
            )
            .select_related("member")
            .order_by("id")[:40]
        )
        seen, chosen = set(), []
        for stay in stays:
            if stay.member_id not in seen:
                seen.add(stay.member_id)
                chosen.append(stay)
            if len(chosen) == 2:
                break
        for index, stay in enumerate(chosen):
            proxy = index == 0
            application = services.aid_application_submit(
                user=user,
                member=stay.member,
                kind=AidKind.APPLIED,
                reason=f"{stay.service_date:%Y年%m月}住院，个人自付负担重，申请医疗救助。",
                encounters=[stay],
                applicant=Applicant.PROXY if proxy else Applicant.SELF,
                proxy_name="村委会主任" if proxy else "",
                proxy_phone="13900000000" if proxy else "",
                received_on=today - datetime.timedelta(days=20 if proxy else 2),
            )
            if not proxy:
                services.aid_application_township_review(user=user, application=application, note="材料齐全")
            made += 1
    return made
