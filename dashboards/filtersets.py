"""Place filters (乡镇, 行政村) of the dashboard lists, shared by pages and exports."""

import django_filters

from claims.filtersets import place_filters
from registry.models import Member, PovertyStatus


def place_filterset(model, place: str):
    """A FilterSet with 乡镇 and 行政村 filters for ``model``, whose village is at ``place``
    (e.g. ``"member__household__village"``); the choices are scoped to the user."""
    township, village = place_filters(place)
    meta = type("Meta", (), {"model": model, "fields": ["township", "village"]})
    return type(
        f"{model.__name__}PlaceFilterSet",
        (django_filters.FilterSet,),
        {"township": township, "village": village, "Meta": meta},
    )


class SurveyFilterSet(place_filterset(Member, "household__village")):
    poverty_status = django_filters.ChoiceFilter(
        label="脱贫状态", field_name="household__poverty_status", choices=PovertyStatus.choices
    )

    class Meta:
        model = Member
        fields = ["township", "village", "poverty_status"]
