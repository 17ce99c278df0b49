"""im-report: every analysis the estimate files allow, in one folder (PNGs, CSVs, summary.md).

  im-report --estimates DIR [--dataset digits] [--compare DIR2,...] [--output_dir OUT]
  (or python -m influence_mem.analysis.report ...)

Reads only released-format files and the sidecar (never the trials), and
never trains (the removal experiments are `python -m
influence_mem.analysis.marginal_utility`; their CSVs in --output_dir or
--estimates are linked).  Sections (docs/analysis.md):
  summary          <name>_infl_matrix.npz (+ sidecar: trials, test accuracy)
  pairs            Sec. 3 counts, Fig. C.1 histogram (pairs file, or selected from the matrix)
  consistency      J/D vs θ against each --compare estimate set (Figs. C.2/C.3)
  examples         --dataset: Fig. 1/D.4 (mem near 0, 0.5, 1) and Fig. 3/D.5 groups (appendix D rule)
  long tail        paper 004 model: τ, weight[1/2n, 2/n], excess error vs n/N (no files needed)
  convergence      --workdir: how the estimates settle as trials accumulate (reads the trials once;
                   convergence.csv / convergence.png as im-describe --convergence writes them)
"""
import glob
import os
import shutil
import sys

import numpy as np
import pandas as pd
from absl import flags

from influence_mem.formats import npz, released
from influence_mem.analysis import consistency, examples, figures, longtail, neighbors, pair_stats
from influence_mem.analysis import convergence as convergence_output
from influence_mem.estimate.aggregator import AggregateError
from influence_mem.estimate.convergence import convergence_table
from influence_mem.estimate.pairs import pairs_from_matrix
from influence_mem.programs import shared_flags, start
from influence_mem.formats.released import EstimateSetError, find_estimate_set

FLAGS = flags.FLAGS
SUMMARY_FILE = "summary.md"


def summarize(files: dict) -> dict:
    """Headline numbers: trials, mean test accuracy, memorized examples, pairs."""
    matrix = released.load_infl_matrix(files["infl_matrix"])
    summary = {"name": files["name"], "num_train": len(matrix.tr_labels), "num_test": len(matrix.tt_labels),
               "num_mem_025": int(np.sum(matrix.tr_mem >= 0.25))}
    if files["pairs"]:
        pairs = released.load_high_infl_pairs(files["pairs"])
        summary.update(num_pairs=len(pairs), pair_train=pairs.tr_idx.nunique(), pair_test=pairs.tt_idx.nunique())
    if files["stats"]:
        stats = released.load_estimates_stats(files["stats"])
        summary["num_trials"] = int(stats["num_trials"])
        if "tt_correct" in stats:
            summary["test_accuracy"] = float(np.sum(stats["tt_correct"])
                                             / (stats["num_trials"] * len(matrix.tt_labels)))
    return summary


def format_summary(s: dict) -> str:
    lines = [f"estimates {s['name']}: {s['num_train']} training / {s['num_test']} test examples"]
    if "num_trials" in s:
        acc = f", mean test accuracy {100 * s['test_accuracy']:.2f}%" if "test_accuracy" in s else ""
        lines.append(f"  trials: {s['num_trials']}{acc}")
    lines.append(f"  training examples with memorization >= 0.25: {s['num_mem_025']} "
                 f"({100 * s['num_mem_025'] / s['num_train']:.1f}%)")
    if "num_pairs" in s:
        lines.append(f"  high-influence pairs: {s['num_pairs']} ({s['pair_train']} training, "
                     f"{s['pair_test']} test examples)")
    return "\n".join(lines)


def markdown_table(df: pd.DataFrame, floatfmt="{:.4g}") -> str:
    """A pandas table as a Markdown pipe table (no extra dependency)."""
    def cell(v):
        return floatfmt.format(v) if isinstance(v, (float, np.floating)) else str(v)
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


class Report:
    """Collects files written into one folder and the Markdown that links them."""

    def __init__(self, output_dir: str, name: str):
        self.dir, self.name, self.md, self.written = output_dir, name, [], []
        os.makedirs(output_dir, exist_ok=True)

    def path(self, suffix: str) -> str:
        path = os.path.join(self.dir, f"{self.name}_{suffix}")
        self.written.append(path)
        return path

    def csv(self, df: pd.DataFrame, suffix: str, caption: str, show=True):
        df.to_csv(self.path(suffix), index=False)
        self.md += ([markdown_table(df), ""] if show else []) + [f"[{caption}]({self.name}_{suffix})", ""]

    def png(self, suffix: str, caption: str):
        self.md += [f"![{caption}]({os.path.basename(suffix)})", ""]

    def text(self, *lines):
        self.md += list(lines) + [""]

    def finish(self) -> str:
        path = os.path.join(self.dir, SUMMARY_FILE)
        with open(path, "w") as f:
            f.write("\n".join(self.md))
        self.written.append(path)
        return path


