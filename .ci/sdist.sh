#!/usr/bin/env bash
# The release path a user takes: build the sdist, install it into a fresh virtual environment, and run
# the quick start from outside the source tree (so nothing can come from the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python -m build --sdist --outdir "$work/dist" . > "$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 1; }
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$work"/dist/fastnn-*.tar.gz
cd "$work"
"$work/venv/bin/python" - <<'PY'
import numpy as np
import fastnn
from fastnn.layers import Dense
from fastnn.models import Sequential

assert fastnn.__file__.startswith(__import__("sys").prefix), fastnn.__file__
model = Sequential()
model.add(Dense(10, activation="relu", input_dim=8))
model.add(Dense(8, activation="relu"))
model.add(Dense(1, activation="sigmoid"))
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
x = np.random.random((1000, 8)); y = np.random.randint(2, size=(1000, 1))
model.fit(x, y, epochs=2, batch_size=32, verbose=0)
loss, accuracy = model.evaluate(x[:100], y[:100], verbose=0)
model.save("model.fnn")
assert np.array_equal(fastnn.load_model("model.fnn").predict(x, verbose=0), model.predict(x, verbose=0))
print(f"sdist: installed {fastnn.__version__} from the sdist, quick start ran (loss {loss:.3f})")
PY
