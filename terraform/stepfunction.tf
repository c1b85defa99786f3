# extract -> transform -> load, one Fargate task each (same task definition, the
# step chosen by command override). See templates/pipeline.asl.json.tftpl: a failed
# step is routed by its container's exit code, and only 75 (try later) is retried.
resource "aws_sfn_state_machine" "pipeline" {
  name     = "${local.name}-pipeline"
  type     = "STANDARD"
  role_arn = aws_iam_role.state_machine.arn

  definition = templatefile("${path.module}/templates/pipeline.asl.json.tftpl", {
    partition              = local.partition
    cluster_arn            = aws_ecs_cluster.main.arn
    task_definition_arn    = aws_ecs_task_definition.etl.arn
    container_name         = local.container_name
    subnets_json           = jsonencode(var.subnet_ids)
    security_groups_json   = jsonencode(var.security_group_ids)
    assign_public_ip       = var.assign_public_ip ? "ENABLED" : "DISABLED"
    topic_arn              = aws_sns_topic.alerts.arn
    step_timeout_seconds   = var.step_timeout_seconds
    try_later_attempts     = var.try_later_attempts
    try_later_wait_seconds = var.try_later_wait_seconds
  })

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    include_execution_data = true
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }

  # The role's policy must exist before Step Functions validates the definition.
  depends_on = [aws_iam_role_policy.state_machine]
}
