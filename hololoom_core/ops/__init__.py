"""Operations capabilities: incidents, code review, workflows, custom commands and dashboards."""
