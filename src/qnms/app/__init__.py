"""The composition root: the ``qnms`` command and the demo, the only place that wires
agents, twin and orchestrator together."""
