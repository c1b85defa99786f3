# The lake: the star as Iceberg tables under s3://<processed>/lake/, catalogued in Glue,
# queried with Athena (engine v3 reads Iceberg, time travel included). The task writes the
# tables (AINSDALE_LAKE_CATALOG=glue); analysts read them through their own role.

resource "aws_glue_catalog_database" "lake" {
  name        = var.lake_database
  description = "ainsdale-etl's star schema as Iceberg tables, one snapshot per batch"
}

module "athena_results_bucket" {
  source = "./modules/data_bucket"

  name                              = "${local.name}-athena-results-${local.account_id}"
  kms_key_arn                       = aws_kms_key.main.arn
  access_log_bucket                 = aws_s3_bucket.access_logs.id
  noncurrent_version_retention_days = 1
  current_version_expiration_days   = var.athena_results_retention_days
}

resource "aws_athena_workgroup" "lake" {
  name          = "${local.name}-lake"
  description   = "Queries on the lake's Iceberg tables"
  force_destroy = false

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "s3://${module.athena_results_bucket.id}/results/"
      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.main.arn
      }
    }
  }
}

locals {
  glue_catalog_arn   = "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog"
  lake_database_arn  = "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${aws_glue_catalog_database.lake.name}"
  lake_tables_arn    = "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${aws_glue_catalog_database.lake.name}/*"
  lake_objects_arn   = "${module.processed_bucket.arn}/lake/*"
  lake_glue_read     = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:GetPartitions"]
  lake_glue_arns     = [local.glue_catalog_arn, local.lake_database_arn, local.lake_tables_arn]
  athena_results_arn = module.athena_results_bucket.arn
}

# ---- the task writes the lake's tables (S3 under lake/ is in its bucket grant, iam.tf) ----

data "aws_iam_policy_document" "task_lake" {
  statement {
    sid = "ReadWriteLakeTables"
    # pyiceberg's Glue catalog: load a table, make one, commit a snapshot (UpdateTable with
    # the version it read: a concurrent commit fails instead of being lost). No database
    # rights beyond reading it: Terraform owns the database.
    actions   = ["glue:CreateTable", "glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:UpdateTable"]
    resources = local.lake_glue_arns
  }
}

resource "aws_iam_role_policy" "task_lake" {
  name   = "lake-tables"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task_lake.json
}

# ---- analysts read the lake through Athena: a managed policy, and a role that carries it ----

data "aws_iam_policy_document" "lake_analyst" {
  statement {
    sid = "QueryInTheLakeWorkgroup"
    actions = [
      "athena:BatchGetNamedQuery",
      "athena:GetNamedQuery",
      "athena:GetQueryExecution",
      "athena:GetQueryResults",
      "athena:GetWorkGroup",
      "athena:ListNamedQueries",
      "athena:ListQueryExecutions",
      "athena:StartQueryExecution",
      "athena:StopQueryExecution",
    ]
    resources = [aws_athena_workgroup.lake.arn]
  }

  statement {
    sid       = "ReadLakeTables"
    actions   = local.lake_glue_read
    resources = local.lake_glue_arns
  }

  statement {
    sid       = "ListLakeFolder"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [module.processed_bucket.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["lake/*"]
    }
  }

  statement {
    sid       = "ReadLakeObjects"
    actions   = ["s3:GetObject"]
    resources = [local.lake_objects_arn]
  }

  statement {
    sid       = "WriteQueryResults"
    actions   = ["s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket", "s3:PutObject"]
    resources = [local.athena_results_arn, "${local.athena_results_arn}/*"]
  }

  # The lake's files and Athena's results are encrypted with the pipeline key.
  statement {
    sid       = "UsePipelineKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_policy" "lake_analyst" {
  name        = "${local.name}-lake-analyst"
  description = "Read-only: query the lake's Iceberg tables with Athena in the lake workgroup"
  policy      = data.aws_iam_policy_document.lake_analyst.json
}

# Assumable by this account's principals that are themselves allowed sts:AssumeRole on it
# (an SSO permission set, a group): the account root here delegates to the account's IAM.
data "aws_iam_policy_document" "analyst_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_iam_role" "lake_analyst" {
  name                 = "${local.name}-lake-analyst"
  assume_role_policy   = data.aws_iam_policy_document.analyst_assume.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy_attachment" "lake_analyst" {
  role       = aws_iam_role.lake_analyst.name
  policy_arn = aws_iam_policy.lake_analyst.arn
}
