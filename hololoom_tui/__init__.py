"""HoloLoom's Textual terminal app: six tabs bound live to the in-process engine."""
