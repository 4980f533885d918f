"""qnms: model-driven management of quantum networks."""
