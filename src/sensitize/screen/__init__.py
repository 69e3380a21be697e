"""sensitize.screen."""
