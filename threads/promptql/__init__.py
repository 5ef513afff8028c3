"""The PromptQL dialect's streaming endpoints (seed 000): a run's events as SSE or one JSON."""
