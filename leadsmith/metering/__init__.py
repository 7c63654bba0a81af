"""What a request costs: rate-limit windows, the credits ledger, reveals and idempotency."""
