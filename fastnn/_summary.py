"""The table Sequential.summary() prints: one row per layer (name (type), output shape, parameters), then
the parameter totals, drawn in Keras's box style."""
from . import _terminal

__all__ = ["summary_lines", "print_summary"]


def _format_bytes(count):
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024


def summary_lines(model, line_length=None):
    """The lines of Sequential.summary(): a box table of layers, then parameter totals."""
    widths = [33, 24, 15]
    if line_length:
        extra = max(int(line_length) - sum(widths) - 4, 0)
        widths[0] += extra // 2
        widths[1] += extra - extra // 2
    rows = []
    shape = model._build_input_shape
    for layer in model._layers:
        if shape is not None:
            shape = tuple(layer.compute_output_shape(shape))
        params = layer.count_params() if layer.built else 0
        rows.append((f"{layer.name} ({type(layer).__name__})", "?" if shape is None else str(shape),
                     f"{params:,}" if layer.built else "0 (unbuilt)"))

    def border(left, middle, right, fill):
        return left + middle.join(fill * (w + 2) for w in widths) + right

    def row(cells, edge="│"):
        name, shape_text, params = cells
        return (f"{edge} {name[:widths[0]]:<{widths[0]}} {edge} {shape_text[:widths[1]]:<{widths[1]}} "
                f"{edge} {params:>{widths[2]}} {edge}")

    lines = [f'Model: "{model.name}"', border("┏", "┳", "┓", "━"),
             row(("Layer (type)", "Output Shape", "Param #"), "┃"), border("┡", "╇", "┩", "━")]
    for i, cells in enumerate(rows):
        if i:
            lines.append(border("├", "┼", "┤", "─"))
        lines.append(row(cells))
    lines.append(border("└", "┴", "┘", "─"))
    total = sum(layer.count_params() for layer in model._layers if layer.built)
    trainable = sum(layer.count_params() for layer in model._layers if layer.built and layer.trainable)
    lines += [f" Total params: {total:,} ({_format_bytes(4 * total)})",
              f" Trainable params: {trainable:,} ({_format_bytes(4 * trainable)})",
              f" Non-trainable params: {total - trainable:,} ({_format_bytes(4 * (total - trainable))})"]
    return lines


def print_summary(model, line_length=None, print_fn=None):
    """Print summary_lines with print_fn, or to stdout, drawn in ASCII where stdout cannot encode the boxes."""
    for line in summary_lines(model, line_length):
        (print_fn or _terminal.write_line)(line)
