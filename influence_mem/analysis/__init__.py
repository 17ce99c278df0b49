"""Analyses of estimates: they read the released-format files (influence_mem.released), and
the trials only through estimate/ (estimate.convergence for the convergence table of
im-describe --convergence and im-report --workdir).  figures: paper Fig. 1 / Fig. 3 style plots."""
