"""`python -m fastnn`: configuration and benchmark table; `python -m fastnn demo`: the end-to-end demo."""
import argparse
import importlib.util
import os
import sys
import tempfile
import time

import numpy as np

import fastnn

DESCRIPTION = """\
fastnn: a fast CPU deep-learning library with a Keras-style API.

commands:
  (none)   print the build configuration (SIMD path, OpenMP, threads) and the
           fastnn-vs-NumPy benchmark table
  demo     train the classic Keras example on random data, then an MLP and a CNN on the
           bundled handwritten digits (UCI, CC BY 4.0); save the MLP to a .fnn file, load it
           back and check the predictions are identical; then a spam filter on raw SMS text
           (the bundled SMS Spam Collection, CC BY 4.0): TextVectorization, Embedding,
           Bidirectional(LSTM), saved, reloaded and asked about two typed messages (exit
           status 1 if a reloaded model predicts differently)
  serve    serve a saved model over HTTP: Open Inference Protocol (KServe V2) REST,
           TF Serving's :predict, Prometheus /metrics, input drift monitoring
           (python -m fastnn serve MODEL.fnn --help for its options)
"""


def _seed(text):
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return int(text)


def _parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m fastnn", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", choices=["demo"], help="what to run (default: config and benchmark)")
    parser.add_argument("--seed", type=_seed, default=0, help="seed for fastnn.set_seed in the demo (default 0)")
    parser.add_argument("--plots", metavar="DIR", help="demo: write the digits MLP's history and confusion-matrix "
                                                       "PNGs into DIR (needs matplotlib: pip install fastnn[plot])")
    return parser.parse_args(argv)


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value
    return parse


def _parse_serve_args(argv):
    parser = argparse.ArgumentParser(prog="python -m fastnn serve",
                                     description="Serve a saved .fnn model over HTTP (Open Inference Protocol).")
    parser.add_argument("model", help="the .fnn model file")
    parser.add_argument("--name", help="the model's name in URLs and metrics (default: the file name without "
                                       "its extension)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on, 0 for any free one "
                                                               "(default 8000)")
    parser.add_argument("--workers", type=_positive(int), default=2, help="predict threads (default 2)")
    parser.add_argument("--max-batch-rows", type=_positive(int), default=64,
                        help="rows of one batched predict call at most (default 64)")
    parser.add_argument("--max-batch-delay-ms", type=float, default=0.5,
                        help="how long a free worker waits to gather requests into a batch (default 0.5)")
    parser.add_argument("--max-body-mb", type=_positive(float), default=64.0,
                        help="larger request bodies are refused with 400 (default 64)")
    parser.add_argument("--drift-window", type=_positive(int), default=1000,
                        help="recent input rows compared with the model's reference statistics (default 1000)")
    parser.add_argument("--backend", choices=["asyncio", "uvicorn"], default="asyncio",
                        help="asyncio: the standard library server (default); uvicorn: the same app on starlette "
                             "and uvicorn (pip install fastnn[serve])")
    return parser.parse_args(argv)


