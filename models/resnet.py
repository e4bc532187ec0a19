"""Kachuee et al. 2018 residual CNN (arXiv:1805.00794, Fig. 2).

Conv(32, k5) → 5 × [Conv(32,k5) → ReLU → Conv(32,k5) → add skip → ReLU → MaxPool(5, stride 2)]
→ Dense 32 → Dense 32 → softmax. 'same' padding keeps the skip additions shape-compatible.
"""
import keras

from benchmark.search_space import Choice, IntRange
from models.registry import register_model

# at most 5 blocks: each pools by 5 with stride 2 ('valid'), and a sixth leaves nothing of a 187-sample beat
SEARCH_SPACE = {"filters": Choice((16, 32, 64)), "blocks": IntRange(2, 5)}


@register_model(search_space=SEARCH_SPACE)
def resnet(input_shape, n_classes, filters=32, blocks=5):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv1D(filters, 5, padding="same")(inputs)
    for _ in range(blocks):
        shortcut = x
        x = keras.layers.Conv1D(filters, 5, padding="same", activation="relu")(x)
        x = keras.layers.Conv1D(filters, 5, padding="same")(x)
        x = keras.layers.Add()([x, shortcut])
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.MaxPooling1D(pool_size=5, strides=2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="resnet")
