"""One BI message, end to end: route it, run it on the engine, chart it, read insights off the data.

`agents_visited` names the steps that actually ran, in order: router, then sql (a data question
or a refinement), explain or chat, then visualization and insights when the run produced rows.
"""

import logging
import time

from config.identity import Principal
from threads.models import Run
from threads.serializers import pending_change, pending_change_text

from .. import services
from ..models import Session
from . import insights, prompts, router, visualization
from .results import read_run

log = logging.getLogger(__name__)

ANSWER_STEP = {router.QUERY_DATA: "sql", router.REFINE: "sql", router.EXPLAIN: "explain", router.CHIT_CHAT: "chat"}


def _engine(session: Session) -> str | None:
    data_source = session.agent.data_source if session.agent_id else None
    return data_source.engine if data_source else None


def _table_names(session: Session) -> list[str]:
    data_source = session.agent.data_source
    if data_source is None:
        return []
    from executor.schema import get_schema
    from executor.services import SqlError

    try:
        return [t["name"] for t in get_schema(data_source).get("tables", [])]
    except SqlError:  # small talk must not fail because the database is down
        log.warning("schema unavailable for small talk", extra={"session": str(session.id)})
        return []


def run_config(session: Session, intent: str) -> dict:
    if intent == router.REFINE:
        instructions = prompts.refine_instructions(session.last_sql, session.last_columns)
    elif intent == router.EXPLAIN:
        instructions = prompts.explain_instructions(session.last_sql, session.last_columns, session.last_rows, session.last_row_count)
    elif intent == router.CHIT_CHAT:
        instructions = prompts.chit_chat_instructions(_table_names(session))
    else:
        instructions = prompts.query_instructions()
    config = {"instructions": instructions, "dialect": "bi", "intent": intent}
    if intent in (router.EXPLAIN, router.CHIT_CHAT):
        config["tools"] = []  # nothing to run: the answer is words about what is already known
    return config


def answer(session: Session, message: str, *, acting: Principal, intent: str | None = None) -> dict:
    """The BI response for `message`, asked by `acting` (any principal of the session's tenant).
    `intent` skips the router (the refine endpoint). Raises services.Conflict (a run is active),
    services.RunTimedOut and DataSourceUnavailable (before anything reads the data source)."""
    services.usable_data_source(session, acting)
    started = time.monotonic()
    visited = []
    if intent is None:
        intent = router.route(message, has_result=session.has_result).intent
        visited.append("router")
    turn = services.run_turn(session, message, config=run_config(session, intent), acting=acting)
    return render(session, turn, intent=intent, visited=visited, started=started)


def decide(session: Session, confirmation_id, *, approve: bool, acting: Principal) -> dict:
    """Approve or deny the change the session waits on; the answer is the turn's, as it continues."""
    started = time.monotonic()
    turn = services.decide_change(session, confirmation_id, approve=approve, acting=acting)
    intent = (turn.run.config or {}).get("intent") or router.QUERY_DATA
    return render(session, turn, intent=intent, visited=[], started=started)


def decide_path(session: Session, confirmation) -> str:
    return f"/api/v1/bi/sessions/{session.id}/confirmations/{confirmation.id}"


def render(session: Session, turn, *, intent: str, visited: list[str], started: float) -> dict:
    run = turn.run
    visited.append(ANSWER_STEP[intent])
    body = {
        "success": run.status == Run.Status.COMPLETED,
        "session_id": str(session.id),
        "run_id": str(run.id),
        "response": "",
        "intent": intent,
        "sql": None,
        "visualization": None,
        "data": None,
        "insights": [],
        "agents_visited": visited,
        "pending_confirmation": None,
    }
    if turn.pending is not None:
        # Nothing has changed yet: the answer is the change and how to approve it (DESIGN §9).
        change = pending_change(turn.pending, decide_path=decide_path(session, turn.pending))
        body.update(success=True, response=pending_change_text(change), sql=change["sql"], pending_confirmation=change)
    elif run.status != Run.Status.COMPLETED:
        body["response"] = run.error or f"The run ended as {run.status}."
        body["error"] = body["response"]
    else:
        result = read_run(run, dialect=_engine(session))
        body["response"] = result.text
        if intent == router.EXPLAIN:
            body["sql"] = session.last_sql
        if intent in (router.QUERY_DATA, router.REFINE) and result.has_data:
            chart = visualization.choose(result.columns, result.rows)
            visited.append("visualization")
            found = insights.compute(result.columns, result.rows, chart, truncated=result.truncated)
            visited.append("insights")
            services.record_bi_result(
                session, sql=result.sql, columns=result.columns, rows=result.rows, row_count=result.row_count,
                truncated=result.truncated, visualization=chart,
            )
            body.update(sql=result.sql, visualization=chart, data=data_of(session), insights=found)
        if result.tool_error and not result.has_data:
            body["error"] = result.tool_error
    body["execution_time_ms"] = int((time.monotonic() - started) * 1000)
    return body


def data_of(session: Session) -> dict:
    return {
        "columns": session.last_columns,
        "rows": session.last_rows,
        "row_count": session.last_row_count,
        "truncated": session.last_truncated,
    }


def rerender(session: Session, chart_type: str) -> dict:
    """The last result drawn as `chart_type`, without a new run. Raises visualization.ChartError."""
    chart = visualization.render(chart_type, session.last_columns, session.last_rows)
    services.set_visualization(session, chart)
    return {
        "success": True,
        "session_id": str(session.id),
        "sql": session.last_sql,
        "visualization": chart,
        "data": data_of(session),
        "insights": insights.compute(session.last_columns, session.last_rows, chart, truncated=session.last_truncated),
        "agents_visited": ["visualization", "insights"],
    }
