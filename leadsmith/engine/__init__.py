"""Pure enrichment functions: plain data in, plain data out, no I/O and no clock."""

# The size of a cache whose keys are one person's (a full name, a pair of names, a profile URL, a phone
# number): enough for the people an API server meets again, and small, since an import meets most of
# them once (65,536 entries cost a pool worker ~20 MB a cache and bought nothing).
PER_PERSON_CACHE = 8192
