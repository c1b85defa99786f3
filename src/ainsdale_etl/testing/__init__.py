"""Fault injection for the crash-safety tests: inert unless AINSDALE_FAULTS is set."""
