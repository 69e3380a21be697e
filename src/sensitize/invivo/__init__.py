"""sensitize.invivo."""
