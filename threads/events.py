"""Kinds of events in a thread's log. Events are written by the run store (threads.store)."""

# Events of the PromptQL dialect (seed 000); the others are Querent's own (deltas, decisions, ...)
# and are sent to clients that ask for them (the websocket, the chat page, OpenGPTs streams).
PROMPTQL_EVENTS = frozenset({"start", "assistant_response_message", "tool_response_message", "user_confirmation", "finish", "error"})
TERMINAL_EVENTS = frozenset({"finish", "error"})
