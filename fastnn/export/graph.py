"""A model's graph as an ONNX ModelProto: every layer call through its converter, nested models inlined,
shared layers reading one copy of their weights, masks carried alongside the values they belong to."""
from onnx import defs, helper

from .builder import MIN_OPSET, ONNX_TYPES, Call, GraphBuilder
from .registry import ExportError, converter_for

__all__ = ["model_to_onnx", "value_info", "output_names"]


def output_names(model):
    """The ONNX names of the model's outputs: model.output_names, where one repeats (the outputs of a
    layer with several) the tensor's own name ('lstm/output_1'), numbered if still not unique."""
    names = list(model.output_names)
    for k, (name, tensor) in enumerate(zip(names, model._output_tensors)):
        if names.count(name) > 1:
            names[k] = tensor.name if tensor.name not in names else f"{name}_{k}"
    return [name if names.count(name) == 1 else f"{name}_{k}" for k, name in enumerate(names)]


def value_info(name, dtype, shape, dim_prefix):
    """A graph input or output: batch dimension 'batch', other unknown sizes named after the value."""
    dims = ["batch"] + [d if d is not None else f"{dim_prefix}_dim{k}" for k, d in enumerate(shape[1:], 1)]
    return helper.make_tensor_value_info(name, ONNX_TYPES[dtype], dims)


def _emit(g, model, values, training):
    """Write the calls of `model` reading `values` ((name, mask) per model input); returns the
    (name, mask) of each model output."""
    known = {id(t): v for t, v in zip(model._input_tensors, values)}
    for node in model._graph_nodes():
        ins = [known[id(t)] for t in node.inputs]
        call_training = training if node.training is None else node.training
        if getattr(node.layer, "_is_model", False):
            outs = _emit(g, node.layer, ins, call_training)
        else:
            outs = _convert(g, node, ins, call_training)
        for tensor, out in zip(node.outputs, outs):
            known[id(tensor)] = out
    return [known[id(t)] for t in model._output_tensors]


def _convert(g, node, ins, training):
    layer = node.layer
    call = Call(g, layer, [name for name, _ in ins], [t.shape for t in node.inputs], [t.dtype for t in node.inputs],
                [mask for _, mask in ins], bool(training), [t.shape for t in node.outputs])
    outs = converter_for(layer)(call)
    outs = outs if isinstance(outs, list) else [outs]
    mask = call.resolved_mask()
    masks = mask if isinstance(mask, list) else [mask] * len(outs)
    return list(zip(outs, masks))


def model_to_onnx(model, opset):
    """The ONNX ModelProto computing model.predict.

    Args:
        model: a built fastnn Model or Sequential.
        opset: the default-domain opset to declare (MIN_OPSET .. the installed onnx's newest).

    Raises:
        ExportError: a layer has no ONNX mapping or uses an option ONNX cannot express (the error
            names it), or the model is not built.
    """
    from .. import __version__

    newest = defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"export: opset must be an int from {MIN_OPSET} to {newest} (the installed onnx's newest), "
                         f"got {opset!r}")
    if not model.built or not model._output_tensors:
        raise ExportError(f"{type(model).__name__} '{model.name}' is not built: give it an input shape (or call it on "
                          f"data) before exporting")
    g = GraphBuilder(opset)
    inputs, values = [], []
    for name, tensor in zip(model.input_names, model._input_tensors):
        inputs.append(value_info(g.reserve(name), tensor.dtype, tensor.shape, name))
        values.append((name, None))
    names = output_names(model)
    for name in names:
        g.reserve(name)
    results = _emit(g, model, values, False)
    outputs = []
    for name, tensor, (value, _) in zip(names, model._output_tensors, results):
        g.nodes.append(helper.make_node("Identity", [value], [name], name=g.fresh(f"node/{name}")))
        outputs.append(value_info(name, tensor.dtype, tensor.shape, name))
    return g.model(model.name, inputs, outputs, __version__)
