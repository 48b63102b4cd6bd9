"""The self-improving loop, the MCTS configuration search and the simulation harness that measures them."""