def _pairs(files: dict, matrix) -> tuple:
    """(pairs table, where from): the pairs file if present, else selected from the matrix (0.25 / 0.15)."""
    if files["pairs"]:
        return released.load_high_infl_pairs(files["pairs"]), os.path.basename(files["pairs"])
    return pairs_from_matrix(matrix), "selected from the infl matrix (mem >= 0.25, infl >= 0.15)"


def pair_section(rep: Report, pairs, source: str, num_test: int):
    rep.text("## High-influence pairs (Sec. 3, Fig. C.1)", f"Source: {source}.")
    rep.csv(pd.DataFrame([pair_stats.summary(pairs, num_test)]), "pair_summary.csv", "pair counts (CSV)")
    rep.text("Test examples by the number of training examples influencing them:")
    rep.csv(pair_stats.influencers_per_test(pairs), "influencers_per_test.csv", "influencers per test example (CSV)")
    path = rep.path("influence_histogram.png")
    pair_stats.plot_influence_histogram(pairs, path, f"{rep.name}: {len(pairs)} high-influence pairs")
    rep.png(path, "influence histogram")
    rep.csv(pair_stats.influence_histogram(pairs), "influence_histogram.csv", "histogram (CSV)", show=False)


def load_comparisons(matrix, compare_dirs) -> list:
    """[(name, directory, InflMatrix)] of every --compare set; EstimateSetError if one is for other
    training/test examples (the report checks this before writing anything)."""
    comparisons = []
    for other_dir in compare_dirs:
        other_files = find_estimate_set(other_dir)
        other = released.load_infl_matrix(other_files["infl_matrix"])
        if not (np.array_equal(other.tr_labels, matrix.tr_labels)
                and np.array_equal(other.tt_labels, matrix.tt_labels)):
            raise EstimateSetError(f"{other_files['infl_matrix']}: --compare estimates are for other training/test "
                                   f"examples (labels differ from the report's estimates)")
        comparisons.append((other_files["name"], other_dir, other))
    return comparisons


def consistency_section(rep: Report, matrix, comparisons, mem_threshold, unit=consistency.UNIT_ACCURACY):
    """J/D against every comparison estimate set (load_comparisons); one table per comparison, one plot
    per estimate kind (θ and D in `unit`, the report's estimates' unit)."""
    rep.text("## Consistency (appendix C, eq. 4; Figs. C.2 / C.3)",
             f"Influence pairs need mem >= {mem_threshold} in the run that selects them."
             if mem_threshold is not None else "Influence pairs without the memorization condition (Fig. C.3).")
    mem_tables, infl_tables = {}, {}
    for label, other_dir, other in comparisons:
        if label in mem_tables:  # two comparison sets with the same name
            label = f"{label}_{len(mem_tables)}"
        mem_tables[label] = consistency.memorization_consistency(matrix.tr_mem, other.tr_mem)
        infl_tables[label] = consistency.influence_consistency(matrix, other, mem_threshold=mem_threshold)
        rep.text(f"### vs {label} ({other_dir})")
        rep.csv(mem_tables[label], f"consistency_mem_vs_{label}.csv", "memorization J/D (CSV)", show=False)
        rep.csv(infl_tables[label], f"consistency_infl_vs_{label}.csv", "influence J/D (CSV)")
    for what, tables in (("memorization", mem_tables), ("influence", infl_tables)):
        path = rep.path(f"consistency_{what}.png")
        consistency.plot_consistency(tables, path, what, unit)
        rep.png(path, f"consistency of {what}")


def load_example_dataset(files, matrix, dataset_name, data_dir, dataset_meta=None):
    """The --dataset whose images the example figures show, as the run's `dataset_meta` (its dataset_meta.npz,
    optional) says it trained: its --train_per_class part and flipped labels (analysis.examples.as_trained).
    EstimateSetError if its training labels are not the estimates' (checked before anything is written)."""
    dataset = examples.in_memory_dataset(dataset_name, data_dir)
    if dataset_meta:
        dataset = examples.as_trained(dataset, npz.read(dataset_meta), dataset_meta)
    if dataset.x_train is not None and (len(matrix.tr_labels) != dataset.num_train
                                        or not np.array_equal(matrix.tr_labels, dataset.train_labels)):
        raise EstimateSetError(f"{files['infl_matrix']}: labels do not match dataset {dataset_name}")
    return dataset


