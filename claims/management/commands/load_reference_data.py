from django.core.management.base import BaseCommand

from claims.reference import load_reference_data


class Command(BaseCommand):
    help = (
        "载入病种目录（国家大病专项救治30种、4种签约重点慢病，含ICD-10编码）；可选载入演示医院、"
        "每个乡镇的卫生院和每个村的卫生室、示例服务包。可重复运行：已有条目保持县里修改后的样子。"
    )

    def add_arguments(self, parser):
        parser.add_argument("--clinics", action="store_true", help="为每个乡镇建卫生院、每个村建卫生室")
        parser.add_argument("--demo-hospitals", action="store_true", help="载入演示县的县级及以上医院")
        parser.add_argument("--packages", action="store_true", help="载入示例家庭医生服务包")
        parser.add_argument("--overwrite", action="store_true", help="用随软件提供的数据覆盖已有条目")

    def handle(self, *args, **options):
        counts = load_reference_data(
            clinics=options["clinics"],
            demo_hospitals=options["demo_hospitals"],
            packages=options["packages"],
            overwrite=options["overwrite"],
        )
        labels = {"diseases": "病种", "institutions": "医疗机构", "packages": "服务包"}
        for kind, c in counts.items():
            self.stdout.write(f"{labels[kind]}：新增 {c['created']}，更新 {c['updated']}，保留 {c['kept']}")
