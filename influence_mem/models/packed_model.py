"""K models of one registry architecture held as one: every weight stacked on a leading model axis.

The forward pass is the registry model's own layers (Keras `stateless_call`),
vectorized over the model axis with `tf.vectorized_map`: dense layers become
batched matmuls, batch norm keeps per-model statistics, and ops pfor has no
batched rule for (convolutions with per-model filters; a grouped convolution
would need per-architecture code) run as a loop inside the same graph step.
So slice k of a pack computes what the registry model holding slice k's
weights computes, for every registry architecture.
"""
import functools
import platform

import keras
import numpy as np
import tensorflow as tf


def dense_chain(template: keras.Model):
    """[(activation, low precision), ...] per Dense layer if `template` is a chain of
    Input -> [Flatten] -> Dense(relu)... -> Dense (no activation), with biases and nothing
    else (the `mlp` and `linear` architectures); otherwise None.

    `low precision` is the layer's compute dtype when it differs from float32 (a
    mixed policy), else None.
    """
    layers = template.layers
    if not layers or not isinstance(layers[0], keras.layers.InputLayer) or template.non_trainable_variables:
        return None
    previous, chain = layers[0].output, []
    for layer in layers[1:]:
        if len(layer._inbound_nodes) != 1 or layer.input is not previous:
            return None
        previous = layer.output
        if isinstance(layer, keras.layers.Flatten) and not chain:
            continue
        if type(layer) is not keras.layers.Dense or not layer.use_bias or layer.kernel_regularizer is not None \
                or layer.bias_regularizer is not None or layer.activity_regularizer is not None \
                or layer.kernel_constraint is not None or layer.bias_constraint is not None \
                or getattr(layer, "lora_enabled", False) or layer.quantization_mode is not None:
            return None
        activation = {keras.activations.relu: "relu", keras.activations.linear: None}.get(layer.activation, "other")
        if activation == "other":
            return None
        chain.append((activation, None if layer.compute_dtype == "float32" else tf.as_dtype(layer.compute_dtype)))
    if not chain or any(a != "relu" for a, _ in chain[:-1]) or chain[-1][0] is not None:
        return None
    variables = template.trainable_variables
    if len(variables) != 2 * len(chain) or [len(v.shape) for v in variables] != [2, 1] * len(chain):
        return None
    return chain


