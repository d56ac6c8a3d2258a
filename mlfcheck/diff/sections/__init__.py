"""One module per report section of the diff, each exporting its `COMPARATOR` (section name, the
rules it may report, its compare function); mlfcheck.diff.table orders them."""
