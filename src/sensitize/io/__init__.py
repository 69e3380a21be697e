"""sensitize.io."""
