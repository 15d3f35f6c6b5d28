"""Service profiles: what the users call (see :mod:`loadkit.users.profile.api`)."""
