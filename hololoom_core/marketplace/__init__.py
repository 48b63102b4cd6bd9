"""The workflow marketplace: signed registries, safe package installs by version range, updates, rollback, ratings.

`Marketplace` (service.py) is the one entry point for the CLI, chat (`!market`) and the app; the
capability (capability.py) plugs it into the engine. docs/marketplace.md describes the registry format.
"""
