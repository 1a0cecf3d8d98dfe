"""Loads the demo county used by `make run`: each app's part in turn (core/demo.py) —
townships, villages, ~300 households and one login per role (registry), institutions, the
catalogue and a year of illnesses, contracts, follow-ups and encounters (claims), the demo
policy and the settlements (settlement), the dashboards' figures (dashboards). Safe to run
again: what exists is left alone."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from core.demo import load_demo


class Command(BaseCommand):
    help = "载入演示县数据（乡镇、村、约300户、三个角色的演示账号，就诊、结算与统计）。可重复运行。"

    def add_arguments(self, parser):
        parser.add_argument("--households", type=int, default=300)

    def handle(self, *args, **options):
        demo = load_demo(households=options["households"], year=timezone.localdate().year)
        for line in [*demo.said, "", *demo.notes]:
            self.stdout.write(line)
