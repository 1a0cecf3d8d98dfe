from django.core.management.base import BaseCommand, CommandError

from core.actors import command_user
from settlement import services
from settlement.models import PolicyStatus

from ._common import error_lines, read_json


class Command(BaseCommand):
    help = (
        "导入（校验并保存）结算政策文件。新编码保存为草稿；--activate 同时启用（停用同年度原生效政策，"
        "并重新结算该年度）。同编码的草稿被新文件替换；生效政策需 --replace。"
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="POLICY.json")
        parser.add_argument("--activate", action="store_true", help="导入后立即启用")
        parser.add_argument(
            "--replace", action="store_true", help="替换同编码的生效/停用政策（生效政策修改后重新结算该年度）"
        )
        parser.add_argument("--user", help="记录为操作人的用户名（默认：系统（命令行））")

    def handle(self, *args, **options):
        user = command_user(options.get("user"))
        document = read_json(options["file"], "policy")
        try:
            policy = services.policy_import(
                user=user,
                document=document,
                status=PolicyStatus.ACTIVE if options["activate"] else PolicyStatus.DRAFT,
                replace=options["replace"],
            )
        except services.SettlementError as exc:
            raise CommandError(error_lines(options["file"], exc), returncode=1)
        self.stdout.write(
            f"已导入政策「{policy.name}」（{policy.code}，{policy.year}年度），"
            f"状态：{policy.get_status_display()}。"
        )
