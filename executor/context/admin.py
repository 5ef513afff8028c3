"""The context store in the admin: instructions, golden SQLs and table/column descriptions are
edited per data source (filter by it); a scan is started from the table list. Every save bumps the
data source's context version, so the next prompt anywhere uses the change."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages

from .models import ContextState, GoldenSql, Instruction, SqlGeneration, TableDescription
from .services import InvalidGoldenSql, check_read_query


class _Bumps(admin.ModelAdmin):
    list_filter = ("data_source",)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("tenant", settings.DEFAULT_TENANT)
        initial.setdefault("owner", request.user.get_username())
        return initial

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        ContextState.bump(obj.data_source_id)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        ContextState.bump(obj.data_source_id)

    def delete_queryset(self, request, queryset):
        sources = set(queryset.values_list("data_source_id", flat=True))
        super().delete_queryset(request, queryset)
        for source in sources:
            ContextState.bump(source)


@admin.register(Instruction)
class InstructionAdmin(_Bumps):
    list_display = ("instruction", "data_source", "tenant", "owner", "created_at")
    search_fields = ("instruction",)
    fields = ("data_source", "tenant", "owner", "instruction", "metadata")


class GoldenSqlForm(forms.ModelForm):
    class Meta:
        model = GoldenSql
        fields = ("data_source", "tenant", "owner", "prompt_text", "sql", "source", "metadata")

    def clean(self):
        cleaned = super().clean()
        source = cleaned.get("data_source")
        if source is not None and cleaned.get("sql") is not None:
            try:
                cleaned["sql"] = check_read_query(source, cleaned["sql"])
            except InvalidGoldenSql as exc:
                self.add_error("sql", exc.message_dict["sql"])
        return cleaned


@admin.register(GoldenSql)
class GoldenSqlAdmin(_Bumps):
    form = GoldenSqlForm
    list_display = ("prompt_text", "data_source", "source", "tenant", "owner", "created_at")
    list_filter = ("data_source", "source")
    search_fields = ("prompt_text", "sql")

    def save_model(self, request, obj, form, change):
        obj.embedding, obj.embedding_model = None, ""  # recomputed by the API; lexical similarity meanwhile
        super().save_model(request, obj, form, change)


@admin.register(TableDescription)
class TableDescriptionAdmin(_Bumps):
    list_display = ("__str__", "data_source", "status", "row_count", "last_schema_sync", "short_description")
    list_filter = ("data_source", "status")
    search_fields = ("table_name", "description")
    fields = ("data_source", "schema_name", "table_name", "kind", "status", "error_message", "row_count", "last_schema_sync",
              "description", "columns", "examples", "metadata")
    readonly_fields = ("data_source", "schema_name", "table_name", "kind", "status", "error_message", "row_count", "last_schema_sync", "examples")
    actions = ("scan_again",)

    @admin.display(description="description")
    def short_description(self, obj):
        return (obj.description or "")[:80]

    def has_add_permission(self, request):
        return False  # tables come from a scan

    @admin.action(description="Scan these tables again")
    def scan_again(self, request, queryset):
        from executor import tasks

        from .services import scan_queued

        by_source: dict = {}
        for item in queryset.select_related("data_source"):
            by_source.setdefault(item.data_source, []).append(item.table_name)
        for source, names in by_source.items():
            scan_queued(source, names)
            tasks.scan_data_source.delay(str(source.pk), names)
            self.message_user(request, f"{source.name}: scan of {len(names)} tables queued.", messages.SUCCESS)


@admin.register(SqlGeneration)
class SqlGenerationAdmin(admin.ModelAdmin):
    """Read-only: the SQL written for each question (Dataherald's current API), to review and audit."""

    list_display = ("prompt", "status", "sql", "verified", "created_at")
    list_filter = ("status", "verified")
    search_fields = ("sql", "prompt__text")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
