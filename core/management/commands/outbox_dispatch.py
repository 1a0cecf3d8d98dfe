from django.core.management.base import BaseCommand

from core import outbox


class Command(BaseCommand):
    help = "处理待办事件（结算排队等）：经纪服务（Redis）中断后补做，不依赖 Celery。"

    def add_arguments(self, parser):
        parser.add_argument("--topic", choices=outbox.topics(), help="只处理该主题")

    def handle(self, *args, topic=None, **options):
        done = outbox.outbox_dispatch(topic=topic)
        left = outbox.pending(topic).count()
        self.stdout.write(f"已处理 {done} 条待办事件，剩余 {left} 条。")
