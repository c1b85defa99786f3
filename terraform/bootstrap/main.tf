# Applied once per account by an administrator, with its own local or S3 state (docs/deploy.md,
# Bootstrap): the identity deploy.yml deploys with. Not part of the stack it deploys, so the
# deploy role can never widen its own trust or lift its own boundary.
terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

variable "github_repository" {
  description = "owner/name of the repository whose deploy workflow may assume the role."
  type        = string
  default     = "ainsdale/ainsdale-etl"
}

variable "project" {
  description = "Name prefix of everything the stack creates (terraform/variables.tf)."
  type        = string
  default     = "ainsdale-etl"
}

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

locals {
  account = data.aws_caller_identity.current.account_id
  arn     = "arn:${data.aws_partition.current.partition}"
  # The OIDC subject GitHub sends once the repository's subject template includes
  # job_workflow_ref (docs/deploy.md): the production environment, through deploy.yml as it
  # is on main. A workflow on another branch, or another file claiming the environment,
  # presents another subject and is refused.
  deploy_subject = join(":", [
    "repo:${var.github_repository}",
    "environment:production",
    "job_workflow_ref:${var.github_repository}/.github/workflows/deploy.yml@refs/heads/main",
  ])
  boundary_name = "${var.project}-deploy-boundary"
  deploy_name   = "${var.project}-deploy"
}

resource "aws_iam_openid_connect_provider" "github" {
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.github.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = [local.deploy_subject]
    }
  }
}

# The most the deploy role can ever do, whatever policies are attached to it: the services the
# stack is made of, IAM only on the stack's own roles and policies, and never anything that
# would widen the role itself (its trust, its boundary, new users or keys).
data "aws_iam_policy_document" "boundary" {
  # checkov:skip=CKV_AWS_356:A boundary caps the role; the services' own resources are named by the stack's Terraform, which this role applies.
  # checkov:skip=CKV_AWS_111:A boundary caps the role; write access is what applying the stack needs.
  # checkov:skip=CKV_AWS_109:IAM is limited to the stack's own roles and policies below.
  # checkov:skip=CKV_AWS_107:No credentials are exposed: iam:CreateAccessKey and iam:CreateLoginProfile are denied below.
  # checkov:skip=CKV_AWS_110:IAM is needed on the stack's own roles (ainsdale-etl-*) only; the role cannot widen its own trust, policies or boundary (denied below).
  # checkov:skip=CKV_AWS_108:Reading the Terraform state in S3 is what a deploy needs; database passwords stay out of reach (secretsmanager:GetSecretValue denied below).
  statement {
    sid = "StackServices"
    actions = [
      "ecr:*", "ecs:*", "s3:*", "kms:*", "secretsmanager:*", "sns:*", "logs:*", "cloudwatch:*",
      "states:*", "scheduler:*", "glue:*", "athena:*", "events:*", "ec2:Describe*",
      "sts:GetCallerIdentity",
    ]
    # A ceiling, not a grant: the stack's resources are named by its own Terraform.
    resources = ["*"]
  }
  statement {
    sid     = "StackRolesAndPolicies"
    actions = ["iam:*"]
    resources = [
      "${local.arn}:iam::${local.account}:role/${var.project}-*",
      "${local.arn}:iam::${local.account}:policy/${var.project}-*",
    ]
  }
  statement {
    sid     = "ReadIam"
    actions = ["iam:Get*", "iam:List*"]
    # Terraform reads the policies and roles it references (AWS-managed ones too).
    resources = ["*"]
  }
  statement {
    sid    = "NeverWidenItself"
    effect = "Deny"
    actions = [
      "iam:UpdateAssumeRolePolicy", "iam:PutRolePermissionsBoundary",
      "iam:DeleteRolePermissionsBoundary", "iam:AttachRolePolicy", "iam:PutRolePolicy",
      "iam:DeleteRole", "iam:DetachRolePolicy", "iam:DeleteRolePolicy",
    ]
    resources = ["${local.arn}:iam::${local.account}:role/${local.deploy_name}"]
  }
  statement {
    sid    = "NeverTouchTheBoundary"
    effect = "Deny"
    actions = [
      "iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
      "iam:SetDefaultPolicyVersion",
    ]
    resources = ["${local.arn}:iam::${local.account}:policy/${local.boundary_name}"]
  }
  statement {
    # Terraform creates the secrets empty and never reads their values (docs/deploy.md).
    sid     = "NoSecretValues"
    effect  = "Deny"
    actions = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]
    # A deny: everywhere.
    resources = ["*"]
  }
  statement {
    sid     = "NoPeopleNoKeys"
    effect  = "Deny"
    actions = ["iam:CreateUser", "iam:CreateAccessKey", "iam:CreateLoginProfile"]
    # A deny: everywhere.
    resources = ["*"]
  }
}

resource "aws_iam_policy" "boundary" {
  name        = local.boundary_name
  description = "Permissions boundary of ${local.deploy_name}: the most deploy.yml can ever do."
  policy      = data.aws_iam_policy_document.boundary.json
}

resource "aws_iam_role" "deploy" {
  name                 = local.deploy_name
  description          = "Assumed by deploy.yml on main, in the production environment, through GitHub OIDC."
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  permissions_boundary = aws_iam_policy.boundary.arn
  max_session_duration = 3600
}

# What it is granted: the same services, capped by the boundary above.
resource "aws_iam_role_policy_attachment" "deploy" {
  role       = aws_iam_role.deploy.name
  policy_arn = aws_iam_policy.boundary.arn
}

output "deploy_role_arn" {
  description = "Set as the Actions variable AWS_DEPLOY_ROLE_ARN of the production environment."
  value       = aws_iam_role.deploy.arn
}
