"""The admin's assistant form: the model is picked from the models the operator allows."""

from django import forms

from . import limits
from .models import Assistant


def model_choices(current: str = "") -> list[tuple[str, str]]:
    """Empty (the default model) and every allowed model; a stored name that is no longer allowed
    is listed as such, so the form shows it and refuses to save it (Assistant.clean)."""
    choices = [("", f"default ({limits.default_model()})")]
    choices += [(name, name) for name in limits.allowed_models()]
    if current and not limits.is_allowed_model(current):
        choices.append((current, f"{current} (not allowed: choose another)"))
    return choices


class AssistantAdminForm(forms.ModelForm):
    model = forms.ChoiceField(
        required=False,
        help_text="Only the models in QUERENT_ALLOWED_MODELS (the default is QUERENT_MODEL); runs never use another.",
    )

    class Meta:
        model = Assistant
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Choices are read per form: the allowed models are settings, not import-time constants.
        current = self.instance.model if self.instance and self.instance.pk else ""
        self.fields["model"].choices = model_choices(current)
