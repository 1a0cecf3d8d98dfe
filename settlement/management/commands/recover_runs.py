from django.core.management.base import BaseCommand

from settlement import tasks


class Command(BaseCommand):
    help = (
        "把被中断的批量结算重新排队：租约已过期、又没有存活的 worker 正在处理的分片（以及启动任务丢失、"
        "仍在排队的批量任务）。Celery beat 每分钟自动执行一次；此命令用于手动执行。"
    )

    def handle(self, *args, **options):
        found = tasks.requeue_stalled_runs()
        chunks = found["chunks"]
        self.stdout.write(
            f"重新排队：批量任务启动 {len(found['runs'])} 个，分片 {len(chunks)} 个"
            + (f"（{', '.join(f'#{run}-{index}' for run, index in chunks)}）" if chunks else "")
            + "。"
        )
