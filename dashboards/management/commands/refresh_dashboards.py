from django.core.management.base import BaseCommand

from dashboards import services


class Command(BaseCommand):
    help = "重建统计与公示页面的汇总数据（默认：今年和去年）。"

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, action="append", help="年度，可重复；默认今年和去年")

    def handle(self, *args, year=None, **options):
        result = services.aggregates_refresh(years=year)
        self.stdout.write(
            f"已刷新 {'、'.join(map(str, result.years))} 年：{result.cells} 行，用时 {result.seconds:.1f} 秒"
        )
