"""Frozen layers and non-trainable weights: the optimizer, weight decay and clipping never touch them,
freezing takes effect at the next compile (as in Keras), summary counts both kinds, and non-trainable
state is saved with the model."""
import numpy as np
import pytest

import fastnn
from fastnn.layers import Dense, Input, Layer
from fastnn.models import Model, Sequential

OPTIMIZERS = {
    "sgd": lambda: fastnn.optimizers.SGD(0.1),
    "sgd_momentum": lambda: fastnn.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    "adam": lambda: fastnn.optimizers.Adam(0.01, weight_decay=0.1),
    "adamw": lambda: fastnn.optimizers.AdamW(0.01, weight_decay=0.5),
    "amsgrad": lambda: fastnn.optimizers.Adam(0.01, amsgrad=True, clipnorm=0.1),
    "rmsprop": lambda: fastnn.optimizers.RMSprop(0.01, momentum=0.5, centered=True, global_clipnorm=1.0),
    "adagrad": lambda: fastnn.optimizers.Adagrad(0.1, clipvalue=0.01),
}


def mlp():
    fastnn.set_seed(1)
    return Sequential([Input((6,)), Dense(8, activation="relu", kernel_regularizer="l2"),
                       Dense(8, activation="tanh", name="middle"), Dense(1)])


def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((64, 6)), rng.standard_normal((64, 1))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_frozen_layer_bytes_never_change(name):
    model = mlp()
    model.get_layer("middle").trainable = False
    model.compile(optimizer=OPTIMIZERS[name](), loss="mse")
    frozen = [w.tobytes() for w in model.get_layer("middle").weights]
    trained = [w.copy() for w in model.layers[0].weights]
    model.fit(*data(), epochs=3, batch_size=16, verbose=0)
    assert [w.tobytes() for w in model.get_layer("middle").weights] == frozen
    assert all(not np.array_equal(a, b) for a, b in zip(trained, model.layers[0].weights))
    assert sum(s.size for s in model.optimizer.state_arrays().values()) % (6 * 8 + 8 + 8 + 1) == 0


def test_freezing_takes_effect_at_the_next_compile_and_unfreezing_too():
    model = mlp()
    model.compile("adam", "mse")
    middle = model.get_layer("middle")
    middle.trainable = False  # not compiled yet: still trained, as in Keras
    before = middle.kernel.copy()
    model.fit(*data(), epochs=1, verbose=0)
    assert not np.array_equal(before, middle.kernel)
    model.compile("adam", "mse")
    before = middle.kernel.copy()
    model.fit(*data(), epochs=1, verbose=0)
    np.testing.assert_array_equal(before, middle.kernel)
    middle.trainable = True
    model.compile("adam", "mse")
    model.fit(*data(), epochs=1, verbose=0)
    assert not np.array_equal(before, middle.kernel)


def test_summary_and_weight_lists_count_both_kinds():
    model = mlp()
    model.get_layer("middle").trainable = False
    lines = []
    model.summary(print_fn=lines.append)
    assert " Trainable params: 65 (260.00 B)" in lines and " Non-trainable params: 72 (288.00 B)" in lines
    assert len(model.trainable_weights) == 4 and len(model.non_trainable_weights) == 2
    model.trainable = False
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 6


def test_whole_model_frozen_trains_nothing():
    model = mlp()
    model.trainable = False
    model.compile("adam", "mse")
    before = model.get_weights()
    history = model.fit(*data(), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


class Scale(Layer):
    """y = x * scale, with a non-trainable running mean of |x| updated in training (like BN statistics)."""

    def build(self, input_shape):
        self.scale = self.add_weight("scale", (input_shape[-1],), lambda s: np.ones(s))
        self.running = self.add_weight("running", (input_shape[-1],), lambda s: np.zeros(s), trainable=False)
        super().build(input_shape)

    def weight_shapes(self, input_shape):
        return [(input_shape[-1],), (input_shape[-1],)]

    def forward(self, ctx, x):
        if ctx.training:
            self._weights[1][...] = 0.9 * self._weights[1] + 0.1 * np.abs(x).mean(axis=0)
            ctx.x = x
        return x * self._weights[0]

    def backward(self, ctx, dy):
        self._store_grad(ctx, 0, (dy * ctx.x).sum(axis=0))
        return dy * self._weights[0]


def test_non_trainable_state_is_updated_by_forward_and_saved(tmp_path):
    fastnn.layers.register(Scale)
    x = Input((6,))
    model = Model(x, Dense(1)(Scale(name="scale")(x)))
    model.compile(fastnn.optimizers.AdamW(0.01, weight_decay=1.0), "mse")
    model.fit(*data(), epochs=2, verbose=0)
    layer = model.get_layer("scale")
    running = layer.weights[1]
    assert running.any() and len(model.trainable_weights) == 3 and len(model.non_trainable_weights) == 1
    assert not np.shares_memory(running, model._pack.params)
    model.save(tmp_path / "m.fnn")
    loaded = fastnn.load_model(tmp_path / "m.fnn")
    np.testing.assert_array_equal(loaded.get_layer("scale").weights[1], running)


def test_transfer_learning_with_a_frozen_base_model():
    fastnn.set_seed(2)
    base = Sequential([Input((6,)), Dense(8, activation="relu"), Dense(8, activation="relu")], name="base")
    base.trainable = False
    x = Input((6,))
    model = Model(x, Dense(1)(base(x, training=False)))
    model.compile("adam", "mse")
    before = base.get_weights()
    model.fit(*data(), epochs=2, verbose=0)
    for a, b in zip(before, base.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_two_models_sharing_layers_train_alternately():
    """A GAN-style pair: `critic` trains its layers; `combined` reuses them frozen."""
    fastnn.set_seed(4)
    shared = Dense(4, activation="relu", name="shared_critic")
    head = Dense(1, name="critic_head")
    xc = Input((3,))
    critic = Model(xc, head(shared(xc)))
    critic.compile("adam", "mse")
    xg = Input((2,))
    generator = Dense(3, name="generator")
    shared.trainable = head.trainable = False
    combined = Model(xg, head(shared(generator(xg))))
    combined.compile("adam", "mse")
    shared.trainable = head.trainable = True
    rng = np.random.default_rng(0)
    for _ in range(3):
        critic_before = [w.copy() for w in critic.weights]
        combined.train_on_batch(rng.standard_normal((8, 2)), rng.standard_normal((8, 1)))
        for a, b in zip(critic_before, critic.weights):
            np.testing.assert_array_equal(a, b)
        gen_before = generator.kernel.copy()
        critic.train_on_batch(rng.standard_normal((8, 3)), rng.standard_normal((8, 1)))
        assert any(not np.array_equal(a, b) for a, b in zip(critic_before, critic.weights))
        np.testing.assert_array_equal(gen_before, generator.kernel)
    assert critic.optimizer.iterations == 3 and combined.optimizer.iterations == 3
