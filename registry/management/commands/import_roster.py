import json

from django.core.management.base import BaseCommand, CommandError

from core.actors import command_user
from core.reader import SpreadsheetRefused, read_rows
from registry import services


class Command(BaseCommand):
    help = "导入贫困人口花名册（.xlsx）。有错误时整个文件不导入（退出码1），除非使用 --skip-invalid。"

    def add_arguments(self, parser):
        parser.add_argument("file", help="花名册 .xlsx 文件")
        parser.add_argument("--dry-run", action="store_true", help="只预检，不写入")
        parser.add_argument("--skip-invalid", action="store_true", help="跳过有错误的户，导入其余各户")
        parser.add_argument("--create-areas", action="store_true", help="自动创建未知的乡镇和行政村")
        parser.add_argument("--json", action="store_true", help="以JSON输出结果")
        parser.add_argument("--user", help="记录为操作人的用户名（默认：系统（命令行））")

    def handle(self, *args, **options):
        user = command_user(options.get("user"))
        try:
            rows = read_rows(options["file"])
        except SpreadsheetRefused as exc:
            raise CommandError(exc.message) from None
        report = services.roster_import(
            rows=rows,
            user=user,
            dry_run=options["dry_run"],
            skip_invalid=options["skip_invalid"],
            create_areas=options["create_areas"],
            source_name=options["file"],
        )
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, default=str))
        else:
            self._print(report)
        if report.refused:
            raise SystemExit(1)

    def _print(self, report):
        out = self.stdout
        title = "预检" if report.dry_run else "导入"
        if report.refused:
            out.write(f"{title}被拒绝：发现 {len(report.errors)} 处错误，未写入任何数据。")
        else:
            out.write(f"{title}完成：共 {report.rows} 行。")
        out.write(
            f"  新建户 {report.households_created}，更新户 {report.households_updated}，"
            f"未变户 {report.households_unchanged}"
        )
        out.write(
            f"  新建成员 {report.members_created}，更新成员 {report.members_updated}"
            f"（其中迁户 {report.members_moved}），未变成员 {report.members_unchanged}"
        )
        out.write(f"  跳过行 {report.rows_skipped}")
        for error in report.errors:
            out.write(f"  {error}")
        if report.absent_members:
            out.write(f"  名册中缺少的在册成员（未删除）{len(report.absent_members)} 人：")
            for absent in report.absent_members[:50]:
                out.write(f"    户 {absent['household']} {absent['name']}")
