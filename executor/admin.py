from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils.html import format_html

from .context import admin as context_admin  # noqa: F401 - registers the context store's models
from .errors import SqlError
from .models import DataSource
from .schema import get_schema, render_summary
from .services import test_connection


class DataSourceForm(forms.ModelForm):
    # The stored URL is never sent to the browser; an empty field keeps it.
    connection_url = forms.CharField(
        required=False,
        label="Connection URL",
        widget=forms.TextInput(attrs={"size": 80, "autocomplete": "off"}),
        help_text="postgresql://user:password@host:5432/db or sqlite:////absolute/path.db",
    )

    class Meta:
        model = DataSource
        fields = [
            "name", "tenant", "owner", "engine", "connection_url", "actions", "row_limit", "statement_timeout_s",
            "shared", "tenant_wide", "metadata",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["connection_url"] = ""
        if self.instance.pk and not self.instance._state.adding:
            self.fields["connection_url"].help_text = (
                f"Current: {self.instance.masked_url}. Leave empty to keep it. " + self.fields["connection_url"].help_text
            )

    def clean_connection_url(self):
        value = (self.cleaned_data.get("connection_url") or "").strip()
        if not value:
            if self.instance.pk and not self.instance._state.adding:
                return self.instance.connection_url
            raise forms.ValidationError("A connection URL is required.")
        return value


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    form = DataSourceForm
    list_display = ("name", "engine", "tenant", "owner", "shared", "tenant_wide", "masked_connection_url", "created_at")
    list_filter = ("engine", "shared", "tenant_wide", "tenant", "owner")
    search_fields = ("name", "tenant", "owner")
    readonly_fields = ("id", "masked_connection_url", "created_at", "updated_at", "schema_refreshed_at", "schema_preview")
    actions = ("test_connections", "refresh_schemas")
    fieldsets = (
        (None, {"fields": ("id", "name", "tenant", "owner", "shared", "tenant_wide")}),
        ("Connection", {"fields": ("engine", "masked_connection_url", "connection_url", "row_limit", "statement_timeout_s")}),
        ("Actions and metadata", {"fields": ("actions", "metadata")}),
        ("Schema", {"fields": ("schema_refreshed_at", "schema_preview")}),
        ("Timestamps", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="connection URL")
    def masked_connection_url(self, obj):
        return obj.masked_url if obj else ""

    @admin.display(description="schema (as the agent sees it)")
    def schema_preview(self, obj):
        if not obj or obj._state.adding:
            return "Save the data source to see its schema."
        try:
            text = render_summary(get_schema(obj), 20_000, name=obj.name)
        except SqlError as exc:
            text = f"Schema unavailable: {exc.message}"
        return format_html('<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>', text)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("tenant", settings.DEFAULT_TENANT)
        initial.setdefault("owner", request.user.get_username())
        return initial

    @admin.action(description="Test connection")
    def test_connections(self, request, queryset):
        for data_source in queryset:
            ok, message = test_connection(data_source)
            self.message_user(request, message, messages.SUCCESS if ok else messages.ERROR)

    @admin.action(description="Refresh cached schema")
    def refresh_schemas(self, request, queryset):
        for data_source in queryset:
            try:
                schema = get_schema(data_source, refresh=True)
            except SqlError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                count = len(schema.get("tables", []))
                self.message_user(request, f"{data_source.name}: {count} tables introspected.", messages.SUCCESS)
