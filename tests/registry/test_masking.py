"""Attack 1 (docs/security.md): rebuild full ID numbers from what a masked role can read.

The old mask hid exactly the birth date (characters 7–14) and the birth date was shown beside
it, so every number of a township could be rebuilt from the member export. Here a supervisor
and a township clinic collect everything they can read about a township's people — list and
record pages, the edit form, the API (lists and records), the Excel exports — and try to
rebuild each number: fill the masked characters from any full birth date they saw for that
person and keep the candidates whose check character is right. Not one number may come out.
"""

import datetime
import itertools
import json
import re

import pytest
from django.urls import reverse

from registry.idnumber import check_digit, make_id_number, mask_id_number
from tests.factories import HouseholdFactory, MemberFactory
from tests.sheets import workbook

BIRTHS = [
    datetime.date(1975, 3, 14),
    datetime.date(1948, 11, 2),
    datetime.date(1990, 7, 29),
    datetime.date(2012, 1, 5),
    datetime.date(1963, 9, 30),
]


@pytest.fixture
def township_people(areas):
    members = []
    for n, birth in enumerate(BIRTHS):
        household = HouseholdFactory(village=areas["east_village"], number=f"E{n:03d}")
        sex = "M" if n % 2 else "F"
        members.append(
            MemberFactory(
                household=household,
                name=f"张{n}",
                sex=sex,
                birth_date=birth,
                id_number=make_id_number("640221", birth, 100 + 2 * n + (sex == "M"), sex),
                relation="head",
            )
        )
    return members


def _xlsx_text(response):
    rows = workbook(response).active.iter_rows(values_only=True)
    return "\n".join("\t".join("" if v is None else str(v) for v in row) for row in rows)


def _everything_readable(client, user, members):
    """All the text ``user`` can get about ``members``: pages, forms, API, exports."""
    client.force_login(user)
    texts = []

    def get(url, params=None):
        response = client.get(url, params or {})
        if response.status_code != 200:
            return
        if response["Content-Type"].startswith("application/vnd.openxmlformats"):
            texts.append(_xlsx_text(response))
        else:
            texts.append(response.content.decode())

    for name in ("registry:member_list", "registry:household_list"):
        get(reverse(name))
        get(reverse(name), {"export": "xlsx"})
    get("/api/v1/registry/members/")
    get("/api/v1/registry/households/")
    for member in members:
        get(reverse("registry:member_detail", args=[member.pk]))
        get(reverse("registry:member_edit", args=[member.pk]))
        get(reverse("registry:household_detail", args=[member.household_id]))
        get(f"/api/v1/registry/members/{member.pk}/")
    return "\n".join(texts)


def _full_dates_seen(text, year):
    """Every full date of ``year`` written in ``text`` in any usual way."""
    found = set()
    patterns = [
        rf"{year}-(\d{{1,2}})-(\d{{1,2}})",
        rf"{year}/(\d{{1,2}})/(\d{{1,2}})",
        rf"{year}年(\d{{1,2}})月(\d{{1,2}})日",
        rf"{year}(\d\d)(\d\d)",
    ]
    for pattern in patterns:
        for month, day in re.findall(pattern, text):
            try:
                found.add(datetime.date(year, int(month), int(day)))
            except ValueError:
                pass
    return found


def _rebuild(masked, births, region="640221"):
    """The numbers consistent with ``masked``, the county's region code (public) and one of the
    full ``births``: hidden characters left are tried digit by digit, the check character
    filters."""
    candidates = set()
    for birth in births:
        pattern = list(masked)
        for i, ch in enumerate(region + f"{birth:%Y%m%d}"):  # characters 1–14
            if pattern[i] not in ("*", ch):
                break
            pattern[i] = ch
        else:
            holes = [i for i, ch in enumerate(pattern[:17]) if ch == "*"]
            if len(holes) > 4:  # 10**5 candidates or more per person
                continue
            for digits in itertools.product("0123456789", repeat=len(holes)):
                for i, d in zip(holes, digits):
                    pattern[i] = d
                first17 = "".join(pattern[:17])
                if pattern[17] in ("*", check_digit(first17)):
                    candidates.add(first17 + check_digit(first17))
    return candidates


