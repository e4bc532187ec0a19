"""The binary-classification project's network: Flatten → Dense 128 → 64 → 16 (ReLU) → softmax.

The project ends in one sigmoid unit for "abnormal". A softmax over two classes is the same model: its
probability of class 1 is sigmoid(z1 − z0), a sigmoid of the difference of the two logits, and its
cross-entropy is the sigmoid's binary cross-entropy of that difference. So the binary task
(``--task binary``, 2 classes) uses this softmax head with ``n_classes`` 2, and every task keeps one head
and one loss; the one extra unit is the only difference (17 parameters).
"""
import keras

from models.registry import register_model


# the published network has no hyperparameters: a tune tries its training settings only
@register_model(flat=True, search_space={})
def mlp_128_64_16(input_shape, n_classes):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    for units in (128, 64, 16):
        x = keras.layers.Dense(units, activation="relu")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="mlp_128_64_16")
