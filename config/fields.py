from rest_framework import serializers


class StrictBooleanField(serializers.BooleanField):
    """Only JSON true/false: "yes" or 1 for a yes/no decision is more likely a bug than intent."""

    default_error_messages = {"invalid": "Must be a JSON boolean (true or false)."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid")


class StrictCharField(serializers.CharField):
    """Only JSON strings: DRF's CharField would turn 5 into "5"."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
