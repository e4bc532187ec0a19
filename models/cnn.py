"""Plain deep 1-D CNN, no skip connections (the common Keras baseline for this beat set).

Conv 16-16 / 32-32 / 32-32 / 256-256 with max pooling, global max pooling, Dense 64-64, softmax.
"""
import keras

from benchmark.search_space import FloatRange
from models.registry import register_model

SEARCH_SPACE = {"dropout": FloatRange(0.0, 0.4, step=0.05)}  # the layer sizes are the published network's


@register_model(search_space=SEARCH_SPACE)
def cnn(input_shape, n_classes, dropout=0.1):
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for filters, kernel in ((16, 5), (32, 3), (32, 3)):
        x = keras.layers.Conv1D(filters, kernel, activation="relu")(x)
        x = keras.layers.Conv1D(filters, kernel, activation="relu")(x)
        x = keras.layers.MaxPooling1D(2)(x)
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Conv1D(256, 3, activation="relu")(x)
    x = keras.layers.Conv1D(256, 3, activation="relu")(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    x = keras.layers.Dropout(2 * dropout)(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="cnn")
