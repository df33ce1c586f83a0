"""Platform connectors. Nothing in here imports from `app/`."""
