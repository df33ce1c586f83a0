"""Service quality (contract section 9): channel service settings and business hours,
greeting and away messages, CSAT surveys, per-conversation facts and the service report."""
