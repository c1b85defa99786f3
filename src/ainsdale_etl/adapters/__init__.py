"""The outside world behind small interfaces: PostgreSQL, buckets (local and S3), AWS, secrets, the
embedded server.
"""
