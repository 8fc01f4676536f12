"""The lab beside the product: what proves and measures nextsale rather than runs it. The
sample-data generator with its planted truth (`nextsale generate`), the importers of the public
data sets and their download (`nextsale import`, `nextsale datasets fetch`), the evaluations
on real data (`nextsale evaluate`) and the identity graph's scoring against a generator's
truth. Product code never imports it."""
