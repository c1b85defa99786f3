# The analysts' views of the lake (docs/analysts.md: Athena): one saved (named) query per view
# in the lake's workgroup, each a CREATE OR REPLACE VIEW over the lake's Iceberg tables. The
# SQL is generated from the schema registry into athena/*.sql by `make docs`, and
# tests/test_lake_athena.py fails while a file is stale; the same text runs in DuckDB there.
#
# Terraform has no resource that runs Athena DDL, so a view exists once its query has run:
# after an apply that adds or changes one, whoever applied runs it once (they may create
# tables in the lake's database; the analysts' role may not): from the console's saved
# queries, or `aws athena start-query-execution` (the command is in docs/analysts.md).

resource "aws_athena_named_query" "lake_view" {
  for_each = fileset("${path.module}/athena", "*.sql")

  name        = "create-view-${trimsuffix(each.value, ".sql")}"
  description = "CREATE OR REPLACE VIEW ${trimsuffix(each.value, ".sql")} over the lake (generated from the schema registry)"
  workgroup   = aws_athena_workgroup.lake.id
  database    = aws_glue_catalog_database.lake.name
  query       = file("${path.module}/athena/${each.value}")
}
