"""Admin for the run engine: threads with their event log, runs, confirmations, artifacts, and assistants.

The Assistant admin lives here rather than in `assistants/admin.py` because its "test this
assistant" action starts a run, and `assistants` must not import the engine.
"""

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Case, Count, IntegerField, Value, When
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from assistants.forms import AssistantAdminForm
from assistants.models import Assistant
from config.identity import Principal

from . import services
from .models import Artifact, Confirmation, Feedback, Run, RunEvent, Thread

PENDING_FIRST = Case(When(status=Confirmation.Status.PENDING, then=Value(0)), default=Value(1), output_field=IntegerField())
DATA_PREVIEW_CHARS = 300


def admin_link(obj, label=None):
    if obj is None:
        return "—"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


# The admin's lists of runs, confirmations and events need the page's width at 1280 px: the app
# list in a sidebar beside them left about 630 px. The home page and the breadcrumbs navigate.
admin.site.enable_nav_sidebar = False

LIST_NAME_CHARS = 24  # a thread's name in a list column: one line at 1280 px, the full name on hover


def short_thread_link(thread):
    """The thread as a one-line link in list columns (its full name in the tooltip)."""
    if thread is None:
        return "—"
    url = reverse("admin:threads_thread_change", args=[thread.pk])
    name = str(thread)
    return format_html('<a href="{}" title="{}" style="white-space: nowrap">{}</a>', url, name, Truncator(name).chars(LIST_NAME_CHARS))


