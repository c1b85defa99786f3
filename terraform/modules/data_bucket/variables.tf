variable "name" {
  description = "Globally unique bucket name."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for default SSE-KMS encryption."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket that receives this bucket's S3 server access logs."
  type        = string
}

variable "noncurrent_version_retention_days" {
  description = "Days an overwritten or deleted object version is kept."
  type        = number
}

variable "current_version_expiration_days" {
  description = "Days an object is kept at all (null: for ever). For buckets of throwaway results."
  type        = number
  default     = null
}

variable "expiring_prefixes" {
  description = "Key prefix => days its objects are kept (current versions; then noncurrent_version_retention_days more). For objects that only pile up, such as reports/<batch_id>/."
  type        = map(number)
  default     = {}
}
