"""The headless command-line interface `hololoom`."""
