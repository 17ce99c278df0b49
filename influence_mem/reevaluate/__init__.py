"""Trained runs evaluated on new points and written as trials: estimates for points nobody trained for.

The authors' released checkpoints (CIFAR-10/100 Inception, ImageNet ResNet-50, each run beside its
aux_arrays.npz) or an im-train workdir's saved models, evaluated on the test split of a new points set
and written in the per-trial format, so im-aggregate gives every training example's influence on every
new point.  runs (finding and checking runs), order (which example a run's id is), points, loading
(a run's model), evaluate (batched, over a strategy), run (the claim/verify/write loop), main (the CLI).
A layer above train/ and estimate/: nothing imports it but programs and launchers.
"""
