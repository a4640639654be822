"""Quality of the catalogue: the quality report and the link check of the open aids."""
