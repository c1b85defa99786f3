terraform {
  # use_lockfile (S3-native state locking, no DynamoDB table) needs Terraform 1.10+.
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }

  # bucket and region come from -backend-config at init time (docs/deploy.md), so
  # the same code serves every account without edits.
  backend "s3" {
    key          = "ainsdale-etl/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Project     = var.project
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  name       = "${var.project}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  # The container name is referenced by the task definition, the state machine's
  # overrides and the backfill command in docs/deploy.md: keep it in one place.
  container_name = "ainsdale-etl"
}
