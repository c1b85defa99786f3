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

# An execution that failed (after its retries and the SNS notice) or ran out of time
# raises an alarm too, so a broken notification path cannot hide a broken pipeline.
resource "aws_cloudwatch_metric_alarm" "pipeline" {
  for_each = toset(["ExecutionsFailed", "ExecutionsTimedOut"])

  alarm_name          = "${local.name}-pipeline-${each.key}"
  alarm_description   = "ainsdale-etl state machine: ${each.key} > 0. Logs: ${aws_cloudwatch_log_group.tasks.name}"
  namespace           = "AWS/States"
  metric_name         = each.key
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
