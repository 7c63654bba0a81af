"""What we know: people, companies, e-mails and phones; importing them; the Kaspr endpoints."""
