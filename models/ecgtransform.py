"""ECGTransForm (El-Ghaish & Eldele, BSPC 89:105714, 2024), written here in Keras from its published design:
the strongest intra-patient result we know (macro F1 0.9426 ± 0.0028), to see whether the treatments'
ranking holds for a strong network.

- multi-scale stem: three Conv1D branches (kernels 5, 9, 11; ``filters`` 32, 'same', no bias) averaged →
  BatchNorm → ReLU → MaxPool 2 → Dropout 0.2;
- two conv blocks: Conv1D kernel 8 (64, then 128 filters) → BatchNorm → ReLU → MaxPool 2;
- three squeeze-and-excitation residual blocks (SE-ResNet basic blocks, kernel 3, reduction 4);
- a transformer encoder (3 post-norm layers, 5 heads, feed-forward 2048, dropout 0.1: PyTorch's
  ``TransformerEncoderLayer`` defaults) applied to the features and to their time-reversed copy, with the
  same weights, the two outputs summed; global average pooling; a linear head (softmax).

The feature dimension and the heads. Following the authors' PyTorch code as we read it (not re-checked
here; the paper gives d_model = the remaining time steps and 5 heads), the pooling pads by one
(PyTorch's ``MaxPool1d(2, 2, padding=1)``, here ``ZeroPadding1D(1)`` + ``MaxPooling1D(2)``: the same
after a ReLU) and the kernel-8 convolutions pad by 4, so a 187-sample beat leaves 25 time steps (187 → 94 → 95 → 48 → 49 → 25). The
encoder's tokens are the 128 channels and its d_model is those 25 time steps, divisible by the 5 heads
(key_dim 5). "Time-reversed" flips each token's 25 features, which is not the same as reordering tokens,
so the second pass is not redundant. For inputs of another length d_model is still the remaining time
steps; key_dim is d_model // heads (at least 1) and the attention's output projection maps back to d_model,
so any length builds.

Training settings of the paper, to be a preset (not the grid's shared optimiser): Adam lr 1e-3, weight
decay 1e-4, β (0.9, 0.99), batch 128, 60 epochs; its class-weighted loss (max(1, ln(n_max / n_c))) belongs
with the treatments. Parameters at the defaults (187 × 1 input, 5 classes): 728,340 (tests/test_models.py
checks the count): 321,519 in the transformer (313,419 of them in its feed-forward layers), 322,560 in the
SE blocks, 84,261 in the stem, the conv blocks and the head.
"""
import keras

from benchmark.search_space import Choice, FloatRange, IntRange
from models.registry import register_model

# the regularisation and the encoder's size; the stem and the 5 heads are the published design
SEARCH_SPACE = {"dropout": FloatRange(0.0, 0.4, step=0.05), "attention_dropout": FloatRange(0.0, 0.3, step=0.05),
                "layers": IntRange(1, 3), "ff_dim": Choice((256, 512, 1024, 2048))}


@keras.saving.register_keras_serializable(package="ecgtransform")
class WithReversed(keras.layers.Layer):
    """The batch followed by its copy with the last axis (each channel's time steps) reversed: one encoder
    pass then serves both directions (half the graph of two passes, so half the tracing time)."""

    def call(self, x):
        return keras.ops.concatenate([x, keras.ops.flip(x, axis=-1)], axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="ecgtransform")
class SumHalves(keras.layers.Layer):
    """The inverse of ``WithReversed``'s stacking: the forward half of the batch plus the reversed half."""

    def call(self, x):
        forward, backward = keras.ops.split(x, 2, axis=0)
        return forward + backward

    def compute_output_shape(self, input_shape):
        return input_shape


def _pool(x):
    return keras.layers.MaxPooling1D(2)(keras.layers.ZeroPadding1D(1)(x))


def _conv_bn_relu(x, filters, kernel, padding):
    if padding:
        x = keras.layers.ZeroPadding1D(padding)(x)
    x = keras.layers.Conv1D(filters, kernel, use_bias=False)(x)
    x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)  # PyTorch's BatchNorm1d defaults
    return keras.layers.Activation("relu")(x)


def _se_block(x, reduction):
    """SE-ResNet basic block: conv-BN-ReLU-conv-BN, channels rescaled by squeeze-and-excitation, + identity."""
    channels = x.shape[-1]
    y = _conv_bn_relu(x, channels, 3, 1)
    y = keras.layers.Conv1D(channels, 3, padding="same", use_bias=False)(y)
    y = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(y)
    s = keras.layers.GlobalAveragePooling1D()(y)
    s = keras.layers.Dense(channels // reduction, activation="relu", use_bias=False)(s)
    s = keras.layers.Dense(channels, activation="sigmoid", use_bias=False)(s)
    y = keras.layers.Multiply()([y, keras.layers.Reshape((1, channels))(s)])
    return keras.layers.Activation("relu")(keras.layers.Add()([y, x]))


class _EncoderLayer:
    """One post-norm transformer encoder layer (PyTorch's ``TransformerEncoderLayer``)."""

    def __init__(self, d_model, heads, ff_dim, dropout):
        self.attention = keras.layers.MultiHeadAttention(heads, max(1, d_model // heads), dropout=dropout)
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-5)
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-5)
        self.ff = [keras.layers.Dense(ff_dim, activation="relu"), keras.layers.Dropout(dropout),
                   keras.layers.Dense(d_model)]
        self.drop1, self.drop2 = keras.layers.Dropout(dropout), keras.layers.Dropout(dropout)

    def __call__(self, x):
        x = self.norm1(keras.layers.Add()([x, self.drop1(self.attention(x, x))]))
        y = x
        for layer in self.ff:
            y = layer(y)
        return self.norm2(keras.layers.Add()([x, self.drop2(y)]))


# one encoder layer with a narrow feed-forward traces in a third of the time: the generic tests' fits
@register_model(test_params={"layers": 1, "ff_dim": 32}, search_space=SEARCH_SPACE)
def ecgtransform(input_shape, n_classes, filters=32, dropout=0.2, se_blocks=3, se_reduction=4, layers=3, heads=5,
                 ff_dim=2048, attention_dropout=0.1):
    inputs = keras.Input(shape=input_shape)
    branches = [keras.layers.Conv1D(filters, k, padding="same", use_bias=False)(inputs) for k in (5, 9, 11)]
    x = keras.layers.Average()(branches)
    x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Dropout(dropout)(_pool(x))
    for block_filters in (2 * filters, 4 * filters):
        x = _pool(_conv_bn_relu(x, block_filters, 8, 4))
    for _ in range(se_blocks):
        x = _se_block(x, se_reduction)
    tokens = keras.layers.Permute((2, 1))(x)  # (channels, time): tokens are channels, d_model the time steps
    encoder = [_EncoderLayer(tokens.shape[-1], heads, ff_dim, attention_dropout) for _ in range(layers)]
    x = WithReversed()(tokens)
    for layer in encoder:
        x = layer(x)
    x = SumHalves()(x)
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Permute((2, 1))(x))  # mean over time, per channel
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="ecgtransform")
