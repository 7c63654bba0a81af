"""Loopback helpers the test suite and the benchmarks share: leadsmith processes on a store of their own
(``processes``) and stand-ins for DNS and SMTP servers (``loopback``, which needs aiosmtpd and dnslib: the
``test`` or ``bench`` extra). Nothing here is used by the server itself."""
