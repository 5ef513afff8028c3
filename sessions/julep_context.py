"""A Julep session's context window: `token_budget` and `context_overflow`, as Julep defines them.

- `truncate`: the model sees the newest turns that fit the budget ("truncate the context from the
  top except the system prompt"); no summary is kept.
- `adaptive`, and unset (Julep 0.3 summarised every session recursively): once the history outgrows
  the budget, a background task (Celery, through the same LLM client as runs) folds the oldest
  turns into the session's `summary`; the model then sees the summary and only the turns after it.

Without a budget nothing changes. Tokens are estimated (4 characters a token, plus 4 a message): no
tokenizer ships offline for every model, and the budget is a threshold, not a bill.
"""

import logging

from django.conf import settings
from django.db import transaction

from assistants import limits, llm
from assistants.demo_model import SUMMARY_REQUEST
from threads.models import Message, Thread

from .models import Session

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
PER_MESSAGE = 4
# In the thread's metadata: the last message seq the summary covers.
SUMMARY_MARK = "summary_through_seq"
SUMMARY_INSTRUCTION = (
    f"{SUMMARY_REQUEST}, for the assistant to continue the conversation from it. Keep names, numbers, "
    "decisions and open questions; write at most 150 words, in the third person."
)


def estimate(text: str) -> int:
    return PER_MESSAGE + (len(text or "") + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def summarised_through(session: Session) -> int:
    return int((session.thread.metadata or {}).get(SUMMARY_MARK) or 0)


def _summarising(session: Session) -> bool:
    return bool(session.token_budget) and session.context_overflow != "truncate"


def _messages(session: Session, after: int = 0) -> list[Message]:
    return list(Message.objects.filter(thread_id=session.thread_id, seq__gt=after).order_by("seq").only("seq", "role", "content"))


def _newest_within(messages: list[Message], budget: int) -> int:
    """The seq before the oldest user turn from which every later message fits in `budget` (cut at a
    user message: a tool result never loses the call it answers); the last seq when none fits."""
    used, cut = 0, messages[-1].seq if messages else 0
    for message in reversed(messages):
        used += estimate(message.content)
        if used > budget:
            break
        if message.role == Message.Role.HUMAN:
            cut = message.seq - 1
    return cut


def apply(session: Session, config: dict, new_input: list[str]) -> dict:
    """The run's config with the session's context rules: where its history starts, and the summary."""
    if not session.token_budget:
        return config
    if session.context_overflow == "truncate":
        room = session.token_budget - sum(estimate(text) for text in new_input)
        cut = _newest_within(_messages(session), max(room, 0))
        return {**config, "history_after_seq": cut} if cut else config
    through = summarised_through(session)
    if session.summary and through:
        instructions = f"{config.get('instructions') or ''}\n\nSummary of the conversation so far: {session.summary}".strip()
        return {**config, "instructions": instructions, "history_after_seq": through}
    return config


def needs_summary(session: Session) -> bool:
    if not _summarising(session):
        return False
    used = estimate(session.summary or "") + sum(estimate(m.content) for m in _messages(session, summarised_through(session)))
    return used > session.token_budget


def schedule(session: Session) -> bool:
    """Queue the summary when the history outgrew the budget (after a turn ends)."""
    if not needs_summary(session):
        return False
    from .tasks import summarise_session

    transaction.on_commit(lambda: summarise_session.apply_async(args=[str(session.id)], queue=settings.AGENT_QUEUE))
    return True


def _transcript(summary: str | None, messages: list[Message]) -> str:
    lines = [f"Earlier summary: {summary}"] if summary else []
    for message in messages:
        if message.role == Message.Role.HUMAN:
            lines.append(f"User: {message.content}")
        elif message.role == Message.Role.AI and message.content:
            lines.append(f"Assistant: {message.content}")
    return "\n".join(line.replace("\n", " ") for line in lines)


def summarise(session_id) -> str | None:
    """Fold the oldest turns into the summary, keeping the newest that fit half the budget. Runs in a
    worker; the model call holds no lock, and the result is written only if nothing moved meanwhile."""
    session = Session.objects.select_related("agent", "thread").filter(pk=session_id, dialect=Session.Dialect.JULEP).first()
    if session is None or not needs_summary(session):
        return None
    through = summarised_through(session)
    messages = _messages(session, through)
    cut = _newest_within(messages, session.token_budget // 2)
    folded = [m for m in messages if m.seq <= cut]
    if not folded:
        return None
    request = [{"role": "system", "content": SUMMARY_INSTRUCTION}, {"role": "user", "content": _transcript(session.summary, folded)}]
    try:
        completion = llm.complete(request, config=llm.LLMConfig.from_settings(limits.model_for_run(session.agent.model)))
    except llm.LLMError as exc:
        log.warning("session summary failed: %s", exc.message, extra={"session": str(session.id)})
        return None
    text = (completion.text or "").strip()
    if not text:
        return None
    with transaction.atomic():  # the session's lock, then its thread's: the sessions' one order
        locked = Session.objects.select_for_update().filter(pk=session.pk).first()
        if locked is None or locked.thread_id != session.thread_id:
            return None  # deleted, or its history cleared meanwhile
        thread = Thread.objects.select_for_update().get(pk=locked.thread_id)
        if int((thread.metadata or {}).get(SUMMARY_MARK) or 0) != through:
            return None  # another summary landed first
        Session.objects.filter(pk=locked.pk).update(summary=text)
        Thread.objects.filter(pk=thread.pk).update(metadata={**(thread.metadata or {}), SUMMARY_MARK: cut})
    return text
