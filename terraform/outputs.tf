output "ecr_repository_url" {
  description = "Push images here, tagged with the git SHA."
  value       = aws_ecr_repository.app.repository_url
}

output "cluster_arn" {
  description = "ECS cluster the tasks run in."
  value       = aws_ecs_cluster.main.arn
}

output "task_definition_arn" {
  description = "Current revision of the ETL task definition."
  value       = aws_ecs_task_definition.etl.arn
}

output "container_name" {
  description = "Container name to use in run-task command overrides."
  value       = local.container_name
}

output "state_machine_arn" {
  description = "The extract -> transform -> load state machine."
  value       = aws_sfn_state_machine.pipeline.arn
}

output "ingest_bucket" {
  description = "Bucket for raw extracts (AINSDALE_INGEST_URI)."
  value       = module.ingest_bucket.id
}

output "processed_bucket" {
  description = "Bucket for star-schema batches (AINSDALE_PROCESSED_URI)."
  value       = module.processed_bucket.id
}

output "database_secret_arns" {
  description = "Secrets to fill with RDS-format JSON credentials, out of band."
  value       = { for key, secret in aws_secretsmanager_secret.database : key => secret.arn }
}

output "alert_topic_arn" {
  description = "SNS topic for failure alerts."
  value       = aws_sns_topic.alerts.arn
}

output "task_log_group" {
  description = "CloudWatch log group of the ETL tasks."
  value       = aws_cloudwatch_log_group.tasks.name
}

output "network_configuration" {
  description = "awsvpcConfiguration for manual `aws ecs run-task` calls (backfills)."
  value = {
    subnets        = var.subnet_ids
    securityGroups = var.security_group_ids
    assignPublicIp = var.assign_public_ip ? "ENABLED" : "DISABLED"
  }
}

output "lake_database" {
  description = "Glue database of the lake's Iceberg tables (Athena: FROM <this>.fact_sales_order)."
  value       = aws_glue_catalog_database.lake.name
}

output "athena_workgroup" {
  description = "Athena workgroup to query the lake in (engine v3, encrypted results)."
  value       = aws_athena_workgroup.lake.name
}

output "lake_analyst_role_arn" {
  description = "Read-only role for analysts: Athena in the lake workgroup, the lake's tables and files."
  value       = aws_iam_role.lake_analyst.arn
}
