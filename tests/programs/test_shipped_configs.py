"""configs/ (installed as influence_mem_configs): every flagfile parses with its program's absl flags, matches
the paper, and builds its model."""
import pytest
from absl import flags

from influence_mem import models
from influence_mem.formats.trial import parse_trials
from influence_mem.train import flags as train_flags
from influence_mem.train import last_layer
from influence_mem.turnover import main as turnover_main
from tests.helpers import CONFIGS as CONFIG_DIR

# Input shape and classes per dataset (without loading data).
SHAPES = {"digits": ((8, 8, 1), 10), "mnist": ((28, 28, 1), 10), "cifar10": ((32, 32, 3), 10),
          "cifar100": ((32, 32, 3), 100), "imagenet2012": ((224, 224, 3), 1000),
          "idx:/usr/share/datasets/fashion-mnist": ((28, 28, 1), 10)}

LWD = dict(lr_schedule="linear_warmup_decay", warmup_fraction=0.15, momentum=0.9)
CIFAR100 = dict(dataset="cifar100", epochs=160, batch_size=512, base_lr=0.4, crop_padding=4, flip="true", **LWD)
# Paper 000 appendix B (and sec. 2 trial counts; appendix C: 2,000 trials per compared architecture);
# paper 002 appendix A.
EXPECTED = {
    "mnist_inception": dict(dataset="mnist", arch="inception_small", epochs=30, batch_size=256, base_lr=0.1,
                            trials=4000, crop_padding=0, **LWD),
    "cifar100_resnet50": dict(CIFAR100, arch="resnet50_cifar", trials=4000),
    "imagenet_resnet50": dict(dataset="imagenet2012", arch="resnet50", epochs=100, batch_size=896, base_lr=0.7,
                              lr_schedule="warmup_piecewise", warmup_epochs=15, decay_epochs=["30", "60", "90"],
                              momentum=0.9, trials=2000, crop_padding=32, flip="true", strategy="mirrored"),
    "cifar100_resnet18": dict(CIFAR100, arch="resnet18_cifar", trials=2000),
    "cifar100_inception": dict(CIFAR100, arch="inception_small", trials=2000),
    "cifar100_densenet100": dict(CIFAR100, arch="densenet100", trials=2000, batch_size=256, base_lr=0.2),
    "cifar100_last_layer": dict(CIFAR100, arch="resnet50_cifar", trials=4000, linear_epochs=40),
    "mnist_mlp": dict(dataset="mnist", arch="mlp", mlp_hidden="4096", epochs=200, batch_size=256, base_lr=0.06,
                      lr_schedule="constant", momentum=0.0, trials=4000),
    "cifar10_vgg11": dict(dataset="cifar10", arch="vgg11", epochs=200, batch_size=256, base_lr=0.01,
                          lr_schedule="warmup_piecewise", warmup_epochs=0, decay_epochs=["100", "150"],
                          momentum=0.9, trials=4000),
    "digits_mlp": dict(dataset="digits", arch="mlp", subset_ratio=0.7),
    # Ours (docs/realdata.md): Fashion-MNIST from Debian's IDX files, in the regime where models fit their subsets.
    "fashion_mnist_mlp": dict(dataset="idx:/usr/share/datasets/fashion-mnist", arch="mlp", mlp_hidden="512",
                              batch_size=128, precision="mixed_bfloat16", pack_trials=32, trials=2000,
                              epochs=60, base_lr=0.1, crop_padding=0, flip="false", **LWD),
}
PAPER_002 = {  # appendix A
    "mnist_mlp": dict(dataset="mnist", arch="mlp", mlp_hidden="4096", epochs=200, batch_size=256, base_lr=0.06,
                      lr_schedule="constant", momentum=0.0, weight_decay=0.0, crop_padding=0),
    "cifar10_vgg11": dict(dataset="cifar10", arch="vgg11", epochs=200, batch_size=256, base_lr=0.01,
                          lr_schedule="warmup_piecewise", warmup_epochs=0, decay_epochs=["100", "150"],
                          momentum=0.9, weight_decay=0.0),
}
CONFIGS = sorted(p.stem for p in CONFIG_DIR.glob("*.cfg"))
TURNOVER_CONFIGS = sorted(p.stem for p in (CONFIG_DIR / "turnover").glob("*.cfg"))
# Building a full-size model takes seconds: those configs build in the integration run (`make test`).
LIGHT = {"digits_mlp", "mnist_mlp", "mnist_inception", "fashion_mnist_mlp"}


def define_trainer_and_last_layer_flags():
    last_layer.define_flags()  # the trainer's flags plus --linear_epochs


def parse(program, name):
    return program.parse(define_trainer_and_last_layer_flags, f"--flagfile={CONFIG_DIR / (name + '.cfg')}",
                         "--workdir=unused")


def test_every_config_is_checked():
    assert CONFIGS == sorted(EXPECTED)
    assert TURNOVER_CONFIGS == sorted(PAPER_002)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_parses_and_matches_the_paper(name, program):
    values = parse(program, name)
    expected = dict(EXPECTED[name])
    trials = expected.pop("trials", None)
    if trials is not None:
        assert parse_trials(values.trials) == list(range(trials))
        assert values.subset_ratio == 0.7
    for flag, value in expected.items():
        assert values[flag].value == value, f"{name}.cfg: --{flag}={values[flag].value}, paper says {value}"
    if name != "cifar100_last_layer":
        assert not values["linear_epochs"].present, "only the last-layer config may set --linear_epochs"


@pytest.mark.parametrize("name", [n if n in LIGHT else pytest.param(n, marks=pytest.mark.integration)
                                  for n in CONFIGS])
@pytest.mark.slow
def test_config_builds_its_model(name, program):
    values = parse(program, name)
    config = train_flags.config_from_flags()
    shape, classes = SHAPES[values.dataset]
    model = models.build(config.arch, shape, classes, config.arch_options)
    assert model.output.shape[-1] == classes
    assert model.get_layer("logits") is not None


def test_unknown_flag_in_a_flagfile_is_an_error(tmp_path, program):
    bad = tmp_path / "bad.cfg"
    bad.write_text("--dataset=cifar100\n--learning_rate=0.4\n")
    with pytest.raises(flags.Error, match="learning_rate"):
        program.parse(define_trainer_and_last_layer_flags, f"--flagfile={bad}", "--workdir=unused")


@pytest.mark.parametrize("name", sorted(PAPER_002))
def test_turnover_configs_match_paper_002(name, program):
    values = program.parse(turnover_main.define_flags, f"--flagfile={CONFIG_DIR / 'turnover' / (name + '.cfg')}",
                           "--workdir=unused")
    for flag, value in PAPER_002[name].items():
        assert values[flag].value == value, f"{name}.cfg: --{flag}={values[flag].value}, paper 002 says {value}"
