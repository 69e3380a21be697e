"""sensitize.pl."""
