"""Deployment files: genesis transactions of a venue, in TOML (see ``solvent.defaults``)."""
