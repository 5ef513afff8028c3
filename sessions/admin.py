from django.contrib import admin

from .models import EndUser, Session


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ("id", "dialect", "tenant", "owner", "external_user_id", "agent", "end_user", "created_at", "updated_at")
    list_filter = ("dialect", "tenant")
    search_fields = ("id", "tenant", "owner", "external_user_id", "situation")
    list_select_related = ("agent", "end_user")
    raw_id_fields = ("agent", "end_user", "thread")
    # The conversation and its query context are written by runs, not by hand.
    readonly_fields = (
        "dialect", "thread", "last_sql", "last_columns", "last_rows", "last_row_count", "last_truncated", "visualization",
        "created_at", "updated_at",
    )


@admin.register(EndUser)
class EndUserAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "tenant", "owner", "created_at")
    list_filter = ("tenant",)
    search_fields = ("id", "name", "about", "tenant", "owner")
    readonly_fields = ("created_at", "updated_at")
