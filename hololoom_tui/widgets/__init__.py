"""Reusable widgets of the HoloLoom app."""
