"""Inbound media: downloaded after the acknowledgement into attachment storage, served to staff."""
