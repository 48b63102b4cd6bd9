"""Workflow automation: YAML workflows with triggers, approval gates and runs that survive restarts."""
