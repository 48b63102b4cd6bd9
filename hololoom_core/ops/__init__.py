"""Operations capabilities: the command framework's plugins and aliases, incidents, dashboards, answer cache."""
