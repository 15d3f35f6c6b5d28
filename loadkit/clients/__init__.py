"""loadkit.clients."""
