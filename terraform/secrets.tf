# Database credentials in the RDS secret JSON format
#   {"engine": "postgres", "host": ..., "port": 5432, "username": ..., "password": ..., "dbname": ...}
# Terraform creates the containers only. The values are set out of band
# (docs/deploy.md) so that no password ever lands in Terraform state or code.
locals {
  database_secrets = {
    source    = "Read-only credentials for the totesys source database"
    warehouse = "Credentials for the star-schema warehouse database"
  }
}

resource "aws_secretsmanager_secret" "database" {
  # checkov:skip=CKV2_AWS_57:The credentials belong to the database owners, who rotate them at the database (RDS-managed rotation) and update this secret out of band.
  for_each = local.database_secrets

  name                    = "${local.name}/${each.key}-db"
  description             = "${each.value} (RDS JSON format; value set out of band)"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 30
}
