import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from settlement import services

from ._common import error_lines, read_json


class Command(BaseCommand):
    help = (
        "按政策试算就诊记录的结算结果（一站式结算预览），以JSON数组按输入顺序输出，不写入数据库。"
        "输入有误时退出码为1，错误信息（指明字段）写到标准错误。"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--policy",
            required=True,
            metavar="POLICY.json|CODE",
            help="政策文件（JSON），或数据库中已存储政策的编码",
        )
        parser.add_argument("claims", metavar="CLAIMS.json", help='{"members": {...}, "encounters": [...]}')

    def handle(self, *args, **options):
        policy = options["policy"]
        document = code = None
        if Path(policy).is_file():
            document = read_json(policy, "policy")
        else:
            code = policy
        claims = read_json(options["claims"], "claims")
        try:
            results = services.settlement_preview(claims=claims, document=document, code=code)
        except services.SettlementError as exc:
            if exc.source == "claims":
                message = error_lines(options["claims"], exc)
            elif document is not None:
                message = error_lines(policy, exc)
            elif exc.source == "policy":
                message = error_lines(f"policy {code}", exc)
            else:
                message = f"--policy {code}：既不是政策文件，也不是已存政策的编码"
            raise CommandError(message, returncode=1)
        self.stdout.write(json.dumps(results, ensure_ascii=False, indent=1))
