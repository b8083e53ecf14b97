"""dunning-bandit: templates_store."""
