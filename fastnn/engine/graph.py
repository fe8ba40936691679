"""From a model's outputs back to its inputs: the layer calls between them, in an order that runs each
call after the calls whose outputs it reads (Keras's functional graph)."""
__all__ = ["topological_nodes", "keras_layer_order"]


def _is_input_node(node):
    return not node.inputs


def topological_nodes(inputs, outputs, what, reached=None):
    """The nodes between `inputs` and `outputs` (lists of KerasTensors), each after those it reads.

    `reached`, when given, is a list that receives each layer once, in the order the walk from the
    outputs first reaches it (InputLayers included): Keras's tie-break within one depth.

    Raises ValueError when an output depends on an Input that is not among `inputs` (a disconnected
    graph), naming the layer that reads it.
    """
    given = {id(t) for t in inputs}
    order, done, active = [], set(), set()
    seen_layers = set()

    def reach(node):
        if reached is not None and id(node.layer) not in seen_layers:
            seen_layers.add(id(node.layer))
            reached.append(node.layer)

    for output in outputs:
        reach(output.node)
        if id(output) in given:
            continue
        stack = [(output.node, iter(output.node.inputs))]
        active.add(id(output.node))
        while stack:
            node, pending = stack[-1]
            for tensor in pending:
                if id(tensor) in given or id(tensor.node) in done:
                    reach(tensor.node)
                    continue
                if _is_input_node(tensor.node):
                    raise ValueError(f"{what}: graph disconnected: {type(node.layer).__name__} "
                                     f"'{node.layer.name}' reads the input '{tensor.name}', which is not one "
                                     f"of the model's inputs ({', '.join(t.name for t in inputs)})")
                if id(tensor.node) in active:
                    raise ValueError(f"{what}: the graph has a cycle through '{tensor.node.layer.name}'")
                active.add(id(tensor.node))
                reach(tensor.node)
                stack.append((tensor.node, iter(tensor.node.inputs)))
                break
            else:
                stack.pop()
                active.discard(id(node))
                done.add(id(node))
                order.append(node)
    return order


def keras_layer_order(nodes, reached, input_layers):
    """Each layer once, in Keras 3's order for a functional model (its model.layers and weights order).

    Keras lists layers by depth, deepest first: a call's depth is one more than the deepest call reading
    its outputs (0 for the outputs' calls), and a layer called several times takes its deepest call's.
    Within one depth, layers come in the order the walk from the outputs first reached them (`reached`,
    from topological_nodes). `nodes` is topological_nodes' order; InputLayers are the deepest of all
    that read them, and an input no output reads has depth 0 and comes first in it.
    """
    node_depth, layer_depth = {}, {}
    for node in reversed(nodes):  # every call before the calls it reads
        depth = max(node_depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        for tensor in node.inputs:
            parent = tensor.node
            node_depth[id(parent)] = max(node_depth.get(id(parent), 0), depth + 1)
            if not parent.inputs:  # an InputLayer's call: walked by nothing else
                layer_depth[id(parent.layer)] = max(layer_depth.get(id(parent.layer), 0), depth + 1)
    index = {id(layer): i for i, layer in enumerate(reached)}
    unread = [layer for layer in input_layers if id(layer) not in index]
    return sorted(unread + reached, key=lambda layer: (-layer_depth.get(id(layer), 0), index.get(id(layer), -1)))
