"""The one-command experiment (`pneumogan run`): stages, statistics and the report."""
