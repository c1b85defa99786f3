"""Invariants of the deployment: Terraform, the state machine and the image.

Parsed, never applied: these run offline in about a second and fail when a change
weakens the task definition, IAM, the buckets, the pipeline's failure handling or
the image's runtime contract.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

from helpers.state_machine import PLACEHOLDER, TEMPLATE, TEMPLATE_DUMMIES, rendered_definition

ROOT = Path(__file__).resolve().parents[1]
TERRAFORM = ROOT / "terraform"
BUCKET_MODULE = TERRAFORM / "modules" / "data_bucket"
DOCKERFILE = ROOT / "docker" / "Dockerfile"

# A reference such as ${aws_iam_role.task.arn}, ${aws_x.y["k"].arn} or ${data.x.y.json}.
REFERENCE = re.compile(
    r"\$\{(?:data\.)?(?P<type>[a-z0-9_]+)\.(?P<name>[a-z0-9_]+)(?:\[[^\]]*\])?\.(?P<attr>\w+)\}"
)
RESOURCE_NAME = re.compile(r"\b(aws_[a-z0-9_]+)\.([a-z0-9_]+)\b")
LOCAL = re.compile(r"\blocal\.(\w+)\b")
VARIABLE = re.compile(r"^\$\{var\.(\w+)\}$")


# ---- loading ---------------------------------------------------------------------------


def load_hcl(path: Path) -> dict[str, Any]:
    """Parse one .tf file into plain Python values (strings without HCL quotes)."""
    with path.open() as handle:
        options_type = getattr(hcl2, "SerializationOptions", None)
        if options_type is None:  # python-hcl2 < 8 already strips quotes
            return hcl2.load(handle)
        options = options_type(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
        return hcl2.load(handle, serialization_options=options)


@dataclass
class Config:
    """The blocks of one Terraform module directory, indexed for lookups."""

    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            name: body for (kind, name), body in self.resources.items() if kind == resource_type
        }

    def resolve(self, value: Any) -> Any:
        """A `${var.x}` with a default becomes that default; anything else is returned as is."""
        if isinstance(value, str) and (match := VARIABLE.match(value)):
            variable = self.variables[match.group(1)]
            assert "default" in variable, f"var.{match.group(1)} has no default to check"
            return variable["default"]
        return value


@cache
def load_config(directory: Path) -> Config:
    config = Config()
    for path in sorted(directory.glob("*.tf")):
        parsed = load_hcl(path)
        for block in parsed.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    config.resources[(kind, name)] = body
        for block in parsed.get("data", []):
            for kind, named in block.items():
                for name, body in named.items():
                    config.data[(kind, name)] = body
        for block in parsed.get("locals", []):
            config.locals.update(block)
        for block in parsed.get("variable", []):
            config.variables.update(block)
        for block in parsed.get("module", []):
            config.modules.update(block)
    return config


def root() -> Config:
    return load_config(TERRAFORM)


def bucket_module() -> Config:
    return load_config(BUCKET_MODULE)


def reference(value: Any) -> tuple[str, str]:
    """(type, name) of the resource a `${type.name.attr}` string points at."""
    assert isinstance(value, str), value
    match = REFERENCE.fullmatch(value)
    assert match, f"expected a reference to a resource, got {value!r}"
    return match.group("type"), match.group("name")


def refers_to(value: Any, resource_type: str, name: str | None = None) -> bool:
    match = REFERENCE.search(value) if isinstance(value, str) else None
    return bool(
        match
        and match.group("type") == resource_type
        and (name is None or match.group("name") == name)
    )


def resources_named(resources: list[str] | str) -> set[tuple[str, str]]:
    """The resources an IAM `resources` value covers: a list of ARNs or a for expression."""
    if isinstance(resources, str):
        return set(RESOURCE_NAME.findall(resources))
    return {reference(resource) for resource in resources}


def local_value(expression: str) -> Any:
    """The local that `${jsonencode(local.x)}` or `${[for ... in local.x : ...]}` is built from."""
    match = LOCAL.search(expression)
    assert match, f"expected an expression over a local, got {expression!r}"
    return root().locals[match.group(1)]


def containers() -> list[dict[str, Any]]:
    """Every container definition of every task definition."""
    found = []
    for body in root().of_type("aws_ecs_task_definition").values():
        definitions = body["container_definitions"]
        found.extend(local_value(definitions) if isinstance(definitions, str) else definitions)
    assert found, "no container definitions found"
    return found


def container_environment(container: dict[str, Any]) -> dict[str, str]:
    environment = container.get("environment", [])
    if isinstance(environment, str):  # built with a for expression from a local map
        return dict(local_value(environment))
    return {item["name"]: item["value"] for item in environment}


def policy_documents() -> list[tuple[str, dict[str, Any]]]:
    documents = []
    for config in (root(), bucket_module()):
        for (kind, name), body in config.data.items():
            if kind == "aws_iam_policy_document":
                documents.append((name, body))
    return documents


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list(document.get("statement", []))


def role_policy_statements(role: str) -> list[dict[str, Any]]:
    """Statements of the inline policies attached to aws_iam_role.<role>, sources included."""
    found = []
    for body in root().of_type("aws_iam_role_policy").values():
        if reference(body["role"]) != ("aws_iam_role", role):
            continue
        document = root().data[reference(body["policy"])]
        found.extend(statements(document))
        for source in document.get("source_policy_documents", []):
            found.extend(statements(root().data[reference(source)]))
    assert found, f"aws_iam_role.{role} has no inline policy"
    return found


# ---- ECS task definition ---------------------------------------------------------------


def test_every_container_logs_through_awslogs_to_a_group_with_retention() -> None:
    for container in containers():
        logging = container["logConfiguration"]
        assert logging["logDriver"] == "awslogs"
        group = root().resources[reference(logging["options"]["awslogs-group"])]
        assert reference(logging["options"]["awslogs-group"])[0] == "aws_cloudwatch_log_group"
        assert logging["options"]["awslogs-stream-prefix"]
        retention = root().resolve(group["retention_in_days"])
        assert isinstance(retention, int) and retention > 0


def test_every_log_group_has_retention_and_encryption() -> None:
    groups = root().of_type("aws_cloudwatch_log_group")
    assert groups
    for name, group in groups.items():
        assert root().resolve(group.get("retention_in_days", 0)) > 0, name
        assert refers_to(group.get("kms_key_id"), "aws_kms_key"), name


SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|ACCESS_KEY|SECRET(?!_ID$)", re.I
)
# user:password@ in a URL, or an AWS access key id.
SECRET_VALUE = re.compile(r"://[^/\s:@]+:[^/\s@]+@|AKIA[0-9A-Z]{16}")


def test_no_credential_travels_in_plain_environment() -> None:
    for container in containers():
        environment = container_environment(container)
        assert environment, "the task needs its configuration"
        for name, value in environment.items():
            assert not SECRET_NAME.search(name), f"{name} looks like a secret: use `secrets`"
            assert not SECRET_VALUE.search(str(value)), f"{name} carries a credential"
        # Database URLs embed passwords: in production they come from Secrets Manager.
        assert "AINSDALE_SOURCE_URL" not in environment
        assert "AINSDALE_WAREHOUSE_URL" not in environment


def test_the_task_sets_only_settings_the_app_reads() -> None:
    """A removed setting would only be warned about: the task passes what replaced it."""
    from ainsdale_etl.core.settings import REPLACED_SETTINGS, misspelled_variables

    for container in containers():
        names = {n: "" for n in container_environment(container) if n.startswith("AINSDALE_")}
        assert misspelled_variables(names) == []
        assert sorted(set(names) & set(REPLACED_SETTINGS)) == []


def test_database_credentials_come_from_secrets_manager_readable_by_the_task_only() -> None:
    secret_ids = {}
    for container in containers():
        environment = container_environment(container)
        for name in ("AINSDALE_SOURCE_SECRET_ID", "AINSDALE_WAREHOUSE_SECRET_ID"):
            assert refers_to(environment[name], "aws_secretsmanager_secret"), name
            secret_ids[name] = environment[name]
        for secret in container.get("secrets", []):
            assert refers_to(secret["valueFrom"], "aws_secretsmanager_secret"), secret

    readable = [
        statement["resources"]
        for statement in role_policy_statements("task")
        if "secretsmanager:GetSecretValue" in statement["actions"]
    ]
    assert readable, "the task role cannot read the database secrets"
    # Exactly the secrets the task is told about: no more, no fewer.
    assert set().union(*map(resources_named, readable)) == {
        reference(value) for value in secret_ids.values()
    }
    secrets = root().resources[reference(secret_ids["AINSDALE_SOURCE_SECRET_ID"])]
    assert set(local_value(secrets["for_each"])) == {"source", "warehouse"}
    # The ECS agent never needs the values: nothing is injected via `secrets`.
    for statement in role_policy_statements("task_execution"):
        assert not any(action.startswith("secretsmanager:") for action in statement["actions"])


def test_the_app_may_publish_to_the_alert_topic_it_is_told_about() -> None:
    for container in containers():
        environment = container_environment(container)
        assert environment.get("AINSDALE_LOG_FORMAT") == "json"  # CloudWatch Logs Insights
        topic = reference(environment["AINSDALE_ALERT_TOPIC_ARN"])
        publishable = [
            resources_named(statement["resources"])
            for statement in role_policy_statements("task")
            if "sns:Publish" in statement["actions"]
        ]
        assert publishable and topic in set().union(*publishable)


def test_secrets_hold_no_values_in_terraform() -> None:
    assert root().of_type("aws_secretsmanager_secret")
    assert not root().of_type("aws_secretsmanager_secret_version")
    for name, secret in root().of_type("aws_secretsmanager_secret").items():
        assert refers_to(secret.get("kms_key_id"), "aws_kms_key"), name


def test_containers_run_read_only_as_non_root_with_a_writable_tmp() -> None:
    for name, task in root().of_type("aws_ecs_task_definition").items():
        volumes = {volume["name"] for volume in task.get("volume", [])}
        assert task["requires_compatibilities"] == ["FARGATE"], name
        assert reference(task["execution_role_arn"]) != reference(task["task_role_arn"])
        for container in containers():
            assert container["readonlyRootFilesystem"] is True
            assert container.get("privileged", False) is False
            uid = container["user"].split(":")[0]
            assert uid.isdigit() and int(uid) != 0
            tmp_mounts = [m for m in container["mountPoints"] if m["containerPath"] == "/tmp"]
            assert tmp_mounts and tmp_mounts[0]["sourceVolume"] in volumes
            assert container_environment(container)["AINSDALE_HOME"].startswith("/tmp/")


def test_cluster_has_container_insights() -> None:
    for name, cluster in root().of_type("aws_ecs_cluster").items():
        settings = {s["name"]: s["value"] for s in cluster["setting"]}
        assert settings.get("containerInsights") in {"enabled", "enhanced"}, name


# ---- the state machine -----------------------------------------------------------------


def state_machine() -> dict[str, Any]:
    machines = root().of_type("aws_sfn_state_machine")
    assert len(machines) == 1
    return next(iter(machines.values()))


def templatefile_arguments() -> set[str]:
    definition = state_machine()["definition"]
    assert "templatefile(" in definition and TEMPLATE.name in definition
    arguments = definition[definition.index("{", definition.index(TEMPLATE.name)) :]
    return set(re.findall(r"(\w+)\s*=", arguments))


def ecs_steps() -> list[tuple[str, dict[str, Any]]]:
    """The ECS task states in execution order, following Next from StartAt (past the Pass
    states that set up the execution's counters)."""
    definition = rendered_definition()
    states, name, order = definition["States"], definition["StartAt"], []
    while name:
        state = states[name]
        if state["Type"] != "Pass":
            assert state["Resource"].endswith(":states:::ecs:runTask.sync"), name
            order.append((name, state))
        name = state.get("Next")
    return order


def test_template_variables_match_what_terraform_passes() -> None:
    placeholders = set(PLACEHOLDER.findall(TEMPLATE.read_text()))
    assert placeholders == templatefile_arguments()
    assert placeholders == set(TEMPLATE_DUMMIES)


def test_pipeline_runs_extract_transform_load_on_the_cluster() -> None:
    steps = ecs_steps()
    commands = []
    for name, state in steps:
        parameters = state["Parameters"]
        assert parameters["Cluster"] == TEMPLATE_DUMMIES["cluster_arn"], name
        assert parameters["TaskDefinition"] == TEMPLATE_DUMMIES["task_definition_arn"], name
        assert parameters["LaunchType"] == "FARGATE", name
        network = parameters["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["Subnets"] == json.loads(TEMPLATE_DUMMIES["subnets_json"])
        (override,) = parameters["Overrides"]["ContainerOverrides"]
        assert override["Name"] == TEMPLATE_DUMMIES["container_name"]
        commands.append(override["Command"])
        assert isinstance(state["TimeoutSeconds"], int) and state["TimeoutSeconds"] > 0
    # The load publishes the dashboard it changed (a report that cannot be is a warning).
    assert commands == [["extract"], ["transform"], ["load", "--publish-report"]]
    assert steps[-1][1].get("End") is True
    # The override's Name must be the container the task definition declares.
    assert "container_name = local.container_name" in state_machine()["definition"]
    assert {c["name"] for c in containers()} == {"${local.container_name}"}


def test_a_step_retries_only_the_errors_of_starting_its_task_never_its_exit() -> None:
    """What the task's exit code means is the Catch's to decide (see
    tests/test_deploy_state_machine.py, which walks the definition); Retry only covers ECS
    refusing or failing to start the task."""
    states = rendered_definition()["States"]
    for name, state in ecs_steps():
        first, *others = state["Retry"]
        assert first == {"ErrorEquals": ["States.TaskFailed", "States.Timeout"], "MaxAttempts": 0}
        for retrier in others:
            assert retrier["BackoffRate"] > 1 and 1 <= retrier["MaxAttempts"] <= 3, name
        exits, anything = state["Catch"]
        assert exits["ErrorEquals"] == ["States.TaskFailed"], name
        assert states[exits["Next"]]["Type"] == "Pass", name
        assert anything["ErrorEquals"] == ["States.ALL"], name
        notify = states[anything["Next"]]
        assert notify["Type"] == "Task"
        assert notify["Resource"].endswith(":states:::sns:publish")
        assert notify["Parameters"]["TopicArn"] == TEMPLATE_DUMMIES["topic_arn"]
        assert states[notify["Next"]]["Type"] == "Fail"
        # Even when the alert cannot be sent, the execution still ends failed.
        assert all(states[c["Next"]]["Type"] == "Fail" for c in notify.get("Catch", []))


def test_state_machine_logs_everything_and_traces() -> None:
    machine = state_machine()
    (logging,) = machine["logging_configuration"]
    assert logging["level"] == "ALL"
    assert logging["include_execution_data"] is True
    assert refers_to(logging["log_destination"], "aws_cloudwatch_log_group")
    (tracing,) = machine["tracing_configuration"]
    assert tracing["enabled"] is True


def test_failed_executions_raise_an_alarm_to_the_topic() -> None:
    metrics = set()
    for alarm in root().of_type("aws_cloudwatch_metric_alarm").values():
        if alarm["namespace"] != "AWS/States":
            continue
        assert reference(alarm["dimensions"]["StateMachineArn"])[0] == "aws_sfn_state_machine"
        assert all(refers_to(action, "aws_sns_topic") for action in alarm["alarm_actions"])
        if alarm["metric_name"] == "${each.key}":  # one alarm per metric in for_each
            metrics.update(re.findall(r'"(\w+)"', alarm["for_each"]))
        else:
            metrics.add(alarm["metric_name"])
    assert {"ExecutionsFailed", "ExecutionsTimedOut"} <= metrics


def test_failed_executions_alarm_once_per_incident_not_per_run() -> None:
    failing = root().resources[("aws_cloudwatch_metric_alarm", "executions_failing")]
    periods = root().resolve(failing["evaluation_periods"])
    assert periods == root().variables["failed_runs_to_alarm"]["default"] >= 2
    assert failing["datapoints_to_alarm"] == failing["evaluation_periods"]
    assert failing["period"] == "${var.schedule_period_minutes * 60}"


# ---- the app's metrics: freshness alarm and dashboard ----------------------------------

DASHBOARD = TERRAFORM / "templates" / "dashboard.json.tftpl"


def test_the_freshness_alarm_watches_the_lag_the_app_reports_and_missing_data_breaches() -> None:
    from ainsdale_etl.cli.metrics import METRIC_NAMES

    alarm = root().resources[("aws_cloudwatch_metric_alarm", "freshness")]
    # The namespace the alarm reads is the one the task is told to write.
    assert alarm["namespace"] == "${local.metrics_namespace}"
    for container in containers():
        assert container_environment(container)["AINSDALE_METRICS_NAMESPACE"] == alarm["namespace"]
    assert alarm["metric_name"] == "lag_seconds" and "lag_seconds" in METRIC_NAMES
    assert alarm["statistic"] == "Minimum"  # one fresh report in a period is enough
    # No report at all is a stale warehouse: a disabled schedule, runs that all fail or exit 75.
    assert alarm["treat_missing_data"] == "breaching"
    assert alarm["evaluation_periods"] == alarm["datapoints_to_alarm"]
    assert alarm["threshold"] == "${var.freshness_threshold_minutes * 60}"
    assert [reference(a) for a in alarm["alarm_actions"]] == [("aws_sns_topic", "alerts")]


@cache
def rendered_dashboard() -> dict[str, Any]:
    dummies = {
        "namespace": "ainsdale-etl-prod",
        "region": "eu-west-2",
        "state_machine_arn": "arn:aws:states:eu-west-2:123456789012:stateMachine:x",
        "log_group": "/ecs/ainsdale-etl-prod",
        "freshness_alarm_arn": "arn:aws:cloudwatch:eu-west-2:123456789012:alarm:a",
        "failing_alarm_arn": "arn:aws:cloudwatch:eu-west-2:123456789012:alarm:b",
        "threshold_seconds": "7200",
    }
    text = DASHBOARD.read_text()
    dashboard = root().resources[("aws_cloudwatch_dashboard", "pipeline")]
    passed = set(re.findall(r"(\w+)\s*=", dashboard["dashboard_body"].split("{", 1)[1]))
    assert set(PLACEHOLDER.findall(text)) == set(dummies) == passed
    return json.loads(PLACEHOLDER.sub(lambda match: dummies[match.group(1)], text))


def test_the_dashboard_shows_throughput_lag_and_failures_of_metrics_the_app_emits() -> None:
    from ainsdale_etl.cli.metrics import METRIC_NAMES

    widgets = rendered_dashboard()["widgets"]
    named: set[str] = set()
    for widget in widgets:
        for line in widget["properties"].get("metrics", []):
            if isinstance(line[0], str) and line[0] == "ainsdale-etl-prod":
                named.add(line[1])
            elif isinstance(line[0], dict):
                named.update(re.findall(r"MetricName=\"(\w+)\"", line[0]["expression"]))
    assert named <= METRIC_NAMES, named - METRIC_NAMES
    assert {"rows_per_s", "lag_seconds", "failures", "batches_pending"} <= named
    assert "dashboard_unpublished" in named  # a load's dashboard that stayed stale
    titles = " ".join(w["properties"].get("title", "") for w in widgets).lower()
    assert all(word in titles for word in ("throughput", "lag", "failures"))


# ---- schedules -------------------------------------------------------------------------


def test_pipeline_schedule_starts_the_state_machine_every_30_minutes_by_default() -> None:
    schedule = root().resources[("aws_scheduler_schedule", "pipeline")]
    (target,) = schedule["target"]
    assert reference(target["arn"])[0] == "aws_sfn_state_machine"
    assert reference(target["role_arn"]) == ("aws_iam_role", "scheduler")
    assert root().resolve(schedule["schedule_expression"]) in {
        "rate(30 minutes)",
        "cron(0/30 * * * ? *)",
        "cron(*/30 * * * ? *)",
    }
    starts = [
        resource
        for statement in role_policy_statements("scheduler")
        if "states:StartExecution" in statement["actions"]
        for resource in statement["resources"]
    ]
    assert [reference(r) for r in starts] == [reference(target["arn"])]


def test_run_all_schedule_targets_the_cluster_and_is_disabled_by_default() -> None:
    schedule = root().resources[("aws_scheduler_schedule", "run_all")]
    (target,) = schedule["target"]
    assert reference(target["arn"])[0] == "aws_ecs_cluster"
    assert reference(target["role_arn"]) == ("aws_iam_role", "scheduler")
    (ecs,) = target["ecs_parameters"]
    assert reference(ecs["task_definition_arn"])[0] == "aws_ecs_task_definition"
    assert root().resolve(schedule["state"]) == "DISABLED"
    # With no override the task runs the task definition's command.
    assert all(c["command"] == ["run-all", "--publish-report"] for c in containers())


def test_lake_maintain_runs_weekly_as_the_task_with_its_command_waiting_for_the_lock() -> None:
    schedule = root().resources[("aws_scheduler_schedule", "lake_maintain")]
    (target,) = schedule["target"]
    assert target["arn"].endswith(":scheduler:::aws-sdk:ecs:runTask")
    assert reference(target["role_arn"]) == ("aws_iam_role", "scheduler")
    run_task = target["input"]  # jsonencode(...) as written: the names it refers to
    for part in ("aws_ecs_cluster.main.arn", "aws_ecs_task_definition.etl.arn", "FARGATE",
                 "local.container_name", "var.subnet_ids", "var.security_group_ids"):  # fmt: skip
        assert part in run_task, part
    assert '["lake", "maintain", "--wait", "600"]' in run_task
    assert root().resolve(schedule["state"]) == "ENABLED"
    assert root().resolve(schedule["schedule_expression"]).startswith("cron(")
    # The scheduler role may run that task (the same statement as the run-all schedule's).
    runs = [s for s in role_policy_statements("scheduler") if "ecs:RunTask" in s["actions"]]
    assert runs


def test_roles_are_assumable_only_by_their_service() -> None:
    expected = {
        "task_execution": "ecs-tasks.amazonaws.com",
        "task": "ecs-tasks.amazonaws.com",
        "state_machine": "states.amazonaws.com",
        "scheduler": "scheduler.amazonaws.com",
    }
    roles = root().of_type("aws_iam_role")
    assert set(roles) == set(expected) | {"lake_analyst"}  # people's role: see the lake's tests
    trust = root().data[("aws_iam_policy_document", "assume")]
    for role, service in expected.items():
        key = re.search(r'assume\["(\w+)"\]', roles[role]["assume_role_policy"])
        assert key, role
        assert trust["for_each"][key.group(1)] == service, role
    (statement,) = statements(trust)
    assert statement["condition"][0]["variable"] == "aws:SourceAccount"


# ---- IAM -------------------------------------------------------------------------------

SERVICE_WILDCARD = re.compile(r"^([a-z0-9-]+:)?\*$")


@pytest.mark.parametrize(
    "name,document", policy_documents(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_no_statement_allows_every_action(name: str, document: dict[str, Any]) -> None:
    for statement in statements(document):
        if statement.get("effect", "Allow") != "Allow":
            continue  # a Deny of s3:* (TLS only) is the point, not a grant
        for action in statement.get("actions", []):
            assert not SERVICE_WILDCARD.match(action), f"{name}: {action}"
        assert "not_actions" not in statement, name


def test_every_wildcard_resource_is_explained() -> None:
    for path in sorted(TERRAFORM.rglob("*.tf")):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if re.search(r'resources\s*=\s*\["\*"\]', line):
                assert lines[number - 1].strip().startswith("#"), f"{path.name}:{number + 1}"


def test_pass_role_only_for_the_two_task_roles() -> None:
    passes = []
    for role in ("state_machine", "scheduler"):
        for statement in role_policy_statements(role):
            if "iam:PassRole" in statement["actions"]:
                passes.append(statement)
    assert passes
    for statement in passes:
        resources = statement["resources"]
        if isinstance(resources, str):  # a local list of the task roles
            resources = local_value(resources)
        assert {reference(r) for r in resources} == {
            ("aws_iam_role", "task"),
            ("aws_iam_role", "task_execution"),
        }
        assert statement["condition"][0]["variable"] == "iam:PassedToService"


# ---- buckets ---------------------------------------------------------------------------


def bucket_guard_rails(config: Config, bucket: str) -> None:
    def attached(resource_type: str) -> list[dict[str, Any]]:
        return [
            body
            for body in config.of_type(resource_type).values()
            if reference(body["bucket"]) == ("aws_s3_bucket", bucket)
        ]

    (versioning,) = attached("aws_s3_bucket_versioning")
    assert versioning["versioning_configuration"][0]["status"] == "Enabled", bucket
    (encryption,) = attached("aws_s3_bucket_server_side_encryption_configuration")
    default = encryption["rule"][0]["apply_server_side_encryption_by_default"][0]
    assert default["sse_algorithm"] in {"aws:kms", "aws:kms:dsse", "AES256"}, bucket
    (block,) = attached("aws_s3_bucket_public_access_block")
    for setting in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert block[setting] is True, f"{bucket}: {setting}"
    (lifecycle,) = attached("aws_s3_bucket_lifecycle_configuration")
    assert lifecycle["rule"], bucket
    (policy,) = attached("aws_s3_bucket_policy")
    tls = statements(config.data[reference(policy["policy"])])
    assert any(
        s.get("effect") == "Deny" and s["condition"][0]["variable"] == "aws:SecureTransport"
        for s in tls
    ), f"{bucket} accepts plain HTTP"


def test_data_buckets_are_versioned_kms_encrypted_private_and_logged() -> None:
    module = bucket_module()
    (bucket,) = module.of_type("aws_s3_bucket")
    bucket_guard_rails(module, bucket)
    (encryption,) = module.of_type("aws_s3_bucket_server_side_encryption_configuration").values()
    assert (
        encryption["rule"][0]["apply_server_side_encryption_by_default"][0]["sse_algorithm"]
        == "aws:kms"
    )
    assert module.of_type("aws_s3_bucket_logging")
    sources = {body["source"] for body in root().modules.values()}
    assert sources == {"./modules/data_bucket"}
    assert {"ingest_bucket", "processed_bucket"} <= set(root().modules)
    environment = container_environment(containers()[0])
    assert environment["AINSDALE_INGEST_URI"] == "s3://${module.ingest_bucket.id}"
    assert environment["AINSDALE_PROCESSED_URI"] == "s3://${module.processed_bucket.id}"


def test_every_root_bucket_has_the_same_guard_rails() -> None:
    buckets = root().of_type("aws_s3_bucket")
    assert buckets
    for bucket in buckets:
        bucket_guard_rails(root(), bucket)


def test_every_bucket_that_logs_may_write_to_the_log_bucket() -> None:
    """S3 delivers a bucket's access logs only where the log bucket's policy admits its ARN:
    the Athena results bucket logged there and was refused."""
    logging_buckets = {name for name, body in root().modules.items() if "access_log_bucket" in body}
    assert "athena_results_bucket" in logging_buckets
    (policy,) = root().of_type("aws_s3_bucket_policy").values()
    [delivery] = [
        s
        for s in statements(root().data[reference(policy["policy"])])
        if s.get("principals", [{}])[0].get("identifiers") == ["logging.s3.amazonaws.com"]
    ]
    [source] = [c for c in delivery["condition"] if c["variable"] == "aws:SourceArn"]
    listed = LOCAL.search(source["values"])
    assert listed, source["values"]
    admitted = set(re.findall(r"module\.(\w+)\.arn", str(root().locals[listed.group(1)])))
    assert logging_buckets <= admitted


def test_reports_of_each_batch_and_replaced_versions_expire_but_not_the_latest_report() -> None:
    module_rules = bucket_module().of_type("aws_s3_bucket_lifecycle_configuration")
    (lifecycle,) = module_rules.values()
    everywhere = lifecycle["rule"][0]
    assert everywhere["noncurrent_version_expiration"][0]["noncurrent_days"]
    assert lifecycle["dynamic"][0]["rule"]["for_each"] == "${var.expiring_prefixes}"
    processed = root().modules["processed_bucket"]
    prefixes = processed["expiring_prefixes"]
    assert list(prefixes) == ["reports/2"]  # batch ids begin with the year
    assert not "reports/latest/".startswith("reports/2")
    assert "20261125T174812123456Z".startswith("2")


def test_the_task_names_the_rds_ca_bundle_where_the_app_looks_for_it() -> None:
    from ainsdale_etl.adapters.secrets import RDS_CA_BUNDLE

    assert container_environment(containers()[0])["PGSSLROOTCERT"] == RDS_CA_BUNDLE


def test_ecr_tags_are_immutable_scanned_and_encrypted() -> None:
    for name, repository in root().of_type("aws_ecr_repository").items():
        assert repository["image_tag_mutability"] == "IMMUTABLE", name
        assert repository["image_scanning_configuration"][0]["scan_on_push"] is True, name
        encryption = repository["encryption_configuration"][0]
        assert encryption["encryption_type"] == "KMS" and refers_to(
            encryption["kms_key"], "aws_kms_key"
        )


def test_state_is_locked_in_s3() -> None:
    text = (TERRAFORM / "versions.tf").read_text()
    (terraform,) = load_hcl(TERRAFORM / "versions.tf")["terraform"]
    (backend,) = terraform["backend"]
    assert backend["s3"]["use_lockfile"] is True
    assert terraform["required_providers"][0]["aws"]["version"].startswith("~> 6.")
    assert "dynamodb_table" not in text


# ---- the image -------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Instructions per stage, as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, arguments = line.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append((keyword.upper(), arguments.strip()))
    return stages


def instructions(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [arguments for word, arguments in stage if word == keyword]


def test_image_final_stage_runs_the_cli_as_a_numeric_non_root_user() -> None:
    final = dockerfile_stages()[-1]
    (user,) = instructions(final, "USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    (entrypoint,) = instructions(final, "ENTRYPOINT")
    assert json.loads(entrypoint) == ["ainsdale-etl"]
    (command,) = instructions(final, "CMD")
    assert json.loads(command) == ["run-all"]


def test_image_is_multi_stage_on_a_pinned_python_base() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    for stage in stages:
        image = instructions(stage, "FROM")[0].split()[0]
        assert image.startswith("python:3.13-slim"), image
        assert ":" in image and not image.endswith(":latest")


def test_image_installs_the_lock_with_only_the_report_extra_and_no_build_tools() -> None:
    stages = dockerfile_stages()
    build_runs = " ".join(run for stage in stages[:-1] for run in instructions(stage, "RUN"))
    assert "uv sync --locked --no-editable" in build_runs
    build_env = " ".join(env for stage in stages[:-1] for env in instructions(stage, "ENV"))
    assert "UV_PROJECT_ENVIRONMENT=/opt/venv" in build_env.split()
    assert "--extra report" in build_runs  # the published dashboard is built in the task
    assert not re.search(
        r"--all-extras|--extra (dev|local)|\[(dev|local)\]|-e |--editable", build_runs
    )
    assert any("uv.lock" in copy for copy in instructions(stages[0], "COPY"))
    # The uv that builds the image is the one the lock pins (and make install bootstraps).
    (uv_arg,) = [a for a in instructions(stages[0], "ARG") if a.startswith("UV_VERSION=")]
    locked = re.search(r'name = "uv"\nversion = "([^"]+)"', (ROOT / "uv.lock").read_text())
    assert locked and uv_arg == f"UV_VERSION={locked.group(1)}"
    final = stages[-1]
    assert not instructions(final, "RUN"), "the final stage installs nothing"
    copies = instructions(final, "COPY")
    assert copies == [
        "--from=build /opt/venv /opt/venv",
        "--from=fonts /usr/share/fonts /usr/share/fonts",
        "--from=rds-ca /rds-ca/rds-global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem",
    ]


def test_image_carries_fonts_for_cjk_and_emoji_names() -> None:
    # The dashboard's PNGs are drawn in the task: names in CJK or with emoji need glyphs.
    (fonts,) = [s for s in dockerfile_stages() if s[0][1].endswith(" AS fonts")]
    installs = " ".join(instructions(fonts, "RUN"))
    assert all(
        p in installs
        for p in ("fonts-noto-cjk", "fonts-noto-color-emoji", "--no-install-recommends")
    )


def test_image_fetches_and_checks_the_rds_ca_bundle_where_the_task_points() -> None:
    """AWS's global bundle, over HTTPS at each build and checked by the fetcher (an error page
    fails the build), lands where PGSSLROOTCERT and the app look: verify-full for RDS."""
    from ainsdale_etl.adapters.secrets import RDS_CA_BUNDLE

    (stage,) = [s for s in dockerfile_stages() if s[0][1].endswith(" AS rds-ca")]
    (url,) = [a.split("=", 1)[1] for a in instructions(stage, "ARG") if a.startswith("RDS_CA_URL=")]
    assert url == "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
    (copy,) = instructions(stage, "COPY")
    source, script = copy.split()
    assert source == "docker/rds_ca_bundle.py" and (ROOT / source).is_file()
    assert f"!{source}" in (ROOT / ".dockerignore").read_text().splitlines()
    (run,) = instructions(stage, "RUN")
    assert run.split() == ["python", script, '"${RDS_CA_URL}"', "/rds-ca/rds-global-bundle.pem"]
    # No pinned checksum: AWS rotates the bundle, and the build would fail at each rotation.
    assert not any(word == "ADD" for s in dockerfile_stages() for word, _ in s)
    (bundle_copy,) = [c for c in instructions(dockerfile_stages()[-1], "COPY") if "rds-ca" in c]
    assert bundle_copy.split()[-1] == RDS_CA_BUNDLE
    assert container_environment(containers()[0])["PGSSLROOTCERT"] == RDS_CA_BUNDLE


def test_image_writes_only_under_tmp() -> None:
    environment = " ".join(instructions(dockerfile_stages()[-1], "ENV"))
    for setting in (
        "PYTHONUNBUFFERED=1",
        "PYTHONDONTWRITEBYTECODE=1",
        "HOME=/tmp",
        "TMPDIR=/tmp",
        "AINSDALE_HOME=/tmp/ainsdale",
    ):
        assert setting in environment.split(), setting


def test_dockerignore_admits_only_what_the_build_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!uv.lock", "!README.md", "!src/"} <= set(lines)


# ---- the lake ----------------------------------------------------------------------------


def test_the_task_writes_the_lake_to_glue_in_its_own_database():
    environment = container_environment(containers()[0])
    assert environment["AINSDALE_LAKE_CATALOG"] == "glue"
    assert refers_to(environment["AINSDALE_LAKE_DATABASE"], "aws_glue_catalog_database", "lake")
    lake = [
        s
        for s in role_policy_statements("task")
        if any(a.startswith("glue:") for a in s["actions"])
    ]
    assert lake
    (statement,) = lake
    assert {"glue:CreateTable", "glue:UpdateTable"} <= set(statement["actions"])
    assert not any("Database" in a and "Get" not in a for a in statement["actions"])
    assert "*" not in local_value(statement["resources"])
    arns = " ".join(root().locals[n] for n in ("lake_database_arn", "lake_tables_arn"))
    assert arns.count("aws_glue_catalog_database.lake.name") == 2


def test_athena_reads_the_lake_on_engine_v3_with_encrypted_expiring_results():
    (workgroup,) = root().of_type("aws_athena_workgroup").values()
    (config,) = workgroup["configuration"]
    assert config["enforce_workgroup_configuration"] is True
    assert config["engine_version"][0]["selected_engine_version"] == "Athena engine version 3"
    (results,) = config["result_configuration"]
    assert "module.athena_results_bucket.id" in results["output_location"]
    assert results["encryption_configuration"][0]["encryption_option"] == "SSE_KMS"
    module = root().modules["athena_results_bucket"]
    assert module["source"] == "./modules/data_bucket"
    assert module["current_version_expiration_days"] == "${var.athena_results_retention_days}"
    rules = bucket_module().of_type("aws_s3_bucket_lifecycle_configuration")
    (lifecycle,) = rules.values()
    assert lifecycle["rule"][0]["dynamic"][0]["expiration"]


def test_the_analyst_role_only_reads_the_lake():
    (trust,) = statements(root().data[("aws_iam_policy_document", "analyst_assume")])
    assert trust["principals"][0]["identifiers"] == [
        "arn:${local.partition}:iam::${local.account_id}:root"
    ]
    policy = root().data[("aws_iam_policy_document", "lake_analyst")]
    actions = {a for s in statements(policy) for a in root().resolve(s["actions"])
               if isinstance(a, str)} | set(root().locals["lake_glue_read"])  # fmt: skip
    writes = {a for a in actions if a.startswith("glue:") and not a.startswith("glue:Get")}
    assert not writes
    reads_lake = next(s for s in statements(policy) if s["sid"] == "ReadLakeObjects")
    assert reads_lake["actions"] == ["s3:GetObject"]
    assert root().locals["lake_objects_arn"].endswith("/lake/*")
    (attachment,) = root().of_type("aws_iam_role_policy_attachment").values()
    assert reference(attachment["role"]) == ("aws_iam_role", "lake_analyst")
