"""Small independent services that speak other API dialects (not the reference target)."""
