"""Live updates: typed events, the hub that fans them out, the agents' websocket."""
