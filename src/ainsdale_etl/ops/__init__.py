"""Operating the pipeline: verify, check, status, seed and the report, over what stages built."""
