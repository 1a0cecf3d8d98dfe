import json
import time

from django.core.management.base import BaseCommand, CommandError

from core.actors import command_user
from settlement import services
from settlement.models import SettlementRun


class Command(BaseCommand):
    help = (
        "全县批量结算一个年度（按生效政策；只写入有变化的结算）。默认交给 Celery 执行；"
        "--wait 等待完成并输出结果，--inline 在本进程内执行（无需 worker）。"
    )

    def add_arguments(self, parser):
        parser.add_argument("year", type=int)
        parser.add_argument("--resettle", action="store_true", help="记为“全年重新结算”（政策更正之后）")
        parser.add_argument("--wait", action="store_true", help="等待任务完成并输出结果")
        parser.add_argument("--inline", action="store_true", help="在本进程内执行，不经 Celery")
        parser.add_argument("--timeout", type=int, default=3600, help="--wait 最长等待秒数")
        parser.add_argument("--user", help="记录为发起人的用户名（默认：系统（命令行））")

    def handle(self, *args, **options):
        user = command_user(options.get("user"))
        kind = SettlementRun.Kind.RESETTLE_YEAR if options["resettle"] else SettlementRun.Kind.SETTLE_YEAR
        if options["inline"]:
            run = self._start(user, kind, options["year"], enqueue=False)
            run = services.settlement_run_execute(run_id=run.pk)
        else:
            run = self._start(user, kind, options["year"])
            self.stdout.write(f"已提交批量任务 #{run.pk}。")
            if not options["wait"]:
                return
            run = self._wait(run, options["timeout"])
        if run.status != SettlementRun.Status.DONE:
            raise CommandError(f"任务 #{run.pk} {run.get_status_display()}：{run.error}", returncode=1)
        self.stdout.write(json.dumps(run.result, ensure_ascii=False, indent=2))

    def _start(self, user, kind, year, enqueue=True):
        try:
            return services.settlement_run_start(user=user, kind=kind, year=year, enqueue=enqueue)
        except services.SettlementError as exc:
            raise CommandError(exc.message, returncode=1)

    def _wait(self, run, timeout):
        deadline = time.monotonic() + timeout
        shown = None
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.status in (SettlementRun.Status.DONE, SettlementRun.Status.FAILED):
                return run
            if (run.done, run.total) != shown:
                shown = (run.done, run.total)
                self.stderr.write(f"进度 {run.done}/{run.total} 人")
            time.sleep(1)
        raise CommandError(f"任务 #{run.pk} 在 {timeout} 秒内未完成（仍在后台执行）。", returncode=1)
