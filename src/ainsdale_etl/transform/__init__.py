"""Stage 2, transform: an extracted batch turned into the star tables, as a committed Parquet batch
in the processed bucket.
"""
