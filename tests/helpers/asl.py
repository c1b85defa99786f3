"""A small interpreter of the Amazon States Language subset the pipeline's state machine uses.

moto's Step Functions cannot run ECS tasks, and no local emulator runs ``ecs:runTask.sync``
either, so the definition is walked here instead: each Task's outcome is injected by the
test, everything else (Pass with ``Parameters``/``Result``/``ResultPath``, the intrinsics
``States.StringToJson``, ``States.MathAdd`` and ``States.Format``, Choice rules on numbers,
strings and presence, Wait, Retry, Catch, Fail, Succeed) is interpreted as the ASL
specification says. Anything outside the subset raises, so a template change that uses more
of the language fails its tests loudly rather than being walked wrongly.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_TRANSITIONS = 500
_PATH_PART = re.compile(r"\.(\w+)|\[(\d+)\]")
_INTRINSIC = re.compile(r"^(States\.\w+)\((.*)\)$", re.DOTALL)


class TaskError(Exception):
    """A Task's failure: the ASL error name and its cause (text)."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(error)
        self.error, self.cause = error, cause


class PathMissing(Exception):
    pass


@dataclass
class Execution:
    status: str = "RUNNING"
    error: str | None = None
    visited: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)  # every attempt of every Task, in order
    waits: list[int] = field(default_factory=list)
    published: list[dict[str, Any]] = field(default_factory=list)
    output: Any = None


def read_path(data: Any, path: str, context: dict[str, Any] | None = None) -> Any:
    if path.startswith("$$"):
        data, path = context or {}, path[1:]
    if not path.startswith("$"):
        raise ValueError(f"not a path: {path}")
    rest = path[1:]
    for match in _PATH_PART.finditer(rest):
        key, index = match.groups()
        try:
            data = data[key] if key is not None else data[int(index)]
        except (KeyError, IndexError, TypeError):
            raise PathMissing(path) from None
    if "".join(m.group(0) for m in _PATH_PART.finditer(rest)) != rest:
        raise ValueError(f"unsupported JSONPath: {path}")
    return data


def write_path(data: Any, path: str | None, value: Any) -> Any:
    """The state's output: ``value`` placed into ``data`` at ResultPath ``path``."""
    if path is None:
        return data
    if path == "$":
        return value
    out = copy.deepcopy(data)
    keys = [m.group(1) for m in _PATH_PART.finditer(path[1:])]
    assert all(keys), f"unsupported ResultPath: {path}"
    target = out
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value
    return out


def _arguments(text: str) -> list[str]:
    parts, depth, quoted, current = [], 0, False, ""
    for char in text:
        if char == "'" and depth == 0:
            quoted = not quoted
        if char == "," and depth == 0 and not quoted:
            parts.append(current.strip())
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0) if not quoted else 0
        current += char
    return [*parts, current.strip()] if current.strip() else parts


def evaluate(expression: str, data: Any, context: dict[str, Any]) -> Any:
    match = _INTRINSIC.match(expression)
    if not match:
        return read_path(data, expression, context)
    name, raw = match.groups()
    args = []
    for arg in _arguments(raw):
        if arg.startswith("'"):
            args.append(arg[1:-1])
        elif arg.startswith("$") or arg.startswith("States."):
            args.append(evaluate(arg, data, context))
        else:
            args.append(json.loads(arg))
    if name == "States.StringToJson":
        (text,) = args
        try:
            return json.loads(text)
        except (TypeError, ValueError):
            raise TaskError("States.Runtime", f"not JSON: {text!r}") from None
    if name == "States.MathAdd":
        left, right = args
        return int(left) + int(right)
    if name == "States.Format":
        template, *values = args
        first, *pieces = template.split("{}")
        assert len(pieces) == len(values), expression
        return first + "".join(str(v) + p for v, p in zip(values, pieces, strict=True))
    raise NotImplementedError(name)


def parameters(template: Any, data: Any, context: dict[str, Any]) -> Any:
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                try:
                    out[key[:-2]] = evaluate(value, data, context)
                except PathMissing as missing:
                    raise TaskError("States.Runtime", f"no {missing}") from None
            else:
                out[key] = parameters(value, data, context)
        return out
    if isinstance(template, list):
        return [parameters(v, data, context) for v in template]
    return template


