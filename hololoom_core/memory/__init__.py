"""Memory: text analysis, entity extraction and retrieval over what the engine has kept."""
