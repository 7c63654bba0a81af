"""Who is calling: accounts, API keys and the authentication dependency."""