def matches(rule: dict[str, Any], data: Any) -> bool:
    if "And" in rule:
        return all(matches(r, data) for r in rule["And"])
    if "Or" in rule:
        return any(matches(r, data) for r in rule["Or"])
    if "Not" in rule:
        return not matches(rule["Not"], data)
    comparisons = set(rule) - {"Variable", "Next"}
    (operator,) = comparisons
    try:
        value = read_path(data, rule["Variable"])
    except PathMissing:
        if operator == "IsPresent":
            return rule["IsPresent"] is False
        raise TaskError("States.Runtime", f"no {rule['Variable']}") from None
    expected = rule[operator]
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    checks: dict[str, Callable[[], bool]] = {
        "IsPresent": lambda: expected is True,
        "NumericEquals": lambda: is_number and value == expected,
        "NumericGreaterThan": lambda: is_number and value > expected,
        "NumericLessThan": lambda: is_number and value < expected,
        "StringEquals": lambda: isinstance(value, str) and value == expected,
    }
    if operator not in checks:
        raise NotImplementedError(operator)
    return checks[operator]()


def _handler(rules: list[dict[str, Any]], error: str) -> dict[str, Any] | None:
    """The first retrier or catcher naming ``error`` (States.ALL: any but States.Runtime)."""
    for rule in rules:
        names = rule["ErrorEquals"]
        if error in names or ("States.ALL" in names and error != "States.Runtime"):
            return rule
    return None


def run(
    definition: dict[str, Any],
    task: Callable[[str, dict[str, Any]], Any],
    execution_input: Any = None,
) -> Execution:
    """Walk the definition. ``task(state_name, parameters)`` returns a Task's result or raises
    :class:`TaskError`; SNS publishes are recorded instead of being sent."""
    states = definition["States"]
    context = {"Execution": {"Id": "arn:aws:states:eu-west-2:123456789012:execution:test:1"}}
    execution = Execution()
    data: Any = {} if execution_input is None else execution_input
    name: str | None = definition["StartAt"]
    for _ in range(MAX_TRANSITIONS):
        assert name is not None
        state = states[name]
        execution.visited.append(name)
        kind = state["Type"]
        try:
            if kind == "Pass":
                if "Parameters" in state:
                    result = parameters(state["Parameters"], data, context)
                else:
                    result = state.get("Result", data)
                data = write_path(data, state.get("ResultPath", "$"), result)
            elif kind == "Wait":
                execution.waits.append(state["Seconds"])
            elif kind == "Choice":
                chosen = next((r for r in state["Choices"] if matches(r, data)), None)
                name = chosen["Next"] if chosen else state["Default"]
                continue
            elif kind == "Task":
                caught = _run_task(execution, name, state, data, context, task)
                if caught is not None:
                    name, data = caught
                    continue
                data = write_path(data, state.get("ResultPath", "$"), None)
            elif kind == "Fail":
                execution.status, execution.error = "FAILED", state["Error"]
                return execution
            elif kind == "Succeed":
                execution.status, execution.output = "SUCCEEDED", data
                return execution
            else:
                raise NotImplementedError(kind)
        except TaskError as failure:
            execution.status, execution.error = "FAILED", failure.error
            return execution
        if state.get("End"):
            execution.status, execution.output = "SUCCEEDED", data
            return execution
        name = state["Next"]
    raise AssertionError(f"more than {MAX_TRANSITIONS} transitions: a loop without a bound")


def _run_task(
    execution: Execution,
    name: str,
    state: dict[str, Any],
    data: Any,
    context: dict[str, Any],
    task: Callable[[str, dict[str, Any]], Any],
) -> tuple[str, Any] | None:
    """Run a Task with its retries; (next state, data) if a Catch took over, else None."""
    tries: dict[int, int] = {}
    while True:
        execution.tasks.append(name)
        try:
            arguments = parameters(state.get("Parameters", {}), data, context)
            if state["Resource"].endswith(":states:::sns:publish"):
                execution.published.append(arguments)
            else:
                task(name, arguments)
            return None
        except TaskError as failure:
            retrier = _handler(state.get("Retry", []), failure.error)
            if retrier is not None:
                index = id(retrier)
                tries[index] = tries.get(index, 0) + 1
                if tries[index] <= retrier.get("MaxAttempts", 3):
                    continue
            catcher = _handler(state.get("Catch", []), failure.error)
            if catcher is None:
                raise
            error = {"Error": failure.error, "Cause": failure.cause}
            return catcher["Next"], write_path(data, catcher.get("ResultPath", "$"), error)
