# Failure alerts: the state machine publishes when a step fails for good, CloudWatch
# alarms publish when executions fail or time out, and the app may publish too
# (AINSDALE_ALERT_TOPIC_ARN).
resource "aws_sns_topic" "alerts" {
  name              = "${local.name}-alerts"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_subscription" "alert_email" {
  count = var.alert_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}
