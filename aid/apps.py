from django.apps import AppConfig


class AidConfig(AppConfig):
    name = "aid"
    verbose_name = "医疗救助申请"

    def ready(self):
        # The policy document's "aid" section is checked on import like the rest of it.
        from settlement import ports

        from . import rules

        ports.provide_section_check("aid", rules.validate_aid_section)
