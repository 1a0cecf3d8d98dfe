from django.core.management.base import BaseCommand

from core.housekeeping import housekeeping_run


class Command(BaseCommand):
    help = "日常清理：过期的幂等键、超过保留期的导出文件、后台进程退出后卡住的导出任务。"

    def handle(self, *args, **options):
        done = housekeeping_run()
        self.stdout.write(
            f"已清理幂等键 {done['idempotency_keys']} 条，过期导出 {done['expired_exports']} 个，"
            f"标记中断的导出 {done['stalled_exports']} 个。"
        )
