from rest_framework import serializers

from config.fields import storable_json


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
