"""What we derive about addresses: each domain's e-mail patterns, kept up to date on import, and the finder."""
