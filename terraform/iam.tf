# Four roles, each with only what its principal does:
#   task_execution  ECS agent: pull the image, write the task's logs
#   task            the app: its two buckets, its two secrets, its topic, the key
#   state_machine   Step Functions: run/stop the task, publish failures, log, trace
#   scheduler       EventBridge Scheduler: start the state machine or the run-all task
# No statement allows "*" or "service:*" actions. Where AWS offers no resource-level
# permission, the Resource "*" is commented.

locals {
  task_definition_family_arn = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-definition/${aws_ecs_task_definition.etl.family}:*"
  cluster_tasks_arn          = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${aws_ecs_cluster.main.name}/*"
  task_role_arns             = [aws_iam_role.task_execution.arn, aws_iam_role.task.arn]
}

# ---- trust policies ----

data "aws_iam_policy_document" "assume" {
  for_each = {
    ecs_tasks = "ecs-tasks.amazonaws.com"
    states    = "states.amazonaws.com"
    scheduler = "scheduler.amazonaws.com"
  }

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [each.value]
    }
    # Confused-deputy guard: only this account's resources may use the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# ---- task execution role (ECS agent) ----

resource "aws_iam_role" "task_execution" {
  name               = "${local.name}-task-execution"
  assume_role_policy = data.aws_iam_policy_document.assume["ecs_tasks"].json
}

data "aws_iam_policy_document" "task_execution" {
  statement {
    sid     = "EcrAuth"
    actions = ["ecr:GetAuthorizationToken"]
    # GetAuthorizationToken has no resource-level permission: AWS requires "*".
    resources = ["*"]
  }

  statement {
    sid = "PullImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [aws_ecr_repository.app.arn]
  }

  statement {
    sid = "WriteTaskLogs"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
    ]
    resources = ["${aws_cloudwatch_log_group.tasks.arn}:*"]
  }
}

resource "aws_iam_role_policy" "task_execution" {
  name   = "pull-image-and-log"
  role   = aws_iam_role.task_execution.id
  policy = data.aws_iam_policy_document.task_execution.json
}

# ---- task role (the app) ----

resource "aws_iam_role" "task" {
  name               = "${local.name}-task"
  assume_role_policy = data.aws_iam_policy_document.assume["ecs_tasks"].json
}

data "aws_iam_policy_document" "task" {
  # GetEncryptionConfiguration only lets `ainsdale-etl check` report the default encryption.
  statement {
    sid       = "ListOwnBuckets"
    actions   = ["s3:GetBucketLocation", "s3:GetEncryptionConfiguration", "s3:ListBucket"]
    resources = local.data_bucket_arns
  }

  statement {
    sid = "ReadWriteOwnObjects"
    actions = [
      "s3:DeleteObject",
      "s3:GetObject",
      "s3:PutObject",
    ]
    resources = [for arn in local.data_bucket_arns : "${arn}/*"]
  }

  statement {
    sid = "ReadDatabaseCredentials"
    actions = [
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue",
    ]
    resources = [for secret in aws_secretsmanager_secret.database : secret.arn]
  }

  statement {
    sid       = "PublishAlerts"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
  }

  # Buckets, secrets and topic are encrypted with the pipeline key.
  statement {
    sid = "UsePipelineKey"
    actions = [
      "kms:Decrypt",
      "kms:GenerateDataKey",
    ]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "etl-data-access"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# ---- starting the ETL task: shared by Step Functions and Scheduler ----

data "aws_iam_policy_document" "run_etl_task" {
  statement {
    sid       = "RunEtlTask"
    actions   = ["ecs:RunTask"]
    resources = [local.task_definition_family_arn]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.main.arn]
    }
  }

  # Tags propagated from the task definition are applied at RunTask, which ECS
  # authorises as TagResource on the new task.
  statement {
    sid       = "TagEtlTask"
    actions   = ["ecs:TagResource"]
    resources = [local.cluster_tasks_arn]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }

  statement {
    sid       = "PassTaskRoles"
    actions   = ["iam:PassRole"]
    resources = local.task_role_arns
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# ---- state machine role (Step Functions) ----

resource "aws_iam_role" "state_machine" {
  name               = "${local.name}-state-machine"
  assume_role_policy = data.aws_iam_policy_document.assume["states"].json
}

data "aws_iam_policy_document" "state_machine" {
  source_policy_documents = [data.aws_iam_policy_document.run_etl_task.json]

  statement {
    sid       = "WatchAndStopEtlTask"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = [local.cluster_tasks_arn]
  }

  # runTask.sync learns that the task stopped through this Step Functions-managed rule.
  statement {
    sid = "SyncRule"
    actions = [
      "events:DescribeRule",
      "events:PutRule",
      "events:PutTargets",
    ]
    resources = ["arn:${local.partition}:events:${local.region}:${local.account_id}:rule/StepFunctionsGetEventsForECSTaskRule"]
  }

  statement {
    sid       = "PublishFailure"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
  }

  statement {
    sid       = "EncryptFailureMessage"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }

  statement {
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:DescribeLogGroups",
      "logs:DescribeResourcePolicies",
      "logs:GetLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:UpdateLogDelivery",
    ]
    # The CloudWatch Logs vended-delivery APIs have no resource-level permissions:
    # AWS documents "*" for Step Functions logging.
    resources = ["*"]
  }

  statement {
    sid = "Tracing"
    actions = [
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
      "xray:PutTelemetryRecords",
      "xray:PutTraceSegments",
    ]
    # X-Ray trace and sampling APIs have no resource-level permissions: AWS requires "*".
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "orchestrate-etl"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

# ---- scheduler role (EventBridge Scheduler) ----

resource "aws_iam_role" "scheduler" {
  name               = "${local.name}-scheduler"
  assume_role_policy = data.aws_iam_policy_document.assume["scheduler"].json
}

data "aws_iam_policy_document" "scheduler" {
  # The run-all schedule starts the task directly.
  source_policy_documents = [data.aws_iam_policy_document.run_etl_task.json]

  statement {
    sid       = "StartPipeline"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.pipeline.arn]
  }

  # Schedules are encrypted with the pipeline key; Scheduler decrypts their payload
  # with this role when it invokes the target.
  statement {
    sid       = "DecryptSchedulePayload"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "start-pipeline"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}
