"""sensitize.cohort."""