def check_class_names(class_names, matrix) -> None:
    """ValueError (one line naming --class_names) unless there is a name for every label of the estimates."""
    if class_names is None:
        return
    needed = int(max(matrix.tr_labels.max(), matrix.tt_labels.max())) + 1
    if len(class_names) < needed:
        raise ValueError(f"--class_names: {len(class_names)} names, but the estimates' labels go up to {needed - 1} "
                         f"({needed} names needed, in label order)")


def example_section(rep: Report, matrix, pairs, dataset, dataset_name, classes, unit=None, class_names=None):
    """Fig. 1 / D.4 and Fig. 3 / D.5 with the images of `dataset` (load_example_dataset); rows and captions
    name classes by `class_names` (None: 'class 3')."""
    if dataset.x_train is None:  # ImageNet: the rest of the report is still useful
        rep.text("## Examples", f"Skipped: --dataset={dataset_name} streams its images; the example figures need "
                                f"a dataset held in memory.")
        print(f"  note: example figures skipped, --dataset={dataset_name} streams its images", file=sys.stderr)
        return
    if dataset.vectors:  # tabular data, embeddings: nothing to picture, and pixel distances mean nothing
        rep.text("## Examples", f"Skipped: --dataset={dataset_name} holds feature vectors, not images: no example "
                                f"figures (Fig. 1 / D.4, Fig. 3 / D.5) and no pixel-distance (near-duplicate) checks.")
        print(f"  note: example figures skipped, --dataset={dataset_name} holds feature vectors", file=sys.stderr)
        return
    classes = classes if classes else matrix.classes[:10]
    rep.text("## Examples (no cherry-picking)",
             "Memorization estimates closest to 0, 0.5 and 1 per class (Fig. 1 / D.4):")
    path = rep.path("memorization_near_0_05_1.png")
    examples.plot_memorization_near(dataset.x_train, dataset.train_labels, matrix.tr_mem, path, classes,
                                    class_names=class_names)
    rep.png(path, "memorization examples")
    path = rep.path("memorization_examples.png")
    figures.plot_memorization_examples(dataset.x_train, dataset.train_labels, matrix.tr_mem, path, classes,
                                       unit=unit, class_names=class_names)
    rep.text("Highest and lowest memorization per class:")
    rep.png(path, "highest and lowest memorization")
    if len(pairs):
        rep.text("High-influence pairs, appendix D rule (3 sets of 5 training examples evenly spread in the order "
                 "of their largest influence, each with its 4 most influenced test examples; Fig. 3 / D.5):")
        for path in examples.plot_pair_groups(dataset.x_train, dataset.x_test, matrix, pairs,
                                              os.path.join(rep.dir, f"{rep.name}_pair_examples_{{copy}}.png"),
                                              class_names=class_names):
            rep.written.append(path)
            rep.png(path, "high-influence pairs")
        path = rep.path("strongest_pairs.png")
        figures.plot_high_influence_pairs(dataset.x_train, dataset.x_test, pairs, path,
                                          train_labels=dataset.train_labels, unit=unit, class_names=class_names)
        rep.text("The strongest pairs: each training example beside its most influenced test examples (Fig. 3):")
        rep.png(path, "strongest high-influence pairs")
        near_duplicate_section(rep, pairs, dataset)


def near_duplicate_section(rep: Report, pairs, dataset):
    """Are the pairs near duplicates (Sec. 3)?  Each pair's pixel-distance rank (analysis.neighbors)
    against random same-class pairs of the same test examples."""
    table = neighbors.near_duplicate_table(pairs, dataset.x_train, dataset.x_test, dataset.train_labels,
                                           dataset.test_labels)
    rep.text("## Are the pairs near duplicates?",
             f"For each pair, the rank of its training image among all {dataset.num_train} by pixel distance to "
             f"its test image (0 = the nearest), and the fraction within the {neighbors.NEAREST} nearest; the "
             f"baseline pairs each test image with a random training image of its class:")
    rep.csv(table, "near_duplicates.csv", "pixel-distance ranks (CSV)")


def longtail_section(rep: Report):
    rep.text("## Long-tail theory model (paper 004)",
             "Zipf prior over a domain of N = 1000 elements, 10 random labels; a learner that memorizes vs one "
             "that does not fit examples seen once.  The excess error is (1 - 1/k) τ E[#singletons].")
    table = longtail.sweep()
    rep.csv(table, "longtail.csv", "long-tail model (CSV)")
    path = rep.path("longtail.png")
    longtail.plot_sweep(table, path)
    rep.png(path, "long-tail model")


