"""Routes by resource: turns, recall, administration, service health."""
