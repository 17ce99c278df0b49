"""Training: one trial per random subset, written in the heldout per-trial format."""
