"""Stacked LSTM: two LSTM(64) layers (optionally bidirectional) → softmax."""
import keras

from models.registry import register_model


@register_model
def lstm(input_shape, n_classes, units=64, bidirectional=False):
    def recurrent(return_sequences):
        layer = keras.layers.LSTM(units, return_sequences=return_sequences)
        return keras.layers.Bidirectional(layer) if bidirectional else layer

    inputs = keras.Input(shape=input_shape)
    x = recurrent(return_sequences=True)(inputs)
    x = recurrent(return_sequences=False)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="lstm")
