"""Turn-over dropout (paper 002 Sec. 2.2, after Kobayashi et al. 2020): memorization and influence
estimates for every training example from one training run."""
