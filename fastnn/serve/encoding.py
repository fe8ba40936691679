"""HTTP content codings of bodies: compressed requests in, compressed responses out (gzip and deflate).

tritonclient compresses request bodies with ``request_compression_algorithm`` ("gzip": RFC 1952, "deflate":
the zlib format of RFC 1950, as HTTP's "deflate" means) and asks for compressed responses with
``response_compression_algorithm`` (``Accept-Encoding``). A request body is inflated in pieces and refused
with 413 as soon as it would exceed the server's body limit, so a small "zip bomb" costs the server at most
that limit of memory and the time to inflate it; a coding we do not know is refused with 415
(RFC 9110, 15.5.16), and a corrupt or truncated stream with 400.
"""
import gzip
import zlib

__all__ = ["decode_body", "encode_body", "CODINGS"]

# zlib window bits of each coding: 16 + 15 reads and writes the gzip wrapper, 15 the zlib one.
CODINGS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_CHUNK = 1 << 20
_MIN_COMPRESSED_BYTES = 256


def decode_body(body, content_encoding, limit, bad_request):
    """The body inflated per its Content-Encoding (None or "identity": as it is), at most `limit` bytes."""
    coding = (content_encoding or "identity").strip().lower()
    if coding == "identity":
        return body
    if coding not in CODINGS:
        raise bad_request(f"Content-Encoding {content_encoding[:40]!r} is not supported; send the body "
                          f"uncompressed, or with gzip or deflate", 415)
    inflater = zlib.decompressobj(CODINGS[coding])
    pieces, size, pending = [], 0, body
    try:
        while not inflater.eof:
            piece = inflater.decompress(pending, _CHUNK)
            pending = inflater.unconsumed_tail
            size += len(piece)
            if size > limit:
                raise bad_request(f"the {coding} body inflates to more than the limit of {limit} bytes", 413)
            pieces.append(piece)
            if not piece and not pending:
                break
    except zlib.error as e:
        raise bad_request(f"the {coding} body is corrupt: {e}") from None
    if not inflater.eof or inflater.unused_data:
        raise bad_request(f"the {coding} body is " + ("truncated" if not inflater.eof else
                                                      "followed by bytes after its end"))
    return b"".join(pieces)


def _accepted_coding(accept_encoding):
    """gzip or deflate if Accept-Encoding allows one (gzip first, as clients prefer it), else None."""
    allowed = set()
    for item in accept_encoding.lower().split(","):
        name, _, parameters = item.partition(";")
        quality = parameters.strip()
        if quality.startswith("q="):
            try:
                if float(quality[2:]) <= 0:
                    continue
            except ValueError:
                continue
        allowed.add(name.strip())
    return next((coding for coding in CODINGS if coding in allowed), None)


def encode_body(body, accept_encoding):
    """(body, coding or None): the response body compressed with a coding the client accepts; small bodies
    (under _MIN_COMPRESSED_BYTES, where compression saves nothing) are left as they are."""
    coding = _accepted_coding(accept_encoding) if accept_encoding else None
    if coding is None or len(body) < _MIN_COMPRESSED_BYTES:
        return body, None
    if coding == "gzip":
        return gzip.compress(body, compresslevel=1, mtime=0), coding
    return zlib.compress(body, 1), coding
