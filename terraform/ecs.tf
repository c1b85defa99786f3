resource "aws_ecs_cluster" "main" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  # ECS Exec stays disabled on the tasks; if it is ever switched on, its session
  # logs are encrypted and kept with the task logs.
  configuration {
    execute_command_configuration {
      kms_key_id = aws_kms_key.main.arn
      logging    = "OVERRIDE"

      log_configuration {
        cloud_watch_encryption_enabled = true
        cloud_watch_log_group_name     = aws_cloudwatch_log_group.tasks.name
      }
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "main" {
  cluster_name       = aws_ecs_cluster.main.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

locals {
  # One task definition serves every step: Step Functions and backfills pick the
  # step with a command override, the image default is run-all.
  #
  # No credential is passed here. The two *_SECRET_ID variables hold Secrets Manager
  # ARNs (identifiers, not secrets); the app reads the values itself with the task
  # role, which may read exactly those two secrets (iam.tf). Anything that must be
  # a secret value belongs in `secrets`, never in `environment`.
  container_environment = {
    AINSDALE_SOURCE_SECRET_ID    = aws_secretsmanager_secret.database["source"].arn
    AINSDALE_WAREHOUSE_SECRET_ID = aws_secretsmanager_secret.database["warehouse"].arn
    AINSDALE_INGEST_URI          = "s3://${module.ingest_bucket.id}"
    AINSDALE_PROCESSED_URI       = "s3://${module.processed_bucket.id}"
    AINSDALE_ALERT_TOPIC_ARN     = aws_sns_topic.alerts.arn
    AINSDALE_LOG_FORMAT          = "json"
    AINSDALE_METRICS_NAMESPACE   = local.metrics_namespace
    AINSDALE_HOME                = "/tmp/ainsdale"
    AINSDALE_LAKE_CATALOG        = "glue" # the lake's Iceberg tables (lake.tf)
    AINSDALE_LAKE_DATABASE       = aws_glue_catalog_database.lake.name
    AWS_REGION                   = local.region
    # AWS's RDS CA bundle, fetched and checked as the image is built (docker/Dockerfile):
    # connections built from a secret verify an RDS server's identity (verify-full).
    PGSSLROOTCERT = "/etc/ssl/certs/rds-global-bundle.pem"
  }

  container_definitions = [
    {
      name      = local.container_name
      image     = "${aws_ecr_repository.app.repository_url}:${var.image_tag}"
      essential = true
      command   = ["run-all", "--publish-report"] # the dashboard, to the processed bucket after each load
      user      = "10001:10001"

      readonlyRootFilesystem = true
      privileged             = false

      environment = [for name, value in local.container_environment : { name = name, value = value }]

      # The only writable path: HOME, TMPDIR and AINSDALE_HOME all live here.
      mountPoints = [
        {
          sourceVolume  = "tmp"
          containerPath = "/tmp"
          readOnly      = false
        },
      ]

      linuxParameters = {
        initProcessEnabled = true
      }

      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.tasks.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "etl"
        }
      }
    },
  ]
}

resource "aws_ecs_task_definition" "etl" {
  family                   = local.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  ephemeral_storage {
    size_in_gib = var.tmp_storage_gib
  }

  # A task-scoped volume on Fargate ephemeral storage, mounted at /tmp.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode(local.container_definitions)
}
