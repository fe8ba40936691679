"""docs/workflow.md runs as written: every Python block executes, in order, and the numbers the page quotes
are the ones the recipes produce (within a small tolerance for floating-point paths)."""
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "workflow.md"
# What the page says, and how far a run on another SIMD path or thread count may land from it.
QUOTED = {"nested accuracy": ("0.977", 0.02), "5-fold accuracy": ("0.970", 0.02),
          "encoder ARI": ("0.632", 0.05), "pixels ARI": ("0.656", 0.0005)}


def python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.fixture(scope="module")
def recipes(tmp_path_factory):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    import os

    text = DOC.read_text()
    namespaces = {}
    previous = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("workflow"))  # the evaluation recipe writes its PNGs here
    try:
        for block in python_blocks(text):
            name = block.splitlines()[0].removeprefix("# recipe: ")
            namespace = {"__name__": "workflow_recipe"}
            exec(compile(block, f"{DOC.name}: {name}", "exec"), namespace)
            namespaces[name] = namespace
    finally:
        os.chdir(previous)
    return text, namespaces


def test_every_block_is_a_named_recipe():
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) == 4 and all(block.startswith("# recipe: ") for block in blocks)


def quoted(text, what, value):
    number, tolerance = QUOTED[what]
    assert number in text, f"docs/workflow.md no longer quotes the {what} {number}"
    assert value == pytest.approx(float(number), abs=tolerance), f"the {what} is {value:.3f}, the page says {number}"


def test_evaluation_recipe(recipes):
    _, namespaces = recipes
    results = namespaces["evaluate the digits MLP"]["results"]
    assert results["task"] == "multiclass" and results["classification_report"]["accuracy"] > 0.93


def test_tuned_pipeline_recipe(recipes):
    text, namespaces = recipes
    recipe = namespaces["tune a pipeline with GridSearchCV, scored by cross-validation"]
    quoted(text, "nested accuracy", recipe["nested_scores"].mean())
    assert set(recipe["grid"].best_params_) == {"sklearnclassifier__model_kwargs", "sklearnclassifier__fit_kwargs"}


def test_breast_cancer_cross_validation_reaches_the_target(recipes):
    text, namespaces = recipes
    scores = namespaces["StratifiedKFold cross-validation on breast cancer"]["scores"]
    assert scores.mean() >= 0.95
    quoted(text, "5-fold accuracy", scores.mean())


def test_clustering_recipe(recipes):
    text, namespaces = recipes
    recipe = namespaces["cluster the digits with an autoencoder's encoder and KMeans"]
    quoted(text, "encoder ARI", recipe["ari_encoder"])
    quoted(text, "pixels ARI", recipe["ari_pixels"])
