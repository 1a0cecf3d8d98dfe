"""Queue the settlement work still pending in the outbox: member-years whose encounters
changed (claims), members whose registry facts changed (registry), batch runs not started.
What a broker outage left behind; beat's sweep does the same every minute."""

from django.core.management.base import BaseCommand

from core import outbox
from settlement import handlers


class Command(BaseCommand):
    help = (
        "补排结算：处理待办事件中的结算工作（就诊变动、户籍事实变动、批量任务），并列出排入队列的结算任务。"
    )

    def handle(self, *args, **options):
        done = 0
        with handlers.watch() as queued:
            for topic in handlers.TOPICS:
                done += outbox.outbox_dispatch(topic=topic)
        years: dict[int, list[int]] = {}
        runs = []
        for item in queued:
            if item[0] == "member_years":
                years.setdefault(item[1], []).extend(item[2])
            else:
                runs.append(item[1])
        for year, members in sorted(years.items()):
            self.stdout.write(f"{year}年度：{len(set(members))} 人排入结算。")
        for run_id in runs:
            self.stdout.write(f"批量任务 {run_id} 已开始排队。")
        left = sum(outbox.pending(topic).count() for topic in handlers.TOPICS)
        self.stdout.write(f"已处理 {done} 条待办事件，排入 {len(queued)} 个结算任务；剩余 {left} 条。")
        if left:
            self.stderr.write(
                "仍有待办事件未能处理（消息队列不可用？），请稍后重试："
                + "；".join(
                    f"{e.topic}:{e.key} {e.last_error[:80]}"
                    for e in outbox.pending().filter(topic__in=handlers.TOPICS).order_by("id")[:5]
                )
            )
