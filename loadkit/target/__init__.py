"""loadkit.target."""
