"""From a model's outputs back to its inputs: the layer calls between them, in an order that runs each
call after the calls whose outputs it reads (Keras's functional graph)."""
__all__ = ["topological_nodes", "unique_layers"]


def _is_input_node(node):
    return not node.inputs


def topological_nodes(inputs, outputs, what):
    """The nodes between `inputs` and `outputs` (lists of KerasTensors), each after those it reads.

    Raises ValueError when an output depends on an Input that is not among `inputs` (a disconnected
    graph), naming the layer that reads it.
    """
    given = {id(t) for t in inputs}
    order, done, active = [], set(), set()
    for output in outputs:
        if id(output) in given:
            continue
        stack = [(output.node, iter(output.node.inputs))]
        active.add(id(output.node))
        while stack:
            node, pending = stack[-1]
            for tensor in pending:
                if id(tensor) in given or id(tensor.node) in done:
                    continue
                if _is_input_node(tensor.node):
                    raise ValueError(f"{what}: graph disconnected: {type(node.layer).__name__} "
                                     f"'{node.layer.name}' reads the input '{tensor.name}', which is not one "
                                     f"of the model's inputs ({', '.join(t.name for t in inputs)})")
                if id(tensor.node) in active:
                    raise ValueError(f"{what}: the graph has a cycle through '{tensor.node.layer.name}'")
                active.add(id(tensor.node))
                stack.append((tensor.node, iter(tensor.node.inputs)))
                break
            else:
                stack.pop()
                active.discard(id(node))
                done.add(id(node))
                order.append(node)
    return order


def unique_layers(nodes):
    """Each layer once, in the order of its first call."""
    seen, layers = set(), []
    for node in nodes:
        if id(node.layer) not in seen:
            seen.add(id(node.layer))
            layers.append(node.layer)
    return layers
