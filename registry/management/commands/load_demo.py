"""Loads the demo county used by `make run`: townships, villages, ~300 households, one login
per role, institutions and the disease catalogue, a year of illnesses, contracts, follow-ups
and encounters, the demo policy, and their settlements. Safe to run again: what exists is
left alone."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from claims.demo import load_demo_claims
from dashboards.services import aggregates_refresh
from registry import services
from registry.demo import DEMO_TOWNSHIPS, synthetic_roster
from registry.models import Household, Profile, Role, Township
from settlement.demo import load_demo_settlement

DEMO_USERS = (
    # username, password, role, township, display name
    ("county", "county-demo-2025", Role.COUNTY, None, "县医保局 张科长"),
    ("clinic", "clinic-demo-2025", Role.TOWNSHIP, DEMO_TOWNSHIPS[0], f"{DEMO_TOWNSHIPS[0]}卫生院 李医生"),
    ("leader", "leader-demo-2025", Role.SUPERVISOR, None, "分管副县长 王县长"),
)


class Command(BaseCommand):
    help = "载入演示县数据（乡镇、村、约300户、三个角色的演示账号）。可重复运行。"

    def add_arguments(self, parser):
        parser.add_argument("--households", type=int, default=300)

    @transaction.atomic
    def handle(self, *args, **options):
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
        if not Household.objects.exists():
            rows = synthetic_roster(options["households"], seed=2025, townships=list(DEMO_TOWNSHIPS))
            report = services.roster_import(
                rows=rows, user=county, create_areas=True, source_name="演示县花名册"
            )
            self.stdout.write(
                f"已导入演示名册：{report.households_created} 户，{report.members_created} 人。"
            )
        year = timezone.localdate().year
        claims = load_demo_claims(user=county, year=year)
        self.stdout.write(f"就诊与救治演示数据：{claims['encounters']} 条就诊记录（{year}年）。")
        settled = load_demo_settlement(user=county)
        self.stdout.write(f"已结算演示就诊：{', '.join(f'{y}年' for y in sorted(settled))}。")
        aggregates_refresh()
        for username, password, role, township_name, display in DEMO_USERS[1:]:
            if User.objects.filter(username=username).exists():
                continue
            user = User.objects.create_user(username, password=password, first_name=display)
            township = Township.objects.get(name=township_name) if township_name else None
            Profile.objects.create(user=user, role=role, township=township)
        self.stdout.write("")
        self.stdout.write("演示账号（仅供演示，正式使用前请删除或修改密码）：")
        for username, password, role, township_name, _display in DEMO_USERS:
            scope = f"，限{township_name}" if township_name else ""
            self.stdout.write(f"  {Role(role).label}{scope}：用户名 {username}  密码 {password}")
        self.stdout.write("打开 http://127.0.0.1:8000 登录。")
