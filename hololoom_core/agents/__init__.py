"""The five specialist agents, the explainable router that picks one (or several), and their collaboration."""
