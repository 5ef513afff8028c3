"""The worker's side of executor calls: validate, call the host, record what happened.

Everything the tool result says about SQL and artifacts comes from here, from calls the worker
actually served, never from anything the snippet process claims.
"""

import datetime
import decimal
import json
import logging
import math
import uuid

from .config import MB, SandboxConfig
from .host import SandboxHost, ToolError

log = logging.getLogger("querent.sandbox")

ARTIFACT_TYPES = ("chart", "table", "text")
MAX_IDENTIFIER_CHARS = 200
MAX_TITLE_CHARS = 500
MAX_SUMMARY_CHARS = 2000


class StopSnippet(Exception):
    """The snippet must end now; str() completes "the code was stopped: ..."."""


class OutputLog:
    """The tool's `output`: prints and summary lines in the order they happened, capped."""

    def __init__(self, limit: int):
        self._parts: list[str] = []
        self._room = limit
        self._limit = limit
        self.truncated = False

    def write(self, text: str) -> None:
        if self.truncated or not text:
            return
        text = clean_text(text)
        if len(text) <= self._room:
            self._parts.append(text)
            self._room -= len(text)
            return
        self._parts.append(text[:self._room])
        self._parts.append(f"\n[output truncated: more than {self._limit} characters]\n")
        self._room = 0
        self.truncated = True

    def line(self, text: str) -> None:
        if len(text) > MAX_SUMMARY_CHARS:
            text = text[:MAX_SUMMARY_CHARS] + " ..."
        self.write(text + "\n")

    def text(self) -> str:
        return "".join(self._parts)


class HostCalls:
    def __init__(self, host: SandboxHost, config: SandboxConfig, output: OutputLog):
        self.host = host
        self.config = config
        self.output = output
        self.sql_statements: list[dict] = []
        self.artifacts: dict[str, dict] = {}  # by identifier: storing again replaces, keeps the position
        self._sql_calls = 0
        self._artifact_calls = 0

    def serve(self, op: str, frame: dict) -> tuple[str, str]:
        """("result", JSON text) or ("error", message the snippet's ToolError carries)."""
        try:
            if op == "run_sql":
                return "result", self._run_sql(frame["sql"])
            if op == "store_artifact":
                return "result", self._store_artifact(
                    frame["identifier"], frame["title"], frame["artifact_type"], frame["data"])
            return "result", self._get_artifact(frame["identifier"])
        except ToolError as exc:
            return "error", str(exc) or "the call failed"
        except StopSnippet:
            raise
        except Exception:  # noqa: BLE001 - a host bug must not reach the snippet or crash the worker
            log.exception("sandbox host call %s failed", op)
            return "error", f"{op} failed because of an internal error"

    def modified_artifacts(self) -> list[dict]:
        return list(self.artifacts.values())

    def _run_sql(self, sql: str) -> str:
        self._sql_calls += 1
        limit = self.config.max_sql_calls
        if self._sql_calls > limit + 1:
            raise StopSnippet(f"it kept calling run_sql after the limit of {limit} calls per snippet")
        if self._sql_calls > limit:
            raise ToolError(f"run_sql was called more than {limit} times in one snippet; "
                            "combine queries or aggregate in SQL instead")
        rows = self.host.run_sql(sql)
        if not isinstance(rows, (list, tuple)) or not all(isinstance(row, dict) for row in rows):
            raise TypeError(f"host.run_sql returned {type(rows).__name__}, not a list of dicts")
        text, plain = _to_json(list(rows))
        self.sql_statements.append({"sql": sql, "result": plain})
        columns = list(plain[0].keys()) if plain else []
        self.output.line(f"SQL statement returned {len(plain)} rows, columns: {columns!r}")
        return text

    def _store_artifact(self, identifier: str, title: str, artifact_type: str, data) -> str:
        self._artifact_calls += 1
        if self._artifact_calls > self.config.max_artifact_calls:
            limit = self.config.max_artifact_calls
            raise ToolError(f"store_artifact was called more than {limit} times in one snippet")
        _check_artifact(identifier, title, artifact_type, data, self.config.artifact_bytes)
        self.host.store_artifact(identifier, title, artifact_type, data)
        self.artifacts[identifier] = {
            "identifier": identifier, "title": title, "artifact_type": artifact_type, "data": data}
        if artifact_type == "table":
            self.output.line(f"Stored table artifact: identifier = {identifier!r}, title = {title!r}, "
                             f"number of rows = {len(data)}, sample rows = {data[:2]!r}")
        else:
            self.output.line(f"Stored {artifact_type} artifact: identifier = {identifier!r}, title = {title!r}")
        return "null"

    def _get_artifact(self, identifier: str) -> str:
        return _to_json(self.host.get_artifact(identifier))[0]


def _check_artifact(identifier: str, title: str, artifact_type: str, data, max_bytes: int) -> None:
    if artifact_type not in ARTIFACT_TYPES:
        raise ToolError(f"artifact_type must be one of {', '.join(map(repr, ARTIFACT_TYPES))}, not {artifact_type!r}")
    if clean_text(identifier) != identifier or clean_text(title) != title:
        raise ToolError("identifier and title must not contain NUL characters or invalid Unicode")
    if not identifier.strip() or len(identifier) > MAX_IDENTIFIER_CHARS:
        raise ToolError(f"identifier must be a non-empty string of at most {MAX_IDENTIFIER_CHARS} characters")
    if len(title) > MAX_TITLE_CHARS:
        raise ToolError(f"title must be at most {MAX_TITLE_CHARS} characters")
    try:
        text = json.dumps(data, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        raise ToolError("artifact data must be plain JSON: NaN and infinity are not allowed") from None
    if "\\u0000" in text or not is_valid_text(text):
        raise ToolError("artifact data contains NUL characters or invalid Unicode")
    size = len(text.encode())
    if size > max_bytes:
        raise ToolError(f"artifact data is {size / MB:.1f} MB; the limit is {max_bytes / MB:g} MB")
    if artifact_type == "table" and not (isinstance(data, list) and all(isinstance(row, dict) for row in data)):
        raise ToolError("a table artifact's data must be a list of row dicts")
    if artifact_type == "text" and not isinstance(data, str):
        raise ToolError("a text artifact's data must be a string")
    if artifact_type == "chart" and not isinstance(data, dict):
        raise ToolError("a chart artifact's data must be a dict")


def is_valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:  # lone surrogates
        return False


def clean_text(text: str) -> str:
    """Text the snippet produced, made safe to store anywhere (databases reject NUL and lone surrogates)."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text if is_valid_text(text) else text.encode("utf-8", "replace").decode("utf-8")


def _to_json(value) -> tuple[str, object]:
    """ASCII JSON text for the snippet and the same value as plain Python (what it will see)."""
    try:
        text = json.dumps(value, default=_json_default, allow_nan=False, separators=(",", ":"))
    except ValueError:  # NaN or infinity from the database: JSON has no such numbers
        text = json.dumps(_finite(value), default=_json_default, allow_nan=False, separators=(",", ":"))
    return text, json.loads(text)


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_default(value):
    if isinstance(value, decimal.Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, (set, frozenset)):
        return list(value)
    return str(value)
