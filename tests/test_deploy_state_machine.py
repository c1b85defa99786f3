"""The state machine routes a failed step by its container's exit code (README: exit codes).

The definition is rendered from its template and walked by helpers/asl.py, an interpreter of
the ASL subset it uses, with each ECS task's outcome injected: moto's Step Functions cannot
run ECS tasks, so executing the real thing locally is not possible; this walk is the honest
substitute. It asserts the routing, not AWS's behaviour: that a non-zero container exit fails
a ``runTask.sync`` Task with States.TaskFailed whose Cause is the stopped task as JSON is
AWS's documented contract, reproduced by ``stopped_task`` below.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from helpers.asl import Execution, TaskError, run
from helpers.state_machine import TEMPLATE_DUMMIES, rendered_definition

TRY_LATER_ATTEMPTS = int(TEMPLATE_DUMMIES["try_later_attempts"])
WAIT = int(TEMPLATE_DUMMIES["try_later_wait_seconds"])
STEPS = ["Extract", "Transform", "Load"]


def stopped_task(exit_code: int | None) -> TaskError:
    """How ``ecs:runTask.sync`` fails when the task stops with a non-zero exit (or none)."""
    container: dict[str, Any] = {"Name": "ainsdale-etl", "LastStatus": "STOPPED"}
    if exit_code is not None:
        container["ExitCode"] = exit_code
    task = {
        "TaskArn": "arn:aws:ecs:eu-west-2:123456789012:task/ainsdale-etl-prod/0123abcd",
        "LastStatus": "STOPPED",
        "StopCode": "EssentialContainerExited" if exit_code is not None else "TaskFailedToStart",
        "StoppedReason": "Essential container in task exited",
        "Containers": [container],
    }
    return TaskError("States.TaskFailed", json.dumps(task))


def walk(outcomes: dict[str, list[Any]]) -> Execution:
    """Run the state machine; each step's attempts take the next outcome in its list (an
    exit code, or a TaskError), and 0 once the list is used up."""
    left = {step: list(codes) for step, codes in outcomes.items()}

    def task(name: str, _parameters: dict[str, Any]) -> dict[str, Any]:
        outcome = left.get(name, []).pop(0) if left.get(name) else 0
        if isinstance(outcome, TaskError):
            raise outcome
        if outcome != 0:
            raise stopped_task(outcome)
        return {"Containers": [{"ExitCode": 0}]}

    return run(rendered_definition(), task, {"source": "schedule"})


def runs(execution: Execution) -> dict[str, int]:
    return {step: execution.tasks.count(step) for step in STEPS}


def test_every_step_succeeding_runs_them_in_order_and_pages_no_one():
    execution = walk({})
    assert execution.status == "SUCCEEDED"
    assert execution.tasks == STEPS and execution.published == [] and execution.waits == []


def test_try_later_is_waited_out_and_the_step_run_again():
    execution = walk({"Transform": [75, 75]})
    assert execution.status == "SUCCEEDED"
    assert runs(execution) == {"Extract": 1, "Transform": 3, "Load": 1}
    assert execution.waits == [WAIT, WAIT] and execution.published == []


def test_try_later_is_bounded_per_execution_then_fails_without_a_page():
    execution = walk({"Extract": [75] * 10})
    assert execution.status == "FAILED" and execution.error == "TryLaterExhausted"
    assert runs(execution) == {"Extract": TRY_LATER_ATTEMPTS + 1, "Transform": 0, "Load": 0}
    assert execution.waits == [WAIT] * TRY_LATER_ATTEMPTS
    assert execution.published == []  # the freshness alarm notices if every run ends so


def test_the_bound_counts_every_step_of_one_execution():
    execution = walk({"Extract": [75, 75], "Load": [75, 75]})
    assert execution.error == "TryLaterExhausted"
    assert len(execution.waits) == TRY_LATER_ATTEMPTS


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("code", [1, 2])
def test_bad_input_or_configuration_is_never_retried_and_not_paged_twice(step, code):
    execution = walk({step: [code]})
    assert execution.status == "FAILED" and execution.error == "StepFailed"
    assert execution.tasks == STEPS[: STEPS.index(step) + 1]  # once, and nothing after it
    assert execution.waits == []
    # The task paged itself (one page per incident: runtime/alerts.py); a second message
    # from here would page every scheduled run of a quarantined batch.
    assert execution.published == []


def test_a_stopped_task_ends_the_execution_without_a_page():
    execution = walk({"Load": [130]})
    assert execution.status == "FAILED" and execution.error == "Stopped"
    assert runs(execution)["Load"] == 1 and execution.published == []


@pytest.mark.parametrize(
    "outcome",
    [
        stopped_task(137),  # killed (out of memory, or SIGKILL after the stop timeout)
        stopped_task(None),  # never started: the image could not be pulled
        TaskError("States.Timeout", ""),  # ran past step_timeout_seconds
    ],
    ids=["killed", "never-started", "timed-out"],
)
def test_what_the_task_could_not_report_is_published_once_without_retry(outcome):
    execution = walk({"Transform": [outcome]})
    assert execution.status == "FAILED" and execution.error == "PipelineFailed"
    assert runs(execution) == {"Extract": 1, "Transform": 1, "Load": 0}
    [message] = execution.published
    assert message["TopicArn"] == TEMPLATE_DUMMIES["topic_arn"]
    assert outcome.error in message["Message"]


def test_ecs_refusing_to_start_a_task_is_retried_then_published():
    refused: Callable[[], TaskError] = lambda: TaskError("ECS.AmazonECSException", "capacity")  # noqa: E731
    execution = walk({"Extract": [refused(), refused(), refused()]})
    assert runs(execution)["Extract"] == 3  # the first try and two retries
    assert execution.error == "PipelineFailed" and len(execution.published) == 1
    recovered = walk({"Extract": [refused()]})
    assert recovered.status == "SUCCEEDED" and runs(recovered)["Extract"] == 2
