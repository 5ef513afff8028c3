"""Questions and responses in the Django admin: browsable, never hand-edited (the worker writes responses)."""

from django.contrib import admin

from .models import Question, Response

RESPONSE_FIELDS = [
    "id", "question", "sql_generation_status", "response", "sql_query", "sql_query_result", "csv_file_path",
    "error_message", "intermediate_steps", "exec_time", "total_tokens", "total_cost", "confidence_score", "created_at",
]


class ResponseInline(admin.TabularInline):
    model = Response
    fields = ["id", "sql_generation_status", "sql_query", "confidence_score", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["question", "tenant", "owner", "db_connection", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["question", "owner"]
    readonly_fields = ["id", "created_at"]
    raw_id_fields = ["db_connection"]
    inlines = [ResponseInline]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "question", "sql_generation_status", "total_tokens", "total_cost", "confidence_score", "created_at"]
    list_filter = ["sql_generation_status"]
    search_fields = ["sql_query", "response", "question__question"]
    readonly_fields = RESPONSE_FIELDS
    fields = RESPONSE_FIELDS

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
