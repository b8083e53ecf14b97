"""dunning-bandit: api."""