@pytest.mark.parametrize("role", ["supervisor", "township_user"])
def test_masked_roles_cannot_rebuild_id_numbers(client, request, role, township_people):
    user = request.getfixturevalue(role)
    text = _everything_readable(client, user, township_people)
    rebuilt = 0
    for member in township_people:
        number = member.id_number
        assert number not in text
        masked = mask_id_number(number)
        assert masked in text  # the masked form is what the role reads
        births = _full_dates_seen(text, member.birth_date.year)
        assert member.birth_date not in births, f"{member.name}的完整出生日期可见"
        if _rebuild(masked, births) == {number}:
            rebuilt += 1
    assert rebuilt == 0


def test_mask_alone_leaves_too_many_candidates():
    """Even someone who knows the county's region code and learnt the birth date elsewhere
    cannot finish the number: two digits of the sequence stay hidden (about 9 candidates),
    and with the birth year alone some 3,300. The old mask (first 6, last 4) with the birth
    date beside it gave exactly one."""
    number = make_id_number("640221", BIRTHS[0], 123, "M")
    masked = mask_id_number(number)
    assert masked == number[:3] + "*" * 13 + number[-2:]
    assert number in _rebuild(masked, {BIRTHS[0]}) and len(_rebuild(masked, {BIRTHS[0]})) > 5
    old_mask = number[:6] + "*" * 8 + number[14:]
    assert _rebuild(old_mask, {BIRTHS[0]}) == {number}


def test_county_staff_see_the_full_number_and_birth_date_on_a_record(client, county_user, township_people):
    member = township_people[0]
    client.force_login(county_user)
    page = client.get(reverse("registry:member_detail", args=[member.pk])).content.decode()
    assert member.id_number in page and "1975-03-14" in page
    record = client.get(f"/api/v1/registry/members/{member.pk}/").json()
    assert record["id_number"] == member.id_number and record["birth_date"] == "1975-03-14"
    # Lists and exports stay masked for county staff too.
    listing = client.get("/api/v1/registry/members/").json()
    assert member.id_number not in json.dumps(listing)
    assert all(row["birth_date"] is None and row["birth_year"] for row in listing["results"])


@pytest.mark.parametrize("role", ["supervisor", "township_user"])
def test_prefix_searches_are_no_oracle(client, request, role, township_people):
    """Searching the beginning of a number digit by digit would rebuild it: masked roles find
    a person only by the whole number they typed."""
    member = township_people[0]
    client.force_login(request.getfixturevalue(role))
    for prefix in (member.id_number[:6], member.id_number[:14], member.id_number[:17]):
        listing = client.get(reverse("registry:member_list"), {"q": prefix}).content.decode()
        assert member.name not in listing
        api = client.get("/api/v1/registry/members/", {"q": prefix}).json()
        assert api["count"] == 0
    listing = client.get(reverse("registry:member_list"), {"q": member.id_number}).content.decode()
    assert member.name in listing


def test_clinic_edit_form_keeps_the_number_it_cannot_see(client, township_user, township_people):
    member = township_people[0]
    client.force_login(township_user)
    url = reverse("registry:member_edit", args=[member.pk])
    form = {
        "name": "张新名",
        "id_number": "",
        "relation": "head",
        "ethnicity": "",
        "phone": "",
        "health_status": "healthy",
        "insured": "true",
        "aid_category": "none",
        "version": member.version,
    }
    assert client.post(url, form).status_code == 302
    before = member.id_number
    member.refresh_from_db()
    assert member.name == "张新名" and member.id_number == before
    # The API takes back the masked number it handed out as "unchanged".
    record = client.get(f"/api/v1/registry/members/{member.pk}/").json()
    response = client.patch(
        f"/api/v1/registry/members/{member.pk}/",
        {"id_number": record["id_number"], "phone": "13900000000", "version": record["version"]},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    member.refresh_from_db()
    assert member.id_number == before and member.phone == "13900000000"
