"""The operators' API: admin tokens (``lsa_``), not API keys, and what they authorise."""
