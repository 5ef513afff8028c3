"""The router step: what kind of message this is, decided before any model call.

Rules, not a model: classifying with an LLM would add a round trip (and its cost) to every
message, and the agent that answers can still answer a question the rules mislabel. Anything
that is not clearly small talk, a request to explain the last answer, or a change to the last
query is a data question.
"""

import re
from dataclasses import dataclass

QUERY_DATA = "query_data"
REFINE = "refine"
EXPLAIN = "explain"
CHIT_CHAT = "chit_chat"

_SMALL_TALK = re.compile(
    r"^(hi|hello|hey|hiya|yo|good (morning|afternoon|evening)|thanks?( you)?|thank you( very much)?|thx|cheers|"
    r"ok(ay)?|cool|great|nice|awesome|bye|goodbye|see you|how are you( doing)?|who are you|what can you do|"
    r"what are you|help)\b[\s!.?,]*(there|so much|a lot|again|today)?[\s!.?]*$",
    re.I,
)
_EXPLAIN = re.compile(
    r"\b(explain|why (is|are|did|does|do|was|were)|what does (this|that|it) (mean|show)|how (was|were|is|did) "
    r"(this|that|it|these|those) (calculated|computed|worked out|derived)|walk me through|interpret|"
    r"what (is|was) (this|that) (query|sql)|meaning of)\b",
    re.I,
)
_REFINE_START = re.compile(
    r"^(now|also|and|but|instead|only|just|same|what about|how about|exclude|excluding|include|including|"
    r"filter|limit|sort|order|group|break|split|drill|zoom|narrow|restrict|add|remove|without|with|per|by)\b",
    re.I,
)
_REFINE_ANYWHERE = re.compile(
    r"\b(break (this|it|that|these|those) down|(filter|limit|sort|order|group|split|restrict|narrow) "
    r"(this|it|that|these|those|the results?)|(the )?(same|previous|last) (query|result|chart|data)|"
    r"(this|that) (query|result|chart) (by|for|but|with|without|only))\b",
    re.I,
)


@dataclass(frozen=True)
class Route:
    intent: str
    reason: str


def route(message: str, *, has_result: bool) -> Route:
    text = " ".join(message.split())
    if _SMALL_TALK.match(text):
        return Route(CHIT_CHAT, "greeting, thanks or a question about the assistant")
    if has_result and _EXPLAIN.search(text):
        return Route(EXPLAIN, "asks about the previous answer")
    if has_result and (_REFINE_START.match(text) or _REFINE_ANYWHERE.search(text)):
        return Route(REFINE, "changes the previous query")
    return Route(QUERY_DATA, "a question about the data")