def marginal_utility_section(rep: Report, search_dirs):
    """Link the removal experiments' CSV/PNG (written by analysis.marginal_utility) if present."""
    found = False
    extra = sorted({os.path.basename(p)[len(rep.name) + 1:] for d in search_dirs
                    for p in glob.glob(os.path.join(glob.escape(d), f"{glob.escape(rep.name)}_removal_*.csv"))})
    for suffix, title in (("marginal_utility.csv", "Marginal utility of memorized examples (Fig. 2)"),
                          ("pair_removal.csv", "Removal of the pairs' training examples (appendix C)"),
                          *[(s, f"Removal of {s[len('removal_'):-len('.csv')]}") for s in extra]):
        sources = [os.path.join(d, f"{rep.name}_{suffix}") for d in search_dirs]
        src = next((p for p in sources if os.path.exists(p)), None)
        if src is None:
            continue
        found = True
        rep.text(f"## {title}")
        rep.csv(pd.read_csv(src), suffix, f"{suffix} (CSV)")
        png = src[: -len(".csv")] + ".png"
        if os.path.exists(png):
            dst = os.path.join(rep.dir, os.path.basename(png))
            if os.path.abspath(png) != os.path.abspath(dst):
                shutil.copyfile(png, dst)
            rep.written.append(dst)
            rep.png(dst, title)
    if not found:
        rep.text("## Removal experiments (Fig. 2, appendix C)",
                 "Not run (they train models): `python -m influence_mem.analysis.marginal_utility --estimates DIR "
                 "--flagfile=CONFIG --workdir=W --output_dir=<this folder>`, then rerun the report.")


def load_convergence(files: dict, workdir):
    """The convergence table of the trials under `workdir` that gave the estimate set: the subset ratio and
    trial selection its sidecar records (defaults without one).  Raises aggregator.AggregateError or
    trials.MetaError."""
    stats = released.load_estimates_stats(files["stats"]) if files["stats"] else {}
    selection = str(stats.get(released.STATS_TRIAL_SELECTION, "all"))
    return convergence_table(workdir, float(stats.get("subset_ratio", 0.7)), None if selection == "all" else selection)


def convergence_section(rep: Report, result):
    rep.text("## How the estimates settle as trials accumulate",
             f"From the {result.num_trials} trials of the workdir, read once (docs/analysis.md, \"How many trials do I "
             f"need?\"): errors of memorization against the Lemma 2.1 bound, agreement of two disjoint halves, and "
             f"the pairs selected against those noise alone would give.")
    csv_path, png_path = convergence_output.write(result, rep.dir)
    rep.written += [csv_path, png_path]
    rep.png(png_path, "convergence")
    rep.text(f"[the table (CSV)]({convergence_output.CSV_FILE})")


def build_report(estimates_dir, output_dir=None, name=None, dataset=None, data_dir=None, compare=(),
                 compare_mem_threshold=0.25, classes=None, with_longtail=True, allow_mixed_units=False,
                 workdir=None, dataset_meta=None, class_names=None) -> list:
    """Write every section the files allow into output_dir (default <estimates>/report); the written paths.

    The inputs (the estimate set, every --compare set, the trials of `workdir` when given) and the output
    folder are checked before anything is written: EstimateSetError, ReleasedFormatError, ValueError or
    AggregateError, and no file is written.
    """
    if name is not None:
        released.check_output_name(name)
    files = find_estimate_set(estimates_dir, name)
    unit = consistency.estimate_unit(files)
    for other_dir in compare:  # accuracy-based and loss-based (turn-over, nats) sets do not compare
        consistency.check_units({estimates_dir: unit, other_dir: consistency.estimate_unit(
            find_estimate_set(other_dir))}, allow_mixed_units)
    output_dir = output_dir or os.path.join(estimates_dir, "report")
    released.check_output_dir(output_dir)
    matrix = released.load_infl_matrix(files["infl_matrix"])
    comparisons = load_comparisons(matrix, compare)
    example_dataset = load_example_dataset(files, matrix, dataset, data_dir, dataset_meta) if dataset else None
    check_class_names(class_names, matrix)
    converging = load_convergence(files, workdir) if workdir else None
    rep = Report(output_dir, files["name"])
    summary = summarize(files)
    rep.text(f"# Report: {files['name']}", f"Estimates: `{os.path.abspath(estimates_dir)}`", "```",
             format_summary(summary), "```")
    mem_counts = pd.DataFrame({"theta": [0.1, 0.25, 0.5, 0.75, 0.9]})
    mem_counts["num_train_mem_ge_theta"] = [int(np.sum(matrix.tr_mem >= t)) for t in mem_counts.theta]
    mem_counts["fraction"] = mem_counts.num_train_mem_ge_theta / len(matrix.tr_mem)
    rep.text("## Memorization estimates", f"Unit of every estimate, threshold and axis below: "
                                          f"{consistency.unit_label(unit)}.")
    rep.csv(mem_counts, "memorization_counts.csv", "counts (CSV)")
    pairs, source = _pairs(files, matrix)
    pair_section(rep, pairs, source, len(matrix.tt_labels))
    if comparisons:
        consistency_section(rep, matrix, comparisons, compare_mem_threshold, unit)
    if example_dataset is not None:
        example_section(rep, matrix, pairs, example_dataset, dataset, classes, consistency.unit_label(unit),
                        class_names)
    marginal_utility_section(rep, [rep.dir, estimates_dir])
    if converging is not None:
        convergence_section(rep, converging)
    if with_longtail:
        longtail_section(rep)
    rep.finish()
    return rep.written


