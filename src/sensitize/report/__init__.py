"""sensitize.report."""
