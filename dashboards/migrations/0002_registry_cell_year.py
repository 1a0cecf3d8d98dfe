"""Register cells by year (the register at the year's end, dated facts). The cells are derived
data; the rows of before (today's register) become the current year's until the next refresh
rebuilds every year's."""

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone


def current_year(apps, schema_editor):
    apps.get_model("dashboards", "RegistryCell").objects.update(year=timezone.localdate().year)


class Migration(migrations.Migration):
    dependencies = [
        ("dashboards", "0001_initial"),
        ("registry", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="registrycell",
            name="year",
            field=models.PositiveSmallIntegerField(null=True, verbose_name="年度"),
        ),
        migrations.RunPython(current_year, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="registrycell",
            name="year",
            field=models.PositiveSmallIntegerField(verbose_name="年度"),
        ),
        migrations.AlterField(
            model_name="registrycell",
            name="village",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="registry.village",
                verbose_name="行政村",
            ),
        ),
        migrations.AddConstraint(
            model_name="registrycell",
            constraint=models.UniqueConstraint(fields=("year", "village"), name="registry_cell_key"),
        ),
    ]
