"""What the terminal behind a text stream can show: which characters it can encode, and how wide a line fits.

Consoles whose encoding cannot hold the box-drawing characters (PYTHONIOENCODING=ascii, some Windows code
pages) get ASCII instead of a UnicodeEncodeError; lines redrawn in place are kept narrower than the terminal,
since a line that wraps can no longer be redrawn with a carriage return.
"""
import contextlib
import os
import shutil
import sys

__all__ = ["can_encode", "printable", "write_line", "width"]

DEFAULT_WIDTH = 80
_ASCII_BOX = str.maketrans({"━": "=", "─": "-", "│": "|", "┃": "|", **{corner: "+" for corner in "┏┳┓┡╇┩└┴┘├┼┤"}})


def can_encode(stream, text):
    """Whether writing `text` to `stream` cannot fail on its encoding (a stream without one, such as
    io.StringIO, takes any text)."""
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return True
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def printable(text, stream):
    """`text` as `stream` can encode it: box-drawing characters become ASCII, anything else unencodable '?'."""
    if can_encode(stream, text):
        return text
    encoding = stream.encoding
    try:
        return text.translate(_ASCII_BOX).encode(encoding, "replace").decode(encoding)
    except LookupError:  # an encoding Python does not know: only ASCII is safe
        return text.translate(_ASCII_BOX).encode("ascii", "replace").decode("ascii")


def write_line(text, stream=None):
    """print(text) to stream (default: sys.stdout at the time of the call) in characters it can encode."""
    stream = sys.stdout if stream is None else stream
    if stream is not None:  # sys.stdout is None under pythonw
        stream.write(printable(text, stream) + "\n")


def width(stream):
    """The columns of the terminal behind `stream`: $COLUMNS if set, else the terminal's own size, else the
    size of the terminal behind stdout, else 80 (shutil.get_terminal_size's rules, for any stream)."""
    if not os.environ.get("COLUMNS"):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            columns = os.get_terminal_size(stream.fileno()).columns
            if columns > 0:
                return columns
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns or DEFAULT_WIDTH
