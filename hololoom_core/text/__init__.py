"""Leaf helpers shared by every layer: content terms, entities, durations and timestamps.

Nothing here imports another HoloLoom package, so the store, the language providers, memory and
ops can all use the same tokeniser and parsers without importing each other.
"""
