"""dunning-bandit: simulations."""
