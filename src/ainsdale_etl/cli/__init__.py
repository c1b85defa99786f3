"""The command line: a thin layer of commands (:mod:`.app`) over one context per run."""
