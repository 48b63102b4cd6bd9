"""Code review automation: bandit, ruff and detect-secrets on snippets, diffs and uploaded files."""