def serve(argv):
    """`python -m fastnn serve MODEL.fnn ...`: serve until interrupted; the exit status."""
    import logging

    from .serve import ModelServer

    args = _parse_serve_args(argv)
    if args.max_batch_delay_ms < 0:
        print("serve: --max-batch-delay-ms must not be negative", file=sys.stderr)
        return 2
    name = args.name or os.path.splitext(os.path.basename(args.model))[0]
    if args.backend == "uvicorn" and not all(importlib.util.find_spec(m) for m in ("starlette", "uvicorn")):
        print("serve --backend uvicorn needs starlette and uvicorn: pip install fastnn[serve]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    path = args.model
    options = dict(workers=args.workers, max_batch_rows=args.max_batch_rows,
                   max_batch_delay=args.max_batch_delay_ms / 1000, drift_window=args.drift_window)
    max_body_bytes = int(args.max_body_mb * (1 << 20))

    def load():
        from .optimize import for_inference

        return for_inference(fastnn.load_model(path))

    try:
        if args.backend == "uvicorn":
            from .serve.asgi import run_uvicorn

            return run_uvicorn(load, name, args.host, args.port, max_body_bytes, **options)
        server = ModelServer(load, name, args.host, args.port,
                             max_body_bytes=max_body_bytes, **options)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    return server.serve_forever()


def show_config_and_benchmark():
    """Print fastnn.show_config() and the benchmark table (when fastnn.benchmark is available)."""
    fastnn.show_config()
    print()
    if importlib.util.find_spec("fastnn.benchmark") is None:
        print("benchmark table unavailable: fastnn.benchmark is not part of this build")
        return 0
    from fastnn import benchmark

    benchmark.main()
    return 0


def _heading(text):
    print(f"\n=== {text} " + "=" * max(0, 72 - len(text)), flush=True)


def demo_keras_classic(seed):
    """The classic Keras getting-started example: 3 Dense layers on 1000 random samples of 8 features."""
    from fastnn.layers import Dense

    _heading("1. the classic Keras example: binary classification of random data")
    fastnn.set_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.random((1000, 8), dtype=np.float32)
    y = rng.integers(0, 2, size=(1000, 1)).astype(np.float32)
    model = fastnn.Sequential([
        Dense(10, activation="relu", input_dim=8),
        Dense(8, activation="relu"),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=10, batch_size=32)
    loss, accuracy = model.evaluate(x, y, batch_size=32, verbose=0)
    print(f"evaluate: loss {loss:.4f}, accuracy {accuracy:.4f} (random labels: about 0.5 is expected)")


def demo_digits(seed):
    """Train an MLP on the bundled 8x8 digits; return (model, x_test, y_test, history, test accuracy)."""
    from fastnn.layers import Dense

    _heading("2. an MLP on handwritten digits (UCI optical digits, 8x8, CC BY 4.0)")
    fastnn.set_seed(seed)
    (x_train, y_train), (x_test, y_test) = fastnn.datasets.load_digits(test_fraction=0.2, seed=seed)
    print(f"data: {len(x_train)} training and {len(x_test)} test images of 64 pixels, 10 classes")
    model = fastnn.Sequential([
        Dense(128, activation="relu", input_dim=64),
        Dense(64, activation="relu"),
        Dense(10, activation="softmax"),
    ], name="digits_mlp")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=20, batch_size=32, validation_split=0.1)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"trained in {seconds:.2f} s; test accuracy: {accuracy:.4f}")
    return model, x_test, y_test, history, accuracy


