variable "project" {
  description = "Name prefix for every resource."
  type        = string
  default     = "ainsdale-etl"
}

variable "environment" {
  description = "Deployment environment, part of every resource name (e.g. prod, staging)."
  type        = string
  default     = "prod"
}

variable "aws_region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-2"
}

variable "image_tag" {
  description = "Tag of the ainsdale-etl image in the ECR repository (CI uses the git commit SHA)."
  type        = string

  validation {
    condition     = length(var.image_tag) > 0 && var.image_tag != "latest"
    error_message = "image_tag must name an immutable build (e.g. the git SHA), not 'latest'."
  }
}

# ---- network: the VPC is owned elsewhere; tasks need egress to RDS, S3, Secrets Manager, SNS, ECR, Logs ----

variable "subnet_ids" {
  description = "Private subnet ids the Fargate tasks run in."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "At least one subnet id is required."
  }
}

variable "security_group_ids" {
  description = "Security groups for the tasks (egress to the databases and AWS endpoints)."
  type        = list(string)

  validation {
    condition     = length(var.security_group_ids) > 0
    error_message = "At least one security group id is required."
  }
}

variable "assign_public_ip" {
  description = "Give tasks a public IP (only for subnets without a NAT gateway or VPC endpoints)."
  type        = bool
  default     = false
}

# ---- scheduling ----

variable "schedule_expression" {
  description = "When the extract -> transform -> load state machine starts (EventBridge Scheduler syntax)."
  type        = string
  default     = "rate(30 minutes)"
}

variable "schedule_timezone" {
  description = "Time zone for cron schedule expressions."
  type        = string
  default     = "UTC"
}

variable "pipeline_schedule_state" {
  description = "ENABLED or DISABLED for the state-machine schedule."
  type        = string
  default     = "ENABLED"

  validation {
    condition     = contains(["ENABLED", "DISABLED"], var.pipeline_schedule_state)
    error_message = "pipeline_schedule_state must be ENABLED or DISABLED."
  }
}

variable "run_all_schedule_expression" {
  description = "When the single-task run-all fallback starts, if enabled."
  type        = string
  default     = "rate(30 minutes)"
}

variable "lake_maintain_schedule_expression" {
  description = "When lake maintain (compaction, snapshot expiry) runs."
  type        = string
  default     = "cron(30 3 ? * SUN *)"
}

variable "lake_maintain_schedule_state" {
  description = "ENABLED or DISABLED for the weekly lake maintain task."
  type        = string
  default     = "ENABLED"

  validation {
    condition     = contains(["ENABLED", "DISABLED"], var.lake_maintain_schedule_state)
    error_message = "lake_maintain_schedule_state must be ENABLED or DISABLED."
  }
}

variable "run_all_schedule_state" {
  description = "ENABLED or DISABLED for the plain run-all task schedule (a fallback to the state machine; enable one or the other)."
  type        = string
  default     = "DISABLED"

  validation {
    condition     = contains(["ENABLED", "DISABLED"], var.run_all_schedule_state)
    error_message = "run_all_schedule_state must be ENABLED or DISABLED."
  }
}

variable "step_timeout_seconds" {
  description = "Longest a single extract/transform/load task may run before Step Functions gives up on it."
  type        = number
  default     = 3600
}

variable "try_later_attempts" {
  description = "How many times one execution waits out a step's exit 75 (try later: lock held, or a database or AWS fault that outlived the task's retries) and runs the step again."
  type        = number
  default     = 3

  validation {
    condition     = var.try_later_attempts >= 0 && var.try_later_attempts <= 10
    error_message = "try_later_attempts must be between 0 and 10."
  }
}

variable "try_later_wait_seconds" {
  description = "How long the state machine waits before running a step again after its exit 75."
  type        = number
  default     = 120
}

variable "schedule_period_minutes" {
  description = "Minutes between scheduled starts (what schedule_expression says): the alarms count missed and failed runs in these periods."
  type        = number
  default     = 30

  validation {
    condition     = var.schedule_period_minutes >= 1 && var.schedule_period_minutes <= 480
    error_message = "schedule_period_minutes must be between 1 and 480."
  }
}

# ---- task size ----

variable "task_cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 1024
}

variable "task_memory" {
  description = "Fargate task memory (MiB)."
  type        = number
  default     = 4096
}

variable "tmp_storage_gib" {
  description = "Fargate ephemeral storage (GiB) backing /tmp, where batches are staged."
  type        = number
  default     = 30
}

# ---- retention ----

variable "log_retention_days" {
  description = "CloudWatch Logs retention for task and state-machine logs."
  type        = number
  default     = 365
}

variable "noncurrent_version_retention_days" {
  description = "Days an overwritten or deleted object version is kept in the data buckets."
  type        = number
  default     = 90
}

variable "report_retention_days" {
  description = "Days the dashboard published as of each batch (reports/<batch_id>/) is kept; reports/latest/ is kept for ever."
  type        = number
  default     = 90
}

variable "access_log_retention_days" {
  description = "Days S3 server access logs are kept."
  type        = number
  default     = 365
}

# ---- alerting ----

variable "freshness_threshold_minutes" {
  description = "The freshness alarm fires when the warehouse lags totesys by more than this, or when no run has reported its freshness for this long (schedule disabled, every run failing or exiting 75)."
  type        = number
  default     = 120

  validation {
    condition     = var.freshness_threshold_minutes >= 10 && var.freshness_threshold_minutes <= 1440
    error_message = "freshness_threshold_minutes must be between 10 and 1440."
  }
}

variable "failed_runs_to_alarm" {
  description = "Schedule periods in a row with failed executions before the ExecutionsFailed alarm fires (one stopped or locked-out run is not an incident)."
  type        = number
  default     = 3

  validation {
    condition     = var.failed_runs_to_alarm >= 1 && var.failed_runs_to_alarm <= 10
    error_message = "failed_runs_to_alarm must be between 1 and 10."
  }
}

variable "alert_email" {
  description = "Email address subscribed to failure alerts (empty: no subscription; confirm the email AWS sends)."
  type        = string
  default     = ""
}

variable "lake_database" {
  description = "Glue database of the lake's Iceberg tables (AINSDALE_LAKE_DATABASE); lower case, digits and underscores."
  type        = string
  default     = "ainsdale_lake"

  validation {
    condition     = can(regex("^[a-z0-9_]{1,255}$", var.lake_database))
    error_message = "lake_database must be lower-case letters, digits and underscores (Athena's rule)."
  }
}

variable "athena_results_retention_days" {
  description = "Days Athena's query results are kept in their bucket."
  type        = number
  default     = 30
}

variable "athena_bytes_scanned_cutoff" {
  description = "A query in the lake's workgroup that would scan more than this many bytes is cancelled (cost guard)."
  type        = number
  default     = 10737418240 # 10 GiB
}
