"""Service-quality API: channel service settings and the service report."""
