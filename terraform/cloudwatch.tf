resource "aws_cloudwatch_log_group" "tasks" {
  name              = "/ecs/${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# The /aws/vendedlogs/ prefix keeps Step Functions from growing the account-wide
# CloudWatch Logs resource policy with one entry per log group.
resource "aws_cloudwatch_log_group" "state_machine" {
  name              = "/aws/vendedlogs/states/${local.name}-pipeline"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# Failed executions, as one incident: the alarm fires when every execution of the last
# `failed_runs_to_alarm` schedule periods failed, and notifies once (and once more when it
# clears). A single failure is the task's own alert to report (deduplicated per incident:
# README, Alerts), or NotifyFailure's when the task could not report it; this alarm is the
# backstop when neither message gets through, and it does not page for one stopped task.
resource "aws_cloudwatch_metric_alarm" "executions_failing" {
  alarm_name          = "${local.name}-pipeline-ExecutionsFailed"
  alarm_description   = "ainsdale-etl state machine: executions failed in ${var.failed_runs_to_alarm} schedule periods in a row. Logs: ${aws_cloudwatch_log_group.tasks.name}"
  namespace           = "AWS/States"
  metric_name         = "ExecutionsFailed"
  dimensions          = { StateMachineArn = aws_sfn_state_machine.pipeline.arn }
  statistic           = "Sum"
  period              = var.schedule_period_minutes * 60
  evaluation_periods  = var.failed_runs_to_alarm
  datapoints_to_alarm = var.failed_runs_to_alarm
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
}

# An execution that ran out of time never reached its own failure handling.
resource "aws_cloudwatch_metric_alarm" "executions_timed_out" {
  alarm_name          = "${local.name}-pipeline-ExecutionsTimedOut"
  alarm_description   = "ainsdale-etl state machine: ExecutionsTimedOut > 0. Logs: ${aws_cloudwatch_log_group.tasks.name}"
  namespace           = "AWS/States"
  metric_name         = "ExecutionsTimedOut"
  dimensions          = { StateMachineArn = aws_sfn_state_machine.pipeline.arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
}

# ---- the app's own metrics (CloudWatch Embedded Metric Format in the task's log lines) ----

locals {
  # Told to the app as AINSDALE_METRICS_NAMESPACE (ecs.tf): one namespace per environment.
  metrics_namespace = local.name
  # Periods of the schedule the freshness threshold spans: every one of them must breach.
  freshness_periods = max(2, ceil(var.freshness_threshold_minutes / var.schedule_period_minutes))
}

# The warehouse is stale: its lag behind totesys (lag_seconds, reported at the end of every
# extract, load and run-all that ended well) stayed above the threshold, or nothing reported
# it at all (missing data breaches): the schedule is disabled, every run fails or exits 75,
# the lock is held by a run that hangs, or a backlog keeps the newest batch waiting.
resource "aws_cloudwatch_metric_alarm" "freshness" {
  alarm_name          = "${local.name}-warehouse-stale"
  alarm_description   = "ainsdale-etl: the warehouse lags totesys by more than ${var.freshness_threshold_minutes} minutes, or no run reported its freshness. Dashboard: ${local.name}. Logs: ${aws_cloudwatch_log_group.tasks.name}"
  namespace           = local.metrics_namespace
  metric_name         = "lag_seconds"
  statistic           = "Minimum"
  period              = var.schedule_period_minutes * 60
  evaluation_periods  = local.freshness_periods
  datapoints_to_alarm = local.freshness_periods
  threshold           = var.freshness_threshold_minutes * 60
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_dashboard" "pipeline" {
  dashboard_name = local.name
  dashboard_body = templatefile("${path.module}/templates/dashboard.json.tftpl", {
    namespace           = local.metrics_namespace
    region              = local.region
    state_machine_arn   = aws_sfn_state_machine.pipeline.arn
    log_group           = aws_cloudwatch_log_group.tasks.name
    freshness_alarm_arn = aws_cloudwatch_metric_alarm.freshness.arn
    failing_alarm_arn   = aws_cloudwatch_metric_alarm.executions_failing.arn
    threshold_seconds   = var.freshness_threshold_minutes * 60
  })
}
