"""Benchmarks (``genvid bench <what>``): each module times genvid beside a peer model in the same
run and prints one JSON line per figure; ratios, not absolute seconds, compare across machines."""
