import json

from django.core.management.base import BaseCommand

from claims import review
from claims.models import ReviewRule


class Command(BaseCommand):
    help = "对一个年度的全部当前有效就诊记录重新运行智能审核规则（批量），只改写审核提示有变化的记录。"

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, required=True, help="年度（按结算日期）")
        parser.add_argument("--json", action="store_true", help="以JSON输出结果")

    def handle(self, *args, **options):
        result = review.review_year(year=options["year"])
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False))
            return
        names = dict(ReviewRule.objects.values_list("code", "name"))
        self.stdout.write(
            f"{result.year}年度：审核 {result.encounters} 条就诊记录，{result.flagged} 条有审核提示"
            f"（共 {result.flags} 条提示），改写 {result.changed} 条记录的提示。"
        )
        for code, count in sorted(result.by_rule.items()):
            self.stdout.write(f"  {names.get(code, code)}：{count}")
