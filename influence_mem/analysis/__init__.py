"""Analyses of estimates: they read the released-format files (influence_mem.released),
never the trials.  figures: paper Fig. 1 / Fig. 3 style plots."""
