"""What every stage shares and none owns: settings, the registry of tables, batches and their
manifests, errors, events, retries.
"""
