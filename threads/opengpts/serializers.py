from rest_framework import serializers


class ThreadInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=300, allow_blank=True, default="")
    assistant_id = serializers.UUIDField()
    metadata = serializers.DictField(required=False, default=dict)


class StateInSerializer(serializers.Serializer):
    values = serializers.JSONField()
    config = serializers.DictField(required=False)


class RunInSerializer(serializers.Serializer):
    thread_id = serializers.UUIDField()
    assistant_id = serializers.UUIDField(required=False)
    input = serializers.JSONField(required=False, default=list)
    config = serializers.DictField(required=False, default=dict)
