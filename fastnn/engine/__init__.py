"""The model engine: symbolic tensors and the functional graph, the Model and Sequential classes, the
compile pass and execution plans, workspaces, and the fit / evaluate / predict loops.

Modules here import the layers, never the other way round (layers see only `context` and `tensor`).
"""
