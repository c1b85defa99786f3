"""The pipeline: the stages run over the batches that are due, in order, under one policy."""
