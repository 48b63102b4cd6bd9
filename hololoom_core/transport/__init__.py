"""Transports: the simulated local room (with scenario replay) and, separately, Matrix."""
