"""Routes that are not operations of the contract: service health."""
