# The review's outlier groups: one kind, a diagnosis category (LIKE prefix), one year.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0009_review_decisions"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="encounter",
            index=models.Index(
                fields=["kind", "diagnosis_code", "service_date"],
                name="encounter_review_group",
                opclasses=["varchar_ops", "varchar_pattern_ops", "date_ops"],
            ),
        ),
    ]
