"""Loading the shipped reference data into the database (idempotent)."""

from django.db import transaction

from registry.models import Township, Village

from . import reference_data
from .models import Disease, Institution, ServicePackage


def _upsert(model, key: dict, values: dict, *, overwrite: bool) -> str:
    obj = model.objects.filter(**key).first()
    if obj is None:
        obj = model(**key, **values)
        obj._change_reason = "载入参考数据"
        obj.save()
        return "created"
    if overwrite and any(getattr(obj, name) != value for name, value in values.items()):
        for name, value in values.items():
            setattr(obj, name, value)
        obj._change_reason = "载入参考数据（覆盖）"
        obj.save()
        return "updated"
    return "kept"


@transaction.atomic
def load_reference_data(
    *, clinics: bool = False, demo_hospitals: bool = False, packages: bool = False, overwrite: bool = False
) -> dict:
    """Load the disease catalogue; with ``demo_hospitals`` the demo county's hospitals above
    the township, with ``clinics`` a 卫生院 for every township and a 卫生室 for every village,
    with ``packages`` the sample service packages. Entries already present are kept as the
    county edited them unless ``overwrite``. Returns counts per kind."""
    counts = {}

    def count(kind, outcome):
        counts.setdefault(kind, {"created": 0, "updated": 0, "kept": 0})[outcome] += 1

    for code, name, group, way, lists, prefixes in reference_data.DISEASES:
        count(
            "diseases",
            _upsert(
                Disease,
                {"code": code},
                {"name": name, "group": group, "treatment_way": way, "lists": lists, "prefixes": prefixes},
                overwrite=overwrite,
            ),
        )
    if demo_hospitals:
        for name, level, designated in reference_data.DEMO_HOSPITALS:
            count(
                "institutions",
                _upsert(
                    Institution,
                    {"name": name},
                    {"level": level, "designated": designated},
                    overwrite=overwrite,
                ),
            )
    if clinics:
        for township in Township.objects.all():
            count(
                "institutions",
                _upsert(
                    Institution,
                    {"name": reference_data.clinic_name(township.name)},
                    {"level": "township", "township": township},
                    overwrite=overwrite,
                ),
            )
        for village in Village.objects.select_related("township"):
            count(
                "institutions",
                _upsert(
                    Institution,
                    {"name": reference_data.village_post_name(village.name)},
                    {"level": "village", "township": village.township},
                    overwrite=overwrite,
                ),
            )
    if packages:
        for name, tier, items, price, share in reference_data.DEMO_PACKAGES:
            count(
                "packages",
                _upsert(
                    ServicePackage,
                    {"name": name},
                    {"tier": tier, "items": items, "price": price, "personal_share": share},
                    overwrite=overwrite,
                ),
            )
    return counts
