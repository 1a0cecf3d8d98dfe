import json

from django.core.management.base import BaseCommand, CommandError

from claims import services
from claims.encounter_rows import ITEMS_SHEET
from core.actors import command_user
from core.reader import SpreadsheetRefused, read_named_rows, read_rows


class Command(BaseCommand):
    help = "导入医院出院/就诊清单（.xlsx）。有错误时整个文件不导入（退出码1），除非使用 --skip-invalid。"

    def add_arguments(self, parser):
        parser.add_argument("file", help="就诊清单 .xlsx 文件")
        parser.add_argument("--dry-run", action="store_true", help="只预检，不写入")
        parser.add_argument("--skip-invalid", action="store_true", help="跳过有错误的行，导入其余各行")
        parser.add_argument("--json", action="store_true", help="以JSON输出结果")
        parser.add_argument("--user", help="记录为操作人的用户名（默认：系统（命令行））")

    def handle(self, *args, **options):
        user = command_user(options.get("user"))
        try:
            rows = read_rows(options["file"])
            items = read_named_rows(options["file"], ITEMS_SHEET)
        except SpreadsheetRefused as exc:
            raise CommandError(exc.message) from None
        report = services.encounter_import(
            rows=rows,
            user=user,
            dry_run=options["dry_run"],
            skip_invalid=options["skip_invalid"],
            source_name=options["file"],
            extra_sheet=items,
        )
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, default=str))
        else:
            title = "预检" if report.dry_run else "导入"
            if report.refused:
                self.stdout.write(f"{title}被拒绝：发现 {len(report.errors)} 处错误，未写入任何数据。")
            else:
                self.stdout.write(f"{title}完成：共 {report.rows} 行。")
            self.stdout.write(
                f"  新增 {report.created}，更新 {report.updated}，未变 {report.unchanged}，"
                f"跳过 {report.rows_skipped}；涉及 {report.member_years} 个人·年度待结算"
            )
            for error in report.errors:
                self.stdout.write(f"  {error}")
            for warning in report.warnings[:100]:
                self.stdout.write(f"  提示 {warning}")
        if report.refused:
            raise SystemExit(1)