def demo_digits_cnn(seed):
    """Train a small CNN on the same digits as 8x8x1 images; returns the test accuracy."""
    from fastnn.layers import BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, MaxPooling2D

    _heading("3. a CNN on the same digits, as 8x8 images")
    fastnn.set_seed(seed)
    (x_train, y_train), (x_test, y_test) = fastnn.datasets.load_digits(test_fraction=0.2, seed=seed)
    x_train, x_test = x_train.reshape(-1, 8, 8, 1), x_test.reshape(-1, 8, 8, 1)
    model = fastnn.Sequential([
        Conv2D(64, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
        BatchNormalization(),
        MaxPooling2D(),
        Conv2D(64, 3, padding="same", activation="relu"),
        GlobalAveragePooling2D(),
        Dense(10, activation="softmax"),
    ], name="digits_cnn")
    epochs, batch_size = 20, 32
    steps = epochs * -(-len(x_train) // batch_size)
    model.compile(optimizer=fastnn.optimizers.Adam(fastnn.schedules.CosineDecay(5e-3, steps)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"trained {epochs} epochs in {seconds:.2f} s; CNN test accuracy: {accuracy:.4f}")
    return accuracy


def write_plots(directory, model, x_test, y_test, history):
    """The digits MLP's training history and test confusion matrix as PNG files in `directory`."""
    from fastnn import plot

    os.makedirs(directory, exist_ok=True)
    predictions = np.argmax(model.predict(x_test, verbose=0), axis=-1)
    figures = {"digits_history.png": plot.history(history),
               "digits_confusion_matrix.png": plot.confusion_matrix(y_test, predictions)}
    for name, figure in figures.items():
        figure.savefig(os.path.join(directory, name), dpi=100)
    print(f"wrote {', '.join(figures)} to {directory}")


def demo_save_load(model, x_test):
    """Save to a temporary .fnn file, load it back and compare predictions; True when identical."""
    _heading("4. save to a .fnn file, load it back, compare predictions")
    with tempfile.TemporaryDirectory(prefix="fastnn-demo-") as directory:
        path = os.path.join(directory, "digits_mlp.fnn")
        model.save(path)
        size = os.path.getsize(path)
        restored = fastnn.load_model(path)
    before = model.predict(x_test, verbose=0)
    after = restored.predict(x_test, verbose=0)
    identical = before.shape == after.shape and np.array_equal(before, after)
    print(f"saved {size} bytes to {os.path.basename(path)}, loaded with fastnn.load_model: predictions "
          f"{'identical' if identical else 'DIFFER'} on {len(x_test)} test images")
    return identical


SPAM_SEQUENCE_LENGTH = 48  # words kept of a message: nearly every SMS fits
SPAM_EXAMPLES = ("Hey, are we still meeting for lunch tomorrow? I'll bring the notes.",
                 "WINNER!! You have won a free 1000 cash prize. Text CLAIM to 81010 now to collect!")


def spam_model(vocabulary_size, units=32, dim=32):
    """The demo's classifier on token ids: Embedding(mask_zero), Bidirectional(LSTM), Dense sigmoid."""
    from fastnn.layers import LSTM, Bidirectional, Dense, Embedding

    return [Embedding(vocabulary_size, dim, mask_zero=True), Bidirectional(LSTM(units)), Dense(1, activation="sigmoid")]


def demo_spam(seed):
    """Train a spam filter on raw SMS text, save, reload, classify typed messages; True when the reloaded
    model predicts identically."""
    from fastnn.layers import TextVectorization

    _heading("4. a spam filter on raw text (SMS Spam Collection, CC BY 4.0): Bidirectional LSTM")
    fastnn.set_seed(seed)
    (x_train, y_train), (x_test, y_test) = fastnn.datasets.load_sms_spam(test_fraction=0.2, seed=seed)
    print(f"data: {len(x_train)} training and {len(x_test)} test messages, {y_train.mean():.1%} spam")
    vectorize = TextVectorization(max_tokens=10000, output_sequence_length=SPAM_SEQUENCE_LENGTH)
    vectorize.adapt(x_train)
    inputs = fastnn.Input(shape=(1,), dtype="string", name="text")
    x = vectorize(inputs)
    for layer in spam_model(vectorize.vocabulary_size()):
        x = layer(x)
    model = fastnn.Model(inputs, x, name="spam_filter")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=3, batch_size=32)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"trained in {seconds:.2f} s; test accuracy: {accuracy:.4f} (always answering ham: "
          f"{1 - y_test.mean():.4f})")
    with tempfile.TemporaryDirectory(prefix="fastnn-demo-") as directory:
        path = os.path.join(directory, "spam_filter.fnn")
        model.save(path)
        restored = fastnn.load_model(path)
    identical = np.array_equal(model.predict(x_test, verbose=0), restored.predict(x_test, verbose=0))
    print(f"saved and loaded {os.path.basename(path)} (vocabulary inside): predictions "
          f"{'identical' if identical else 'DIFFER'} on {len(x_test)} test messages")
    for text, p in zip(SPAM_EXAMPLES, restored.predict(list(SPAM_EXAMPLES), verbose=0)[:, 0]):
        print(f"  {'SPAM' if p >= 0.5 else 'ham '} ({p:.3f})  {text}")
    return identical


def demo(seed=0, plots=None):
    """Run the whole demo; returns the process exit status (0 when the reloaded model predicts identically)."""
    if plots is not None and importlib.util.find_spec("matplotlib") is None:
        print("demo --plots needs matplotlib: pip install fastnn[plot]", file=sys.stderr)
        return 2
    fastnn.show_config()
    demo_keras_classic(seed)
    model, x_test, y_test, history, _ = demo_digits(seed)
    demo_digits_cnn(seed)
    if plots is not None:
        write_plots(plots, model, x_test, y_test, history)
    if not demo_save_load(model, x_test):
        print("demo FAILED: the loaded model does not reproduce the saved model's predictions", file=sys.stderr)
        return 1
    if not demo_spam(seed):
        print("demo FAILED: the loaded spam filter does not reproduce the saved model's predictions", file=sys.stderr)
        return 1
    print("\ndemo finished OK")
    return 0


def main(argv=None):
    """Entry point of `python -m fastnn`; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["serve"]:
        return serve(argv[1:])
    args = _parse_args(argv)
    if args.command == "demo":
        return demo(args.seed, args.plots)
    return show_config_and_benchmark()


if __name__ == "__main__":
    sys.exit(main())
