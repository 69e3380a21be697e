"""sensitize.app."""
