"""Operator limits are ceilings: the models a request may name and the steps a run may take.

The operator chooses the default model (QUERENT_MODEL), the models that may be named at all
(QUERENT_ALLOWED_MODELS; the default is always one of them) and the step cap (QUERENT_MAX_STEPS).
A request or an assistant may pick one of the allowed models and may lower the cap, never raise it:
nothing else ever reaches the provider on the operator's key.

This module is the one place the rule lives. Input adapters (OpenGPTs assistants and runs, Julep
agents, the admin form, the model's `clean()`) call `check_model` / `check_max_steps`, which refuse;
the engine calls `model_for_run` / `steps_for_run` at run time, which clamp (a stored value that is
no longer allowed falls back to the default, a step count above the cap is cut to it).
"""

from __future__ import annotations

import logging

from django.conf import settings

log = logging.getLogger("querent.limits")

MAX_SHOWN = 80  # characters of a refused value repeated in an error message


class LimitError(ValueError):
    """A requested value above the operator's ceiling. `message` names the field, the value and the limit."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message

    def as_drf(self, key: str | None = None):
        """The same refusal as a DRF 400 on `key` (default: the field)."""
        from rest_framework.exceptions import ValidationError

        return ValidationError({key or self.field: [self.message]})


def default_model() -> str:
    return settings.QUERENT_MODEL


def allowed_models() -> list[str]:
    """The models a request may name, the default first."""
    names = [settings.QUERENT_MODEL, *(getattr(settings, "QUERENT_ALLOWED_MODELS", None) or [])]
    return list(dict.fromkeys(name for name in names if name))


def step_cap() -> int:
    return settings.AGENT_MAX_STEPS


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def is_allowed_model(name: str) -> bool:
    return name in allowed_models()


def check_model(value, *, field: str = "model") -> str:
    """'' (the default model) for an empty or missing value, else an allowed model's name.
    Anything else is a LimitError naming the value and listing the allowed models."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise LimitError(field, f"{field} must be a string naming a model, got {_shown(value)}")
    if is_allowed_model(value):
        return value
    raise LimitError(
        field,
        f"{field} {_shown(value)} is not allowed on this server; allowed models: {', '.join(allowed_models())} "
        f"(QUERENT_ALLOWED_MODELS), or leave it empty for the default ({default_model()})",
    )


def check_max_steps(value, *, field: str = "max_steps") -> int | None:
    """None when not given, else a whole number from 1 to the operator's cap; anything else
    (over the cap, zero, negative, not an integer) is a LimitError naming the field and the cap."""
    if value is None:
        return None
    cap = step_cap()
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= cap:
        raise LimitError(
            field,
            f"{field} must be a whole number from 1 to {cap} (this server's cap, QUERENT_MAX_STEPS; "
            f"a run may lower it, not raise it), got {_shown(value)}",
        )
    return value


# --- at run time: clamp, never trust what was stored ----------------------------------------


def model_for_run(requested: str | None, *, run_id=None) -> str:
    """The model a run calls: `requested` when it is allowed now, else the default (a stored
    assistant or run may name a model the operator has since removed from the list)."""
    if not requested or not isinstance(requested, str):
        return default_model()
    if is_allowed_model(requested):
        return requested
    log.warning(
        "model %s is not allowed (QUERENT_ALLOWED_MODELS); the run uses the default %s instead",
        _shown(requested), default_model(), extra={"run_id": str(run_id)} if run_id else None,
    )
    return default_model()


def steps_for_run(requested) -> int:
    """min(requested, cap); a missing or invalid request gets the cap."""
    cap = step_cap()
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        return cap
    return min(requested, cap)
