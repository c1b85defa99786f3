"""The deployed state machine's definition: its Terraform template rendered with one plausible
value per variable, as ``templatefile`` would."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"
TEMPLATE = TERRAFORM / "templates" / "pipeline.asl.json.tftpl"

# One plausible value per template variable, as JSON text.
TEMPLATE_DUMMIES = {
    "partition": "aws",
    "cluster_arn": "arn:aws:ecs:eu-west-2:123456789012:cluster/ainsdale-etl-prod",
    "task_definition_arn": "arn:aws:ecs:eu-west-2:123456789012:task-definition/ainsdale-etl-prod:7",
    "container_name": "ainsdale-etl",
    "subnets_json": '["subnet-0abc", "subnet-0def"]',
    "security_groups_json": '["sg-0abc"]',
    "assign_public_ip": "DISABLED",
    "topic_arn": "arn:aws:sns:eu-west-2:123456789012:ainsdale-etl-prod-alerts",
    "step_timeout_seconds": "3600",
    "try_later_attempts": "3",
    "try_later_wait_seconds": "120",
}
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


@cache
def rendered_definition() -> dict[str, Any]:
    """The template with every placeholder replaced by its dummy, parsed."""
    text = TEMPLATE.read_text()
    rendered = PLACEHOLDER.sub(lambda match: TEMPLATE_DUMMIES[match.group(1)], text)
    return json.loads(rendered)
