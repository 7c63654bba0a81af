"""Bulk jobs: lists of leads, e-mails to find or addresses to verify, worked through by the server."""
