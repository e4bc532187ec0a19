"""CNN-LSTM (the CNN-LSTM project): convolutional blocks shorten the beat and learn local shapes, an LSTM
reads the shortened sequence, dense layers classify.

``blocks`` × [Conv1D(k5, 'same') → BatchNorm → ReLU → MaxPool 2], the filters doubling from ``filters``
(32, 64, 128), so the LSTM runs over 187 / 8 ≈ 23 steps instead of 187 → LSTM(``lstm_units``) → Dense
``dense_units`` ReLU → Dropout → softmax.
"""
import keras

from benchmark.search_space import Choice, FloatRange, IntRange
from models.registry import register_model

SEARCH_SPACE = {"filters": Choice((16, 32, 64)), "lstm_units": IntRange(32, 128, step=32),
                "dense_units": Choice((32, 64, 128)), "dropout": FloatRange(0.0, 0.5, step=0.05)}


@register_model(search_space=SEARCH_SPACE)
def cnn_lstm(input_shape, n_classes, filters=32, blocks=3, lstm_units=64, dense_units=64, dropout=0.2):
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for i in range(blocks):
        x = keras.layers.Conv1D(filters * 2 ** i, 5, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.LSTM(lstm_units)(x)
    x = keras.layers.Dense(dense_units, activation="relu")(x)
    x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="cnn_lstm")
