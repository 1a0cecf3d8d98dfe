import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from settlement import services


class Command(BaseCommand):
    help = "导出已存储的结算政策文件（JSON，含义与导入时相同）。"

    def add_arguments(self, parser):
        parser.add_argument("code", help="政策编码")
        parser.add_argument("-o", "--output", metavar="FILE", help="写入文件（默认：标准输出）")

    def handle(self, *args, **options):
        try:
            document = services.policy_export(code=options["code"])
        except services.SettlementError as exc:
            raise CommandError(exc.message, returncode=1)
        text = json.dumps(document, ensure_ascii=False, indent=2)
        if options["output"]:
            Path(options["output"]).write_text(text + "\n", encoding="utf-8")
            self.stderr.write(f"已写入 {options['output']}")
        else:
            self.stdout.write(text)
