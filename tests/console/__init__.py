"""The operator console: its HTTP API, its replica of pushed data, and the page in a real
browser (a package, so that the stack its tests share stops when they are done)."""
