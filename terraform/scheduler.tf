resource "aws_scheduler_schedule_group" "main" {
  name = local.name
}

# The normal path: start the state machine on a schedule.
resource "aws_scheduler_schedule" "pipeline" {
  name                         = "${local.name}-pipeline"
  group_name                   = aws_scheduler_schedule_group.main.name
  description                  = "Start the extract -> transform -> load state machine."
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.schedule_timezone
  state                        = var.pipeline_schedule_state
  kms_key_arn                  = aws_kms_key.main.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sfn_state_machine.pipeline.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ source = "schedule" })

    # A missed start is not worth a late one: the next run picks up the work.
    retry_policy {
      maximum_event_age_in_seconds = 600
      maximum_retry_attempts       = 3
    }
  }
}

# A fallback with no Step Functions in the path: one task runs `run-all` (the image
# default command). Disabled unless run_all_schedule_state = "ENABLED"; enable this
# or the pipeline schedule, not both.
resource "aws_scheduler_schedule" "run_all" {
  name                         = "${local.name}-run-all"
  group_name                   = aws_scheduler_schedule_group.main.name
  description                  = "Run ainsdale-etl run-all as a single Fargate task."
  schedule_expression          = var.run_all_schedule_expression
  schedule_expression_timezone = var.schedule_timezone
  state                        = var.run_all_schedule_state
  kms_key_arn                  = aws_kms_key.main.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_ecs_cluster.main.arn
    role_arn = aws_iam_role.scheduler.arn

    ecs_parameters {
      task_definition_arn = aws_ecs_task_definition.etl.arn
      launch_type         = "FARGATE"
      propagate_tags      = "TASK_DEFINITION"

      network_configuration {
        subnets          = var.subnet_ids
        security_groups  = var.security_group_ids
        assign_public_ip = var.assign_public_ip
      }
    }

    retry_policy {
      maximum_event_age_in_seconds = 600
      maximum_retry_attempts       = 3
    }
  }
}

# The lake's upkeep: `lake maintain` compacts the small files each batch adds and expires
# snapshots older than 30 days (its --retention-days). Weekly, at a quiet hour; it takes the
# pipeline lock, so it waits up to ten minutes for a run in progress rather than exit 75.
# Scheduler's templated ECS target cannot override the command, so this uses its universal
# target: RunTask itself, with the same task definition and network.
resource "aws_scheduler_schedule" "lake_maintain" {
  name                         = "${local.name}-lake-maintain"
  group_name                   = aws_scheduler_schedule_group.main.name
  description                  = "Compact the lake and expire its old snapshots (ainsdale-etl lake maintain)."
  schedule_expression          = var.lake_maintain_schedule_expression
  schedule_expression_timezone = var.schedule_timezone
  state                        = var.lake_maintain_schedule_state
  kms_key_arn                  = aws_kms_key.main.arn

  flexible_time_window {
    mode                      = "FLEXIBLE"
    maximum_window_in_minutes = 60
  }

  target {
    arn      = "arn:${local.partition}:scheduler:::aws-sdk:ecs:runTask"
    role_arn = aws_iam_role.scheduler.arn
    input = jsonencode({
      Cluster        = aws_ecs_cluster.main.arn
      TaskDefinition = aws_ecs_task_definition.etl.arn
      LaunchType     = "FARGATE"
      PropagateTags  = "TASK_DEFINITION"
      NetworkConfiguration = {
        AwsvpcConfiguration = {
          Subnets        = var.subnet_ids
          SecurityGroups = var.security_group_ids
          AssignPublicIp = var.assign_public_ip ? "ENABLED" : "DISABLED"
        }
      }
      Overrides = {
        ContainerOverrides = [
          { Name = local.container_name, Command = ["lake", "maintain", "--wait", "600"] }
        ]
      }
    })

    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 3
    }
  }
}
