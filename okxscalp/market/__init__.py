"""Market data: the freshness-checked registry, the event bus, and the feed coordinator."""
