"""The registry's part of the demo county (core/demo.py): the three demo logins and a
synthetic roster of the demo townships."""

from django.contrib.auth import get_user_model

from core.demo import Demo

from . import services
from .demo import DEMO_TOWNSHIPS, synthetic_roster
from .models import Household, Profile, Role, Township

DEMO_USERS = (
    # username, password, role, township, display name
    ("county", "county-demo-2025", Role.COUNTY, None, "县医保局 张科长"),
    ("clinic", "clinic-demo-2025", Role.TOWNSHIP, DEMO_TOWNSHIPS[0], f"{DEMO_TOWNSHIPS[0]}卫生院 李医生"),
    ("leader", "leader-demo-2025", Role.SUPERVISOR, None, "分管副县长 王县长"),
)


def demo_load(demo: Demo) -> None:
    User = get_user_model()
    county = User.objects.filter(username="county").first()
    if county is None:
        county = User.objects.create_user(
            "county",
            password=DEMO_USERS[0][1],
            is_staff=True,
            is_superuser=True,
            first_name=DEMO_USERS[0][4],
        )
        Profile.objects.create(user=county, role=Role.COUNTY)
    demo.user = county
    if not Household.objects.exists():
        rows = synthetic_roster(demo.households, seed=2025, townships=list(DEMO_TOWNSHIPS))
        report = services.roster_import(rows=rows, user=county, create_areas=True, source_name="演示县花名册")
        demo.say(f"已导入演示名册：{report.households_created} 户，{report.members_created} 人。")
    for username, password, role, township_name, display in DEMO_USERS[1:]:
        if User.objects.filter(username=username).exists():
            continue
        user = User.objects.create_user(username, password=password, first_name=display)
        township = Township.objects.get(name=township_name) if township_name else None
        Profile.objects.create(user=user, role=role, township=township)
    demo.notes.append("演示账号（仅供演示，正式使用前请删除或修改密码）：")
    for username, password, role, township_name, _display in DEMO_USERS:
        scope = f"，限{township_name}" if township_name else ""
        demo.notes.append(f"  {Role(role).label}{scope}：用户名 {username}  密码 {password}")
    demo.notes.append("打开 http://127.0.0.1:8000 登录。")
