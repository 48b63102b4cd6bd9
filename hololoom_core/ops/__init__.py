"""Operations capabilities: custom commands (plugins, aliases), incidents, code review, workflows, dashboards, answer cache."""
