"""Stacked LSTM: ``layers`` LSTM(``units``) layers (optionally bidirectional) → a readout → softmax.

The defaults (one LSTM(64) layer, its states max-pooled over every step, no dropout) are the benchmark's LSTM,
chosen on validation macro F1 against two layers read at the last step (the earlier default, which the LSTM
preset keeps) and two layers max-pooled, for what it learns per second of training (README, "The LSTM").

``readout``: what the softmax sees. "last" is the last step's state, so what the beat's start holds (the
window begins at its R peak) must survive 187 steps of recurrence; "mean" and "max" pool the last layer's
states over every step, which gives each step a short path to the loss. ``dropout``: a Dropout layer after
every LSTM layer (none at 0; not the recurrent dropout, which would keep the fused kernels from running).
"""
import keras

from benchmark.search_space import Choice, FloatRange, IntRange
from models.registry import register_model

READOUTS = ("last", "mean", "max")

# what a tune tries: the LSTM project searched layers, width, dropout and direction (cost grows with the width
# and the layers; bidirectional doubles a step's cost), and how the sequence is read out
SEARCH_SPACE = {"units": IntRange(32, 128, step=32), "layers": IntRange(1, 3), "readout": Choice(READOUTS),
                "dropout": FloatRange(0.0, 0.3, step=0.1), "bidirectional": Choice((False, True))}


@register_model(search_space=SEARCH_SPACE)
def lstm(input_shape, n_classes, units=64, bidirectional=False, layers=1, readout="max", dropout=0.0):
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise ValueError(f"lstm: layers must be a whole number of at least 1, got {layers!r}")
    if readout not in READOUTS:
        raise ValueError(f"lstm: readout must be one of {', '.join(READOUTS)}, got {readout!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"lstm: dropout must be at least 0 and below 1, got {dropout!r}")

    def recurrent(return_sequences):
        layer = keras.layers.LSTM(units, return_sequences=return_sequences)
        return keras.layers.Bidirectional(layer) if bidirectional else layer

    inputs = keras.Input(shape=input_shape)
    x = inputs
    for i in range(layers):
        x = recurrent(return_sequences=i < layers - 1 or readout != "last")(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
    if readout == "mean":
        x = keras.layers.GlobalAveragePooling1D()(x)
    elif readout == "max":
        x = keras.layers.GlobalMaxPooling1D()(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="lstm")
