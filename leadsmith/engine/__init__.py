"""Pure enrichment functions: plain data in, plain data out, no I/O and no clock."""
