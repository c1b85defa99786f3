"""Stage 1, extract: the rows of totesys that changed since the last batch, as a committed CSV
batch in the ingest bucket.
"""
