"""Training dynamics of easy vs difficult examples (paper 002 Sec. 3.2, eq. 3-4, Fig. 4).

  python -m influence_mem.analysis.dynamics --estimates DIR --flagfile=configs/digits_mlp.cfg \\
      --workdir=/tmp/dyn --examples=32

Easy = the --examples training examples with the lowest memorization score
in DIR's infl matrix, difficult = those with the highest.  One model is
trained on the whole training set (the trainer's flags, --corrupt_fraction
included; seeds of trial 0 at ratio 1) and before training and after every
epoch we log, per group (easy, difficult, and "all": a fixed random sample
of --examples training examples):
  cosine       = mean over pairs i != j of v_i.v_j / (|v_i| |v_j|)   (eq. 3)
  contribution = mean over i of v_i.g / |g|                          (eq. 4)
with v_i the gradient of example i's loss w.r.t. all trainable weights and g
the mean gradient of a fixed random mini-batch of --batch_size examples.
Writes dynamics.csv and dynamics.png.  Memory: (3 x examples + batch) x
parameters x 4 bytes of gradients at a time.
"""
import dataclasses
import os
import sys

import numpy as np
import pandas as pd
import tensorflow as tf
from absl import flags, logging
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from influence_mem.formats import released
from influence_mem.programs import shared_flags, start
from influence_mem.train import flags as train_flags
from influence_mem.train import recipe
from influence_mem.train.plan import plan_full_run
from influence_mem.turnover.trainer import split_arrays

FLAGS = flags.FLAGS


def average_pairwise_cosine(grads) -> float:
    """Eq. 3: mean cosine similarity over ordered pairs i != j of the rows of `grads` [k, p]."""
    g = np.asarray(grads, np.float64)
    if len(g) < 2:
        raise ValueError("need at least 2 gradients for a pairwise cosine similarity")
    unit = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-30)
    total = unit.sum(axis=0)
    return float((total @ total - np.sum(unit * unit)) / (len(g) * (len(g) - 1)))


def average_contribution(grads, batch_grad) -> float:
    """Eq. 4: mean over rows v_i of `grads` of (v_i . g) / |g|."""
    g = np.asarray(batch_grad, np.float64)
    return float(np.mean(np.asarray(grads, np.float64) @ g) / np.linalg.norm(g))


def easy_and_difficult(mem, size: int):
    """(easy ids, difficult ids): the `size` lowest and highest scores (ties by index), sorted."""
    mem = np.asarray(mem, np.float64)
    if 2 * size > len(mem):
        raise ValueError(f"--examples={size}: need 2 x {size} examples, the training set has {len(mem)}")
    order = np.argsort(mem, kind="stable")
    return np.sort(order[:size]), np.sort(order[::-1][:size])


def per_example_gradients(model, images, labels):
    """[k, p] float32: gradient of each example's cross-entropy w.r.t. the model's trainable weights."""
    variables = model.trainable_variables

    @tf.function
    def grads(images, labels):
        def one(args):
            x, y = args
            with tf.GradientTape() as tape:
                logits = tf.cast(model(x[None], training=False), tf.float32)
                loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y[None], logits=logits)
            return tf.concat([tf.reshape(g, [-1]) for g in tape.gradient(loss, variables)], 0)
        return tf.map_fn(one, (images, labels), fn_output_signature=tf.float32)

    return grads(tf.constant(images), tf.constant(labels, tf.int64)).numpy()


def dynamics_row(model, groups: dict, reference) -> list:
    """[{group, cosine, contribution}] for groups {name: (images, labels)} and the reference batch."""
    g = per_example_gradients(model, *reference).mean(axis=0)
    rows = []
    for name, (images, labels) in groups.items():
        v = per_example_gradients(model, images, labels)
        rows.append({"group": name, "cosine": average_pairwise_cosine(v), "contribution": average_contribution(v, g),
                     "grad_norm": float(np.linalg.norm(v, axis=1).mean())})
    return rows


