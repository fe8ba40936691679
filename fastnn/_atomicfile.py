"""Atomic file replacement that leaves nothing behind, even when the writer is killed.

A save writes a temporary file beside its target and renames it over the target once complete. The
temporary is named ``.<target name>.<host tag>-<pid>.<random>.tmp``, so a later save of the same target
can tell a temporary left by a killed writer (its process is gone, or it has not been touched for a day)
from one still being written, and remove only the former. Symlinks are followed (the link's target is
replaced, the link stays), missing folders are created as Keras does, and errors name the target, never
the hidden temporary.
"""
import contextlib
import os
import re
import socket
import stat
import tempfile
import time
import zlib

__all__ = ["atomic_write", "temporary_prefix", "STALE_TEMPORARY_SECONDS"]

# A temporary untouched this long is reclaimed even when its pid looks alive (the pid may have been reused).
STALE_TEMPORARY_SECONDS = 24 * 3600
_SUFFIX = ".tmp"


def _host_tag():
    """Eight hex digits naming this host, so pids are only compared with processes of the same machine."""
    return f"{zlib.crc32(socket.gethostname().encode('utf-8', 'replace')):08x}"


def temporary_prefix(basename, pid):
    """How the temporary files of target `basename` written by process `pid` of this host begin."""
    return f".{basename}.{_host_tag()}-{pid}."


def _temporary_pattern(basename):
    # the rest is tempfile's random part (letters, digits, '_') and the suffix
    return re.compile(rf"\.{re.escape(basename)}\.([0-9a-f]{{8}})-([0-9]{{1,10}})\.[a-z0-9_]+{re.escape(_SUFFIX)}")


def _writer_is_gone(host, pid):
    """Whether the process that wrote a temporary is known to have exited (decidable on this host only)."""
    if host != _host_tag() or os.name != "posix" or pid == os.getpid():
        return False  # on Windows, os.kill(pid, 0) would terminate the process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):  # alive but someone else's (EPERM), or not a possible pid
        return False
    return False


def remove_stale_temporaries(directory, basename):
    """Delete temporaries of target `basename` in `directory` whose writer is gone or that are a day old."""
    pattern = _temporary_pattern(basename)
    now = time.time()
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            match = pattern.fullmatch(entry.name)
            if match is None:
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                stale = now - info.st_mtime > STALE_TEMPORARY_SECONDS
                if stat.S_ISREG(info.st_mode) and (stale or _writer_is_gone(match[1], int(match[2]))):
                    os.unlink(entry.path)


def _file_mode(path):
    """Permission bits for the new file: the old file's, else what open() would give (0o666 minus umask)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write(path, write):
    """Call write(file) on a temporary file beside path, fsync it and rename it over path.

    A symlink at path is followed: its target is replaced and the link kept. Missing folders are created.
    On any error (or interruption) the temporary file is removed and path is left as it was; an OSError
    names path, not the temporary.
    """
    shown = os.fspath(path)
    target = os.path.realpath(shown)
    directory, basename = os.path.split(target)
    tmp = None
    try:
        os.makedirs(directory, exist_ok=True)
        remove_stale_temporaries(directory, basename)
        fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(basename, os.getpid()), suffix=_SUFFIX, dir=directory)
        os.fchmod(fd, _file_mode(target))
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(e, OSError) and e.errno is not None:
            raise OSError(e.errno, f"cannot save to this path: {e.strerror}", shown) from None
        raise
    with contextlib.suppress(OSError):  # make the rename durable too, where a directory can be opened
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