def short_time(value):
    """A date and time in list columns, short and on one line (the full timestamp on hover)."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    return format_html('<span title="{}" style="white-space: nowrap">{}</span>', local.isoformat(), local.strftime("%m-%d %H:%M"))


def pretty_json(value) -> str:
    return format_html('<pre style="white-space: pre-wrap; max-height: 30em; overflow: auto">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False, default=str))


def admin_principal(request) -> Principal:
    """The admin user as the chat page sees them after a session sign-in."""
    return Principal(tenant=settings.DEFAULT_TENANT, user_id=request.user.get_username(), source="session")


class ReadOnlyInline(admin.TabularInline):
    template = "admin/threads/readonly_tabular.html"
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RunEventInline(ReadOnlyInline):
    model = RunEvent
    verbose_name = "event"
    verbose_name_plural = "event log (streamed text deltas are omitted: the message that follows them holds their text)"
    fields = ("seq", "type", "run_short", "data_preview", "created_at")
    readonly_fields = fields
    ordering = ("seq",)

    @admin.display(description="run")
    def run_short(self, obj):
        return str(obj.run_id)[:8] if obj.run_id else "—"

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(type="assistant_delta").select_related("run")

    @admin.display(description="data")
    def data_preview(self, obj):
        text = json.dumps(obj.data, ensure_ascii=False, default=str)
        return format_html("<code>{}</code>", Truncator(text).chars(DATA_PREVIEW_CHARS))


class RunInline(ReadOnlyInline):
    model = Run
    fields = ("link", "status", "steps", "attempts", "error", "created_at", "finished_at")
    readonly_fields = fields
    ordering = ("created_at",)

    @admin.display(description="run")
    def link(self, obj):
        return admin_link(obj, str(obj.pk)[:8])


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ("__str__", "tenant", "owner", "assistant", "run_count", "last_seq", "updated_at")
    list_filter = ("tenant", ("assistant", admin.RelatedOnlyFieldListFilter), "created_at")
    search_fields = ("name", "owner", "tenant")
    readonly_fields = ("id", "tenant", "owner", "assistant", "last_seq", "metadata_pretty", "chat_link", "delta_count", "created_at", "updated_at")
    fields = ("id", "name", "tenant", "owner", "assistant", "chat_link", "last_seq", "delta_count", "metadata_pretty", "created_at", "updated_at")
    inlines = (RunInline, RunEventInline)
    actions = ("cancel_active_runs",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("assistant").annotate(run_total=Count("runs", distinct=True))

    def has_add_permission(self, request):
        return False  # threads start from a question: the chat page, the APIs, or "test this assistant"

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.runs.exclude(status__in=Run.TERMINAL).exists():
            return False  # a worker is writing to it; cancel the run first
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        # Runs and confirmations cannot be deleted one by one, but they belong to their thread; a
        # busy thread in a bulk delete is skipped by delete_queryset (with a message), not refused.
        to_delete, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        owned = {str(m._meta.verbose_name) for m in (Run, Confirmation, Thread)}
        return to_delete, counts, {name for name in perms_needed if str(name) not in owned}, protected

    def delete_queryset(self, request, queryset):
        busy = queryset.filter(runs__status__in=[s for s in Run.Status if s not in Run.TERMINAL]).distinct()
        if busy.exists():
            self.message_user(request, f"Kept {busy.count()} thread(s) with a run in progress; cancel it first.", messages.WARNING)
        super().delete_queryset(request, queryset.exclude(pk__in=busy.values("pk")))

    @admin.display(description="runs", ordering="run_total")
    def run_count(self, obj):
        return obj.run_total

    @admin.display(description="metadata")
    def metadata_pretty(self, obj):
        return pretty_json(obj.metadata)

    @admin.display(description="streamed text deltas")
    def delta_count(self, obj):
        return RunEvent.objects.filter(thread=obj, type="assistant_delta").count()

    @admin.display(description="on the chat page")
    def chat_link(self, obj):
        return format_html('<a href="/#/t/{}">open (visible to its owner {}/{})</a>', obj.pk, obj.tenant, obj.owner)

    @admin.action(description="Cancel the active run of the selected threads")
    def cancel_active_runs(self, request, queryset):
        cancelled = sum(len(services.do_cancel_runs(thread)) for thread in queryset)
        self.message_user(request, f"Asked {cancelled} run(s) to stop.", messages.SUCCESS if cancelled else messages.INFO)


class ShortListColumns:
    """One-line list columns shared by the run and confirmation lists (readable at 1280 px)."""

    @admin.display(description="thread", ordering="thread__name")
    def thread_short(self, obj):
        return short_thread_link(obj.thread)

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return short_time(obj.created_at)


@admin.register(Run)
class RunAdmin(ShortListColumns, admin.ModelAdmin):
    list_display = ("short_id", "thread_short", "status", "steps", "attempts", "total_tokens", "cost_usd", "created", "finished")
    list_filter = ("status", "created_at")
    search_fields = ("thread__name", "thread__owner", "error", "worker")
    list_select_related = ("thread",)
    readonly_fields = (
        "id", "thread_link", "status", "error", "usage_pretty", "timings_pretty", "config_pretty", "steps", "attempts",
        "worker", "cancel_requested", "created_at", "started_at", "heartbeat_at", "finished_at",
    )
    fields = readonly_fields
    actions = ("cancel_runs",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a record of what happened: viewable, not editable

    def has_delete_permission(self, request, obj=None):
        return False  # delete the thread instead: runs and their events go with it

    @admin.display(description="run", ordering="created_at")
    def short_id(self, obj):
        return str(obj.pk)[:8]

    @admin.display(description="thread", ordering="thread__name")
    def thread_link(self, obj):
        return admin_link(obj.thread)

    @admin.display(description="finished", ordering="finished_at")
    def finished(self, obj):
        return short_time(obj.finished_at)

    @admin.display(description="tokens")
    def total_tokens(self, obj):
        return (obj.usage or {}).get("total_tokens", 0)

    @admin.display(description="cost (USD)")
    def cost_usd(self, obj):
        return (obj.usage or {}).get("cost_usd", 0)

    @admin.display(description="usage")
    def usage_pretty(self, obj):
        return pretty_json(obj.usage)

    @admin.display(description="timings")
    def timings_pretty(self, obj):
        return pretty_json(obj.timings)

    @admin.display(description="config")
    def config_pretty(self, obj):
        return pretty_json(obj.config)

    @admin.action(description="Cancel the selected runs")
    def cancel_runs(self, request, queryset):
        active = queryset.exclude(status__in=Run.TERMINAL).select_related("thread")
        cancelled = sum(len(services.do_cancel_runs(run.thread)) for run in active)
        self.message_user(request, f"Asked {cancelled} run(s) to stop.", messages.SUCCESS if cancelled else messages.INFO)


@admin.register(Confirmation)
class ConfirmationAdmin(ShortListColumns, admin.ModelAdmin):
    """Pending confirmations first; approving or denying here lets the waiting run continue."""

    list_display = ("status_badge", "sql_preview", "thread_short", "created", "decision")
    list_display_links = ("sql_preview",)
    list_filter = ("status", "created_at")
    search_fields = ("message", "thread__name", "thread__owner", "decided_by")
    list_select_related = ("thread",)
    readonly_fields = (
        "id", "status", "sql", "reason", "thread_link", "run_link", "tool_call_id", "created_at", "expires_at",
        "decided_by", "decided_at", "executed_at",
    )
    fields = readonly_fields
    actions = ("approve", "deny")

    def get_queryset(self, request):
        # Annotate before ordering: the default queryset is already ordered by get_ordering().
        queryset = self.model._default_manager.get_queryset().annotate(pending_first=PENDING_FIRST)
        return queryset.order_by(*self.get_ordering(request))

    def get_ordering(self, request):
        return ("pending_first", "-created_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # decisions go through the actions (the engine's service), never a form save

    def has_delete_permission(self, request, obj=None):
        return False  # a waiting run polls this row

    @admin.display(description="status", ordering="pending_first")
    def status_badge(self, obj):
        colour = {"PENDING": "#b45309", "APPROVED": "#15803d", "DENIED": "#b91c1c"}.get(obj.status, "#6b7280")
        return format_html('<strong style="color: {}">{}</strong>', colour, obj.status)

    @admin.display(description="SQL")
    def sql_preview(self, obj):
        return format_html('<span title="{}" style="white-space: nowrap">{}</span>', obj.message, Truncator(" ".join(obj.message.split())).chars(44))

    @admin.display(description="decided", ordering="decided_at")
    def decision(self, obj):
        """When it was decided (by whom on hover), or when a pending one expires: one short column."""
        if obj.decided_at is None:
            return format_html('<span style="white-space: nowrap">expires {}</span>', short_time(obj.expires_at))
        return format_html('<span title="decided by {}">{}</span>', obj.decided_by or "—", short_time(obj.decided_at))

    @admin.display(description="SQL that runs if approved")
    def sql(self, obj):
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', obj.message)

    @admin.display(description="thread", ordering="thread__name")
    def thread_link(self, obj):
        return admin_link(obj.thread)

    @admin.display(description="run")
    def run_link(self, obj):
        return admin_link(obj.run, str(obj.run_id)[:8])

    def _decide(self, request, queryset, *, approve: bool):
        decided_by = f"admin:{request.user.get_username()}"
        done, skipped = 0, []
        for confirmation in queryset.select_related("thread"):
            try:
                services.do_decide_confirmation(confirmation.thread, confirmation.pk, approve=approve, decided_by=decided_by)
                done += 1
            except (services.Conflict, Confirmation.DoesNotExist) as exc:
                skipped.append(f"{str(confirmation.pk)[:8]}: {exc}")
        verb = "Approved" if approve else "Denied"
        if done:
            self.message_user(request, f"{verb} {done} confirmation(s); the waiting run(s) continue.", messages.SUCCESS)
        if skipped:
            self.message_user(request, "Not changed (already decided): " + "; ".join(skipped), messages.WARNING)

    @admin.action(description="Approve the selected pending confirmations (the SQL runs)")
    def approve(self, request, queryset):
        self._decide(request, queryset, approve=True)

    @admin.action(description="Deny the selected pending confirmations")
    def deny(self, request, queryset):
        self._decide(request, queryset, approve=False)


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = ("identifier", "title", "artifact_type", "version", "size", "thread_link", "updated_at")
    list_filter = ("artifact_type", "updated_at")
    search_fields = ("identifier", "title", "thread__name", "thread__owner")
    list_select_related = ("thread",)
    readonly_fields = ("id", "thread_link", "run", "identifier", "title", "artifact_type", "version", "data_pretty", "created_at", "updated_at")
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a record of what happened: viewable, not editable

    @admin.display(description="rows / items")
    def size(self, obj):
        if isinstance(obj.data, list):
            return len(obj.data)
        if isinstance(obj.data, dict) and isinstance(obj.data.get("rows"), list):
            return len(obj.data["rows"])
        return "—"

    @admin.display(description="thread", ordering="thread__name")
    def thread_link(self, obj):
        return admin_link(obj.thread)

    @admin.display(description="data")
    def data_pretty(self, obj):
        return pretty_json(obj.data)


class AssistantTestForm(forms.Form):
    question = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        initial="Which tables can you see? Answer in one short paragraph.",
        help_text="Asked once per selected assistant, each in a new thread you own (open it on the chat page).",
        max_length=10_000,
    )


@admin.register(Assistant)
class AssistantAdmin(admin.ModelAdmin):
    form = AssistantAdminForm  # the model is one of the operator's allowed models
    list_display = ("name", "tenant", "owner", "public", "data_source", "model", "thread_count", "updated_at")
    list_filter = ("public", "tenant", ("data_source", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name", "owner", "tenant", "about", "instructions")
    list_select_related = ("data_source",)
    readonly_fields = ("id", "tools", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("id", "name", "tenant", "owner", "public", "about")}),
        ("Behaviour", {"fields": ("instructions", "model", "data_source")}),
        ("Stored as given", {"fields": ("tools", "metadata", "config"), "classes": ("collapse",)}),
        ("Timestamps", {"fields": ("created_at", "updated_at")}),
    )
    actions = ("test_assistant",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(thread_total=Count("threads", distinct=True))

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("tenant", settings.DEFAULT_TENANT)
        initial.setdefault("owner", request.user.get_username())
        return initial

    @admin.display(description="threads", ordering="thread_total")
    def thread_count(self, obj):
        return obj.thread_total

    @admin.action(description="Test this assistant: ask it a question")
    def test_assistant(self, request, queryset):
        form = AssistantTestForm(request.POST if "question" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Test assistants",
                "form": form,
                "assistants": queryset,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "action": "test_assistant",
            }
            return TemplateResponse(request, "admin/threads/test_assistant.html", context)
        principal = admin_principal(request)
        question = form.cleaned_data["question"]
        started = []
        for assistant in queryset:
            thread = services.create_thread(
                principal, assistant=assistant, name=f"Test of {assistant.name}"[:300],
                metadata={"admin_test": True, "started_by": request.user.get_username()},
            )
            services.do_start_run(thread, question, operator=True)  # staff: any tenant's data source
            started.append((assistant.name, thread.pk))
        links = format_html_join(
            ", ", '{} (<a href="/#/t/{}">watch on the chat page</a> · <a href="{}">event log</a>)',
            ((name, pk, reverse("admin:threads_thread_change", args=[pk])) for name, pk in started),
        )
        self.message_user(request, format_html("Started {} test run(s): {}", len(started), links), messages.SUCCESS)
        return None


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    """Ratings people gave runs (OpenGPTs' thumbs up/down): read here, counted in /metrics."""

    list_display = ("key", "score", "comment_short", "run_link", "tenant", "owner", "created_at")
    list_filter = ("key", "created_at")
    search_fields = ("key", "comment", "owner", "run__thread__name")
    list_select_related = ("run",)
    readonly_fields = ("id", "run_link", "key", "score", "value", "comment", "tenant", "owner", "created_at")
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="comment")
    def comment_short(self, obj):
        return Truncator(obj.comment).chars(80)

    @admin.display(description="run")
    def run_link(self, obj):
        return admin_link(obj.run)
