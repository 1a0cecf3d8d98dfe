from django.apps import AppConfig

from core.demo import DemoLoading


class AidConfig(DemoLoading, AppConfig):
    name = "aid"
    verbose_name = "医疗救助申请"

    def ready(self):
        # The policy document's "aid" section is checked on import like the rest of it.
        from settlement import ports

        from . import rules

        ports.provide_section_check("aid", rules.validate_aid_section)

    def demo_load(self, demo):
        from .demo import load_demo_aid

        made = load_demo_aid(user=demo.user)
        demo.say(f"医疗救助申请演示数据：{made} 份（其中代办申请已超期的为每乡镇一份）。")
