"""What a run needs around the stages: its context, the lock, graceful stops, quarantine, failures
and alerts.
"""
