"""The table model.summary() prints: one row per layer (name (type), output shape, parameters, and for a
functional model what each call reads), then the parameter totals, drawn in Keras's box style."""
from . import _terminal

__all__ = ["summary_lines", "print_summary"]


def _format_bytes(count):
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024


def _shape_text(shapes):
    return ", ".join(str(tuple(s)) for s in shapes) if len(shapes) > 1 else str(tuple(shapes[0]))


def _rows(model):
    """(name (type), output shape, params, connected to) for each layer of the model."""
    functional = type(model).__name__ != "Sequential"
    calls = {}
    for node in model._graph_nodes():
        calls.setdefault(id(node.layer), []).append(node)
    for t in model._input_tensors:
        calls.setdefault(id(t.node.layer), []).append(t.node)
    rows = []
    for layer in model.layers:
        nodes = calls.get(id(layer), [])
        shapes = [t.shape for t in nodes[0].outputs] if nodes else None
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        connected = []
        for node in nodes:
            connected += [f"{t.node.layer.name}[{t.node.index}][{t.index}]" for t in node.inputs]
        rows.append((f"{layer.name} ({type(layer).__name__})", "?" if shapes is None else _shape_text(shapes),
                     params, ", ".join(connected) or "-") if functional else
                    (f"{layer.name} ({type(layer).__name__})", "?" if shapes is None else _shape_text(shapes), params))
    return rows


def _wrap(text, width):
    """text cut into lines of at most width characters, at ', ' where possible."""
    lines, line = [], ""
    for part in text.split(", "):
        piece = part if not line else ", " + part
        if line and len(line) + len(piece) > width:
            lines.append(line + ",")
            line = part
        else:
            line += piece
    lines.append(line)
    return [chunk[i:i + width] for chunk in lines for i in range(0, max(len(chunk), 1), width)]


def summary_lines(model, line_length=None):
    """The lines of model.summary(): a box table of layers, then parameter totals."""
    rows = _rows(model)
    # 79 columns by default, so the table does not wrap in an 80-column terminal
    widths = [30, 24, 15] if len(rows[0] if rows else ()) != 4 else [20, 17, 10, 19]
    headers = ("Layer (type)", "Output Shape", "Param #", "Connected to")[:len(widths)]
    if line_length:
        extra = max(int(line_length) - sum(widths) - 3 * len(widths) - 1, 0)  # beyond the default width
        widths[0] += extra // 2
        widths[1] += extra - extra // 2

    def border(left, middle, right, fill):
        return left + middle.join(fill * (w + 2) for w in widths) + right

    def row(cells, edge="│"):
        wrapped = [_wrap(str(c), w) for c, w in zip(cells, widths)]
        height = max(len(w) for w in wrapped)
        out = []
        for i in range(height):
            parts = []
            for k, (lines, w) in enumerate(zip(wrapped, widths)):
                text = lines[i] if i < len(lines) else ""
                parts.append(f"{text:>{w}}" if k == 2 else f"{text:<{w}}")
            out.append(edge + " " + f" {edge} ".join(parts) + " " + edge)
        return out

    lines = [f'Model: "{model.name}"', border("┏", "┳", "┓", "━")]
    lines += row(headers, "┃")
    lines.append(border("┡", "╇", "┩", "━"))
    for i, cells in enumerate(rows):
        if i:
            lines.append(border("├", "┼", "┤", "─"))
        lines += row(cells)
    lines.append(border("└", "┴", "┘", "─"))
    leaves = model._leaf_layers()
    total = sum(layer.count_params() for layer in leaves if layer.built)
    trainable = sum(w.size for layer in leaves if layer.built for w in layer.trainable_weights)
    lines += [f" Total params: {total:,} ({_format_bytes(4 * total)})",
              f" Trainable params: {trainable:,} ({_format_bytes(4 * trainable)})",
              f" Non-trainable params: {total - trainable:,} ({_format_bytes(4 * (total - trainable))})"]
    return lines


def print_summary(model, line_length=None, print_fn=None):
    """Print summary_lines with print_fn, or to stdout, drawn in ASCII where stdout cannot encode the boxes."""
    for line in summary_lines(model, line_length):
        (print_fn or _terminal.write_line)(line)
