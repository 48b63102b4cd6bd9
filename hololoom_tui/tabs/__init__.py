"""The six tabs of the app; each builds its widgets and reacts to engine updates."""
