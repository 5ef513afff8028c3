from django.contrib import admin, messages

from .models import ApiKey, Document, DocumentChunk


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "user_id", "role", "key_prefix", "can_act_for_any_tenant", "created_at", "last_used_at", "revoked_at")
    list_filter = ("tenant", "role", "can_act_for_any_tenant", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "tenant", "user_id", "key_prefix")
    readonly_fields = ("key_prefix", "created_at", "last_used_at")
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        return ["name", "tenant", "user_id", "role", "can_act_for_any_tenant", "revoked_at", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        key, token = ApiKey.issue(
            name=obj.name, tenant=obj.tenant, user_id=obj.user_id, can_act_for_any_tenant=obj.can_act_for_any_tenant,
            role=obj.role,
        )
        obj.pk = key.pk
        obj.key_prefix = key.key_prefix
        obj.key_hash = key.key_hash
        obj.created_at = key.created_at
        obj._state.adding = False
        messages.warning(request, f"New API key (copy it now, it is not shown again): {token}")

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for key in queryset.filter(revoked_at__isnull=True):
            key.revoke()


class DocumentChunkInline(admin.TabularInline):
    model = DocumentChunk
    fields = ("index", "text", "length")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    """Uploaded documents and their passages: viewable and deletable, not editable (they are what was uploaded)."""

    list_display = ("title", "kind", "scope", "assistant", "thread_id", "end_user_id", "chunk_count", "size_bytes", "tenant", "owner", "created_at")
    list_filter = ("kind", "tenant", "created_at")
    search_fields = ("title", "file_name", "owner", "assistant__name")
    list_select_related = ("assistant",)
    readonly_fields = ("id", "title", "file_name", "kind", "assistant", "thread_id", "end_user_id", "size_bytes", "sha256",
                       "text_chars", "chunk_count", "metadata", "tenant", "owner", "created_at")
    fields = readonly_fields
    inlines = [DocumentChunkInline]

    def has_add_permission(self, request):
        return False  # uploads go through the API or the chat page, which parse and chunk them

    def has_change_permission(self, request, obj=None):
        return False
