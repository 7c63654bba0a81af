"""Upstream providers: when the store has no answer, the providers a team pays for, in its order."""
