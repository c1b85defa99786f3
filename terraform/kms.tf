# One customer-managed key for the pipeline's data at rest: buckets, secrets, topic,
# logs and the image repository. Rotated yearly by AWS.
resource "aws_kms_key" "main" {
  description             = "${local.name}: data, secrets, logs and alerts"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key only; administration is delegated to IAM in this account.
  # checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; write access is delegated to IAM in this account.
  # checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only, not every resource.

  # Delegate to IAM in this account (the console's "key administrators and users"
  # set, spelled out rather than kms:*). IAM policies then grant each role its part.
  statement {
    sid = "AccountAdministersAndUsesKeyThroughIam"
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    actions = [
      "kms:CancelKeyDeletion",
      "kms:Create*",
      "kms:Decrypt",
      "kms:Delete*",
      "kms:Describe*",
      "kms:Disable*",
      "kms:Enable*",
      "kms:Encrypt",
      "kms:GenerateDataKey*",
      "kms:Get*",
      "kms:List*",
      "kms:Put*",
      "kms:ReEncrypt*",
      "kms:Revoke*",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:Update*",
    ]
    # In a key policy "*" is the key the policy is attached to.
    resources = ["*"]
  }

  # CloudWatch Logs encrypts the log groups of this account and region with the key.
  statement {
    sid = "CloudWatchLogsEncryptsOurLogGroups"
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    actions = [
      "kms:Decrypt",
      "kms:Describe*",
      "kms:Encrypt",
      "kms:GenerateDataKey*",
      "kms:ReEncrypt*",
    ]
    # In a key policy "*" is the key the policy is attached to.
    resources = ["*"]
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  # CloudWatch alarms publish to the encrypted alert topic.
  statement {
    sid = "CloudWatchAlarmsPublishToEncryptedTopic"
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    actions = [
      "kms:Decrypt",
      "kms:GenerateDataKey*",
    ]
    # In a key policy "*" is the key the policy is attached to.
    resources = ["*"]
  }
}
