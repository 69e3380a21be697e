"""sensitize.cli."""
