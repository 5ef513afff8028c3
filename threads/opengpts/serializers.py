from rest_framework import serializers

from config.fields import StrictCharField, storable_json


class ThreadInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=300, allow_blank=True, default="")
    assistant_id = serializers.UUIDField()
    metadata = serializers.DictField(required=False, default=dict, validators=[storable_json])


class StateInSerializer(serializers.Serializer):
    values = serializers.JSONField(validators=[storable_json])
    config = serializers.DictField(required=False)


class RunInSerializer(serializers.Serializer):
    thread_id = serializers.UUIDField()
    assistant_id = serializers.UUIDField(required=False)
    input = serializers.JSONField(required=False, default=list, validators=[storable_json])
    config = serializers.DictField(required=False, default=dict)


class FeedbackInSerializer(serializers.Serializer):
    """Upstream's FeedbackCreateRequest: run_id, key, score (number or boolean), value, comment."""

    run_id = serializers.UUIDField()
    key = StrictCharField(max_length=200)
    score = serializers.JSONField(required=False, allow_null=True, default=None)
    value = serializers.JSONField(required=False, allow_null=True, default=None, validators=[storable_json])
    comment = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=10_000, default="")

    def validate_score(self, value):
        if value is None or isinstance(value, bool):
            return None if value is None else float(value)
        if isinstance(value, (int, float)) and value == value and abs(value) != float("inf"):
            return float(value)
        raise serializers.ValidationError("must be a number or a boolean")

    def validate_value(self, value):
        if value is not None and not isinstance(value, (bool, int, float, str, dict)):
            raise serializers.ValidationError("must be a number, a boolean, a string or an object")
        return value
