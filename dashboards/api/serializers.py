from rest_framework import serializers

from dashboards import definitions


class PeriodQuerySerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=definitions.PERIOD_KINDS, required=False, help_text="默认 year")
    year = serializers.IntegerField(min_value=2000, max_value=2100, required=False, help_text="默认今年")
    quarter = serializers.IntegerField(min_value=1, max_value=4, required=False)
    month = serializers.IntegerField(min_value=1, max_value=12, required=False)


def _rate():
    return serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True)


def _money():
    return serializers.DecimalField(max_digits=16, decimal_places=2)


class FiguresSerializer(serializers.Serializer):
    households = serializers.IntegerField()
    members = serializers.IntegerField()
    members_insured = serializers.IntegerField()
    insured_rate = _rate()
    illnesses_identified = serializers.IntegerField()
    illnesses_treating = serializers.IntegerField()
    illnesses_treated = serializers.IntegerField()
    treatment_rate = _rate()
    households_for_signing = serializers.IntegerField()
    households_signed = serializers.IntegerField()
    signing_rate = _rate()
    contracts_without_followup = serializers.IntegerField()
    encounters = serializers.IntegerField()
    encounters_in_county = serializers.IntegerField()
    total_cost = _money()
    in_county_rate = _rate()
    payouts_total = _money()
    self_pay = _money()
    self_pay_ratio = _rate()
    members_at_risk = serializers.IntegerField()


class TownshipFiguresSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    figures = FiguresSerializer()
    behind_targets = serializers.ListField(child=serializers.CharField())


class BoardSerializer(serializers.Serializer):
    period = serializers.CharField()
    refreshed_at = serializers.DateTimeField(allow_null=True)
    townships = TownshipFiguresSerializer(many=True)
    total = FiguresSerializer()