def make_callback(groups: dict, reference, log=print):
    """A Keras callback logging dynamics_row before training and after every epoch; rows in .rows."""
    import keras

    class GradientDynamics(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows = []

        def _log(self, epoch):
            for row in dynamics_row(self.model, groups, reference):
                self.rows.append({"epoch": epoch, **row})
                log(f"epoch {epoch} {row['group']}: cosine {row['cosine']:.4f} contribution {row['contribution']:.4g}")

        def on_train_begin(self, logs=None):
            self._log(0)

        def on_epoch_end(self, epoch, logs=None):
            self._log(epoch + 1)

    return GradientDynamics()


def plot_dynamics(table: pd.DataFrame, path=None, title="") -> Figure:
    """Paper 002 Fig. 4: (a) cosine similarity, (b) contribution, per group vs epoch.  Returns the Figure
    (saved to `path` if given)."""
    fig = Figure(figsize=(8, 3.2))
    FigureCanvasAgg(fig)
    for k, (column, label) in enumerate((("cosine", "(a) cosine similarity (eq. 3)"),
                                         ("contribution", "(b) contribution (eq. 4)"))):
        ax = fig.add_subplot(1, 2, k + 1)
        for group, rows in table.groupby("group", sort=False):
            ax.plot(rows["epoch"], rows[column], marker=".", label=group)
        ax.set_xlabel("epoch")
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def run_dynamics(dataset, config, mem, examples: int, sample_seed: int = 0, log=print) -> pd.DataFrame:
    """Train one model on all of `dataset` with the dynamics callback; its rows as a table."""
    easy, difficult = easy_and_difficult(mem, examples)
    rng = np.random.default_rng(sample_seed)
    everyone = np.sort(rng.choice(dataset.num_train, size=examples, replace=False))
    reference_ids = np.sort(rng.choice(dataset.num_train, size=min(config.batch_size, dataset.num_train),
                                       replace=False))
    images, labels = split_arrays(dataset, "train")
    groups = {name: (images[ids], labels[ids]) for name, ids in
              (("easy", easy), ("difficult", difficult), ("all", everyone))}
    plan = plan_full_run(dataset.num_train, config)
    model, _, _ = recipe.compiled_model(config, dataset, plan)
    callback = make_callback(groups, (images[reference_ids], labels[reference_ids]), log)
    recipe.fit(model, recipe.train_batches(dataset, config, plan), config, plan, callbacks=[callback])
    return pd.DataFrame(callback.rows)


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")
    try:
        matrix = released.load_infl_matrix(released.find_estimate_set(FLAGS.estimates, FLAGS.name)["infl_matrix"])
        dataset = train_flags.dataset_from_flags()
        if not np.array_equal(matrix.tr_labels, dataset.train_labels):
            raise released.EstimateSetError(f"{FLAGS.estimates}: training labels do not match "
                                            f"--dataset={FLAGS.dataset} (and --corrupt_fraction/--corrupt_seed)")
        config = dataclasses.replace(train_flags.config_from_flags(), subset_ratio=1.0)
        table = run_dynamics(dataset, config, matrix.tr_mem, FLAGS.examples, log=logging.info)
    except (released.EstimateSetError, released.ReleasedFormatError, ValueError) as e:
        sys.exit(f"error: {e}")
    os.makedirs(FLAGS.workdir, exist_ok=True)
    table.to_csv(os.path.join(FLAGS.workdir, "dynamics.csv"), index=False)
    plot_dynamics(table, os.path.join(FLAGS.workdir, "dynamics.png"),
                  f"{dataset.name}: {FLAGS.examples} easy / difficult examples")
    print(table.to_string(index=False))


def run():
    """Entry point: the trainer's flags (--flagfile, --dataset, --epochs, --corrupt_fraction, ...) plus ours."""
    start.run(main, train_flags.define_flags, _define_flags)


def _define_flags() -> None:
    flags.mark_flag_as_required("workdir")
    shared_flags.define_estimates("Directory with <name>_infl_matrix.npz (its tr_mem picks the subsets).")
    shared_flags.define_name()
    flags.DEFINE_integer("examples", 32, "Examples per group (easy, difficult, all).")
    flags.register_validator("examples", lambda v: v >= 2, "--examples must be >= 2")


if __name__ == "__main__":
    run()
