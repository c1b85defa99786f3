# Raw extracts land in ingest; star-schema batches go to processed. Both get the
# same guard rails from modules/data_bucket. Their S3 access logs go to a third bucket.
module "ingest_bucket" {
  source = "./modules/data_bucket"

  name                              = "${local.name}-ingest-${local.account_id}"
  kms_key_arn                       = aws_kms_key.main.arn
  access_log_bucket                 = aws_s3_bucket.access_logs.id
  noncurrent_version_retention_days = var.noncurrent_version_retention_days
}

module "processed_bucket" {
  source = "./modules/data_bucket"

  name                              = "${local.name}-processed-${local.account_id}"
  kms_key_arn                       = aws_kms_key.main.arn
  access_log_bucket                 = aws_s3_bucket.access_logs.id
  noncurrent_version_retention_days = var.noncurrent_version_retention_days
  # The report as of each batch (~5 MB) piles up with every load: reports/<batch_id>/, whose
  # ids begin with the year ("reports/2"), never reports/latest/, which each publish renews.
  expiring_prefixes = { "reports/2" = var.report_retention_days }
}

locals {
  data_bucket_arns = [module.ingest_bucket.arn, module.processed_bucket.arn]
  # Every bucket whose server access logs go to the log bucket (modules/data_bucket).
  logged_bucket_arns = [
    module.ingest_bucket.arn, module.processed_bucket.arn, module.athena_results_bucket.arn,
  ]
}

# ---- access logs ----

resource "aws_s3_bucket" "access_logs" {
  # checkov:skip=CKV_AWS_144:Access logs are an audit aid, not primary data; no cross-region copy.
  # checkov:skip=CKV_AWS_145:S3 server access logging can only deliver to buckets encrypted with SSE-S3, not SSE-KMS.
  # checkov:skip=CKV2_AWS_62:Nothing consumes access-log object events.
  bucket = "${local.name}-access-logs-${local.account_id}"
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      # The log delivery service cannot write to SSE-KMS buckets.
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}

    expiration {
      days = var.access_log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = data.aws_iam_policy_document.access_logs.json

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # With BucketOwnerEnforced, log delivery is granted by policy rather than ACL: to every
  # bucket that logs here (the Athena results bucket's logs were refused before).
  statement {
    sid     = "S3ServerAccessLogsFromOurBuckets"
    actions = ["s3:PutObject"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    resources = ["${aws_s3_bucket.access_logs.arn}/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = local.logged_bucket_arns
    }
  }
}
