"""Day-one details every role meets: the admin's column headers are Chinese."""

import re

from django.contrib import admin
from django.contrib.admin.utils import label_for_field

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_admin_list_columns_have_chinese_headers():
    """Regression: 用户角色 showed a column headed "USER"."""
    english = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in {"registry", "claims", "settlement", "dashboards"}:
            continue
        for name in model_admin.get_list_display(None):
            if name == "__str__":
                continue
            label = str(label_for_field(name, model, model_admin))
            if not CJK.search(label):
                english.append(f"{model.__name__}.{name}: {label}")
    assert english == []
