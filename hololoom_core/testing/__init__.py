"""Test and benchmark helpers for HoloLoom (e.g. a throwaway real Synapse homeserver)."""
