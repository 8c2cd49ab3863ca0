"""tap-creatorsocial: a Singer tap for first-party creator data."""