@functools.lru_cache(maxsize=None)
def bfloat16_matmuls_in_float32(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether packs run their bfloat16 matmuls as float32 matmuls of the same bfloat16 values: on x86 CPUs
    without AVX-512 (as `cpuinfo` lists their flags), where TensorFlow's bfloat16 batched matmul runs
    ~1.3x slower than its float32 one (docs/performance.md).  A product of two bfloat16 values is exact
    in float32, and a bfloat16 matmul accumulates in float32 too, so only the order of the sums differs.
    Decided by the CPU alone (not timed), so a machine always takes the same path."""
    if platform.machine().lower() not in ("x86_64", "amd64") or tf.config.list_physical_devices("GPU"):
        return False
    try:
        with open(cpuinfo) as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), None)
    except OSError:
        return False
    return flags is not None and "avx512f" not in flags


def matmul_dtype(dtype: tf.DType) -> tf.DType:
    """The dtype a pack holds the operands of its `dtype` matmuls in (float32 for bfloat16 where
    bfloat16_matmuls_in_float32(), else `dtype`)."""
    return tf.float32 if dtype == tf.bfloat16 and bfloat16_matmuls_in_float32() else dtype


def _matmul_input(x, dtype):
    """x as a layer computing in `dtype` (None: float32) takes it: rounded to `dtype`, held in matmul_dtype."""
    if dtype is None:
        return tf.cast(x, tf.float32)
    return tf.cast(tf.cast(x, dtype), matmul_dtype(dtype))


@tf.function(jit_compile=True)
def _bias_relu(z, bias, dtype):
    """relu(z + bias) for z [K, b, n], bias [K, n], rounded as in `dtype` (no-ops when z is held in it):
    one fused pass (XLA) instead of two."""
    return tf.cast(tf.nn.relu(tf.cast(z, dtype) + tf.cast(bias, dtype)[:, None, :]), z.dtype)


@tf.function(jit_compile=True)
def _relu_bias_grad(dy, y, dtype):
    """(dz, d bias) of y = relu(z + bias) in `dtype`: one fused pass; the bias gradient summed in float32."""
    dy = tf.cast(dy, dtype)
    dz = tf.where(y > 0, dy, tf.zeros_like(dy))
    return tf.cast(dz, y.dtype), tf.cast(tf.cast(tf.reduce_sum(tf.cast(dz, tf.float32), axis=1), dtype), y.dtype)


@functools.lru_cache(maxsize=None)
def _dense_relu(dtype):
    """relu(x @ kernel + bias) over a pack ([K, b, m] x [K, m, n]) computing in `dtype`; matmuls by oneDNN
    (in matmul_dtype), the rest fused by XLA, each output and gradient rounded as in `dtype`."""
    @tf.custom_gradient
    def dense_relu(x, kernel, bias):
        y = _bias_relu(tf.matmul(x, kernel), bias, dtype)

        def grad(dy):
            dz, dbias = _relu_bias_grad(dy, y, dtype)
            return tf.matmul(dz, kernel, transpose_b=True), tf.matmul(x, dz, transpose_a=True), dbias
        return y, grad
    return dense_relu


@tf.custom_gradient
def _dense_out(x, kernel, bias):
    """x @ kernel + bias over a pack ([K, b, m] x [K, m, n]), the kernel's gradient taken as (dy^T x)^T: for a
    classifier's few outputs (n = 10) that matmul takes half the time of x^T dy (MLP 784-512-10, K = 16)."""
    def grad(dy):
        return (tf.matmul(dy, kernel, transpose_b=True), tf.transpose(tf.matmul(dy, x, transpose_a=True), [0, 2, 1]),
                tf.reduce_sum(dy, axis=1))
    return tf.matmul(x, kernel) + bias[:, None, :], grad


class PackedModel:
    """K same-architecture Keras models as stacked variables, with a vectorized forward pass."""

    def __init__(self, template: keras.Model, stacked):
        """A pack holding `stacked` = (trainable, non-trainable) lists of [K, ...] values
        (stack_weights, or models.initial_weights.InitialWeights.stacked) of models
        with `template`'s architecture.

        Call inside a strategy's scope to get mirrored variables.
        """
        self.template, self.size = template, packed_size(stacked)

        def variables(template_variables, values):
            return [keras.Variable(value, dtype=v.dtype, trainable=v.trainable, aggregation=v.aggregation,
                                   name="packed_" + v.name) for v, value in zip(template_variables, values)]

        self.trainable = variables(self.template.trainable_variables, stacked[0])
        self.non_trainable = variables(self.template.non_trainable_variables, stacked[1])
        self._infer = tf.function(self.infer)
        # Mixed precision, Dense chains (mlp, linear): the hidden layers' weights are also kept rounded to
        # their low compute dtype (`low`, held in matmul_dtype), rewritten by `sync_low` after each update
        # (the trainer fuses it into its XLA update), so a step neither casts the weights nor its gradients
        # in separate passes.
        chain = dense_chain(template)
        self.chain = chain if chain and any(dtype is not None for _, dtype in chain) else None
        self.low, self.low_dtype = {}, {}
        if self.chain:
            for i, (_, dtype) in enumerate(self.chain):
                for j in (2 * i, 2 * i + 1):
                    if dtype is not None:
                        self.low_dtype[j], held = dtype, matmul_dtype(dtype)
                        self.low[j] = keras.Variable(tf.cast(tf.cast(self.trainable[j].value, dtype), held), dtype=held,
                                                     trainable=False, name="packed_low_" + self.trainable[j].name)

    def load(self, stacked) -> None:
        """Overwrite the pack with `stacked` weights (as in __init__; as many models as the pack holds)."""
        if packed_size(stacked) != self.size:
            raise ValueError(f"a pack of {self.size} cannot load {packed_size(stacked)} models")
        for variable, value in zip(self.trainable + self.non_trainable, stacked[0] + stacked[1]):
            variable.assign(value)
        self.sync_low()

    def sync_low(self) -> None:
        """Rewrite the low-precision copies from the float32 weights (after any change of the weights)."""
        for j, low in self.low.items():
            low.assign(self.to_low(j, self.trainable[j].value))

    def to_low(self, j: int, value):
        """`value` as weight j's low-precision copy holds it: rounded to its compute dtype, in matmul_dtype."""
        return tf.cast(tf.cast(value, self.low_dtype[j]), self.low[j].dtype)

    def train_weights(self) -> list:
        """The tensors a training step differentiates by, one per trainable variable: the low-precision
        copy where there is one (its gradient is in the dtype the copy is held in), else the variable's
        value."""
        return [self.low[j].value if j in self.low else v.value for j, v in enumerate(self.trainable)]

    def forward_weights(self, images, weights):
        """forward(images, training=True) computed from `weights` (train_weights()), differentiable in them.

        A Dense chain under a mixed policy runs its own batched matmuls (the same
        math as the layers: x @ kernel + bias, ReLU, in the layer's compute dtype,
        logits in float32) with bias+ReLU and its gradient fused; other models
        run forward() on the variables (then `weights` must be their values).
        """
        if not self.chain:
            return self.forward(images, training=True)
        x = tf.reshape(images, tf.concat([tf.shape(images)[:2], [-1]], 0))
        return self._chain_layers(x, weights, 0), [], tf.zeros([self.size])

    def _chain_layers(self, x, weights, first: int):
        """Dense chain layers first, first + 1, ... on x [K, b, m]: float32 logits [K, b, C]."""
        for i, (activation, dtype) in enumerate(self.chain[first:], start=first):
            kernel, bias = weights[2 * i], weights[2 * i + 1]
            x = _matmul_input(x, dtype)
            x = _dense_relu(dtype or tf.float32)(x, kernel, bias) if activation == "relu" else \
                _dense_out(x, kernel, bias)
        return tf.cast(x, tf.float32)

    def _infer_chain(self, images):
        """infer() of a Dense chain under a mixed policy: the first layer, whose input every model shares, as
        one matmul of the batch by the K kernels side by side ([b, m] x [m, K n]), the rest per model.

        One wide matmul instead of K of copies of the batch: 1.4x faster for the first layer
        of an MLP 784-512-10 in bfloat16 (K = 16 a core); the same sums, blocked differently.
        """
        weights = self.train_weights()
        (activation, dtype), kernel, bias = self.chain[0], weights[0], weights[1]
        x = _matmul_input(tf.reshape(images, [tf.shape(images)[0], -1]), dtype)
        rows, cols = kernel.shape[1], kernel.shape[2]
        wide = tf.reshape(tf.transpose(kernel, [1, 0, 2]), [rows, self.size * cols])
        z = tf.transpose(tf.reshape(tf.matmul(x, wide), [-1, self.size, cols]), [1, 0, 2])  # [K, b, n]
        if len(self.chain) == 1:
            return tf.cast(z + bias[:, None, :], tf.float32)
        x = _bias_relu(z, bias, dtype or tf.float32) if activation == "relu" else z + bias[:, None, :]
        return self._chain_layers(x, weights, 1)

    def forward(self, images, training: bool):
        """Per-model images [K, b, ...] -> (logits [K, b, C] float32, new non-trainable state, extra losses [K]).

        The extra losses are each model's own regularization losses (0 if none).
        """
        def one(args):
            trainable, non_trainable, x = args
            logits, state, losses = self.template.stateless_call(
                trainable, non_trainable, x, training=training, return_losses=True)
            extra = tf.add_n([tf.cast(l, tf.float32) for l in losses]) if losses else tf.zeros([])
            return tf.cast(logits, tf.float32), state, extra

        values = ([v.value for v in self.trainable], [v.value for v in self.non_trainable], images)
        return tf.vectorized_map(one, values, fallback_to_while_loop=True)

    def __call__(self, images, training: bool = False):
        """Shared images [b, ...] -> logits [K, b, C] of every model (inference).

        The registry layers give every model its own copy of the batch: batched
        matmuls over [K, b, ...] ran 10-18% faster than pfor's one wide matmul on
        the shared batch plus a transpose of its [b, K x units] result (digits MLP,
        float32, K = 32).  A Dense chain under a mixed policy takes the shared batch
        in one wide matmul instead (_infer_chain: faster in bfloat16).
        """
        if training:
            raise ValueError("PackedModel(images) is inference; train through forward()")
        return self._infer(images)

    def infer(self, images):
        """__call__'s ops, built in the caller's graph (a caller holding several packs traces all of theirs
        into one call)."""
        if self.chain:  # a Dense chain under a mixed policy: the low-precision copies, as in training
            return self._infer_chain(images)
        tiled = tf.broadcast_to(images[None], tf.concat([[self.size], tf.shape(images)], 0))
        return self.forward(tiled, training=False)[0]

    def set_state(self, state) -> None:
        """Assign the non-trainable state `forward(training=True)` returned (e.g. batch-norm moving stats)."""
        for variable, value in zip(self.non_trainable, state):
            variable.assign(value)

    def members(self, model: keras.Model):
        """Yield `model` (a registry model of the same architecture) holding slice 0, 1, ..., K-1 in turn."""
        stacks = [v.numpy() for v in self.trainable + self.non_trainable]  # one read, then numpy slices
        targets = model.trainable_variables + model.non_trainable_variables
        for k in range(self.size):
            for target, stacked in zip(targets, stacks):
                target.assign(stacked[k])
            yield model


def stack_weights(weights) -> tuple:
    """(trainable, non-trainable) lists of [K, ...] arrays from K models' weights (initial_weights.weights_of)."""
    if not weights:
        raise ValueError("a pack needs at least one model")
    return tuple([np.stack(values) for values in zip(*[w[part] for w in weights])] for part in (0, 1))


def packed_size(stacked) -> int:
    """K of stacked weights (their leading axis)."""
    values = stacked[0] + stacked[1]
    if not values:
        raise ValueError("a pack needs at least one variable")
    return int(values[0].shape[0])
