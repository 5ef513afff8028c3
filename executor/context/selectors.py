"""Reads of the context store, as a principal may see them. Instructions and golden SQLs: the
principal's own. Table descriptions: those of data sources the principal may use."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404

from config.identity import Principal

from ..models import DataSource, usable_q
from .models import ContextState, GoldenSql, Instruction, NlGeneration, Prompt, SqlGeneration, TableDescription


def _get(queryset, pk, what: str):
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404(f"{what} not found") from None


def golden_sqls(principal: Principal, data_source: DataSource | None = None):
    items = GoldenSql.objects.visible_to(principal).select_related("data_source")
    return items.filter(data_source=data_source) if data_source is not None else items


def golden_sql_get(principal: Principal, pk) -> GoldenSql:
    return _get(golden_sqls(principal), pk, "golden SQL")


def instructions(principal: Principal, data_source: DataSource | None = None):
    items = Instruction.objects.visible_to(principal).select_related("data_source")
    return items.filter(data_source=data_source) if data_source is not None else items


def instruction_get(principal: Principal, pk) -> Instruction:
    return _get(instructions(principal), pk, "instruction")


def table_descriptions(principal: Principal, data_source: DataSource | None = None, table_name: str | None = None):
    items = TableDescription.objects.filter(data_source__in=DataSource.objects.filter(usable_q(principal))).select_related("data_source")
    if data_source is not None:
        items = items.filter(data_source=data_source)
    if table_name:
        items = items.filter(table_name=table_name)
    return items


def table_description_get(principal: Principal, pk) -> TableDescription:
    return _get(table_descriptions(principal), pk, "table description")


def scan_state(data_source: DataSource) -> ContextState:
    return ContextState.objects.filter(pk=data_source.pk).first() or ContextState(data_source=data_source)


def prompts(principal: Principal):
    return Prompt.objects.visible_to(principal).select_related("data_source")


def prompt_get(principal: Principal, pk) -> Prompt:
    return _get(prompts(principal), pk, "prompt")


def sql_generations(principal: Principal):
    return SqlGeneration.objects.filter(prompt__tenant=principal.tenant, prompt__owner=principal.user_id).select_related("prompt", "prompt__data_source")


def sql_generation_get(principal: Principal, pk) -> SqlGeneration:
    return _get(sql_generations(principal), pk, "SQL generation")


def nl_generations(principal: Principal):
    return NlGeneration.objects.filter(
        sql_generation__prompt__tenant=principal.tenant, sql_generation__prompt__owner=principal.user_id
    ).select_related("sql_generation", "sql_generation__prompt")


def nl_generation_get(principal: Principal, pk) -> NlGeneration:
    return _get(nl_generations(principal), pk, "NL generation")