def define_flags():
    """im-report's flags."""
    shared_flags.define_estimates()
    shared_flags.define_name()
    shared_flags.define_output_dir("Report folder; default: <estimates>/report.")
    flags.DEFINE_string("dataset", None, "Dataset of the estimates (registry name), for the example figures.")
    shared_flags.define_data_dir()
    flags.DEFINE_list("compare", [], "Other estimate directories (same data) for the consistency section.")
    flags.DEFINE_string("compare_mem_threshold", "0.25",
                        "Memorization condition of the influence consistency; 'none' drops it (Fig. C.3).")
    flags.DEFINE_list("classes", [], "Classes shown in the memorization examples; default: the first 10.")
    flags.DEFINE_boolean("longtail", True, "Include the long-tail theory model section.")
    flags.DEFINE_boolean("allow_mixed_units", False, "Let --compare sets be in another unit than --estimates "
                                                     "(accuracy differences vs turn-over's loss differences, nats).")
    flags.DEFINE_string("dataset_meta", None, "With --dataset: the run's dataset_meta.npz (<workdir>/dataset_meta.npz); "
                        "the example figures then show --dataset as it trained, its --train_per_class part and "
                        "flipped labels.")
    flags.DEFINE_list("class_names", None, "Class names for the figures, in label order, comma-separated, e.g. "
                      "'T-shirt/top,Trouser,...' (default: 'class 3').")
    flags.DEFINE_string("workdir", None, "The trainer's workdir of the estimates: adds how they settle as trials "
                        "accumulate (reads the trials once; convergence.csv, convergence.png).")
    flags.register_validator("compare_mem_threshold", lambda v: shared_flags.valid(_compare_threshold, v),
                             "see the message above")
    flags.register_validator("classes", lambda v: all(c.isascii() and c.isdigit() for c in v),
                             "--classes must be class labels (integers >= 0)")
    flags.register_multi_flags_validator(["dataset_meta", "dataset"], lambda v: not v["dataset_meta"] or v["dataset"],
                                         "--dataset_meta is read with --dataset (the example figures): give both")


def _compare_threshold(text: str):
    """--compare_mem_threshold as a number (None for 'none'); ValueError naming the flag otherwise."""
    if text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not -1 <= value <= 1:
        raise ValueError(f"--compare_mem_threshold={text!r}: a memorization value in [-1, 1] or 'none'")
    return value


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments: {' '.join(argv[1:])}")
    threshold = _compare_threshold(FLAGS.compare_mem_threshold)
    classes = [int(c) for c in FLAGS.classes]
    try:
        if FLAGS.name is not None:
            released.check_output_name(FLAGS.name)
        files = find_estimate_set(FLAGS.estimates, FLAGS.name)
        print(format_summary(summarize(files)))
        written = build_report(FLAGS.estimates, FLAGS.output_dir, FLAGS.name, FLAGS.dataset, FLAGS.data_dir,
                               FLAGS.compare, threshold, classes, FLAGS.longtail, FLAGS.allow_mixed_units,
                               FLAGS.workdir, FLAGS.dataset_meta, FLAGS.class_names)
    except (EstimateSetError, released.ReleasedFormatError, ValueError, AggregateError) as e:
        sys.exit(f"error: {e}")
    except OSError as e:  # e.g. the disk filled up while writing
        sys.exit(f"error: writing the report failed: {e.strerror or e} ({e.filename})")
    print(f"  report: {written[-1]} ({len(written) - 1} files beside it)")


def run():
    start.run(main, define_flags)


if __name__ == "__main__":
    run()
