"""Local files a paper connection may read (the replay feed's prices): only inside the data
directory.

A connection's config comes from users through the API, so a path in it is untrusted input:
``/etc/passwd`` or ``../../secret.keys`` must never become a price file. The check is made
in two places, each with what it can know there:

* :func:`path_problem` is structural and needs only the text: no absolute path, no drive or
  home prefix, no ``..`` component, no NUL byte. The config schema
  (:class:`~signalbridge.venues.paper.registration.PaperFeedConfig`) runs it, so the
  connection API answers 422 at save time and nothing is opened.
* :func:`confine` resolves the path under the data directory (symlinks included) and refuses
  anything that lands outside it. That needs the data directory itself, which reaches the
  adapter as ``AdapterDeps.data_dir`` (the runtime sets it from settings; there is no
  global), so the adapter runs it every time it is built: a symlink inside the data
  directory that points out of it is refused there, the engine gets a clear
  ``InvalidRequest`` and the connection test (``POST /connections/{id}/test``) shows why.
  The schema runs it too when its validation is given a ``{"data_dir": ...}`` context.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

MAX_PATH_LENGTH = 500


class UnsafePath(ValueError):
    """A configured local path that may not be read; the message names the path only."""


def path_problem(text: str) -> str | None:
    """Why ``text`` is not a plain relative path inside the data directory, or ``None``."""
    if not text or not text.strip():
        return "must not be empty"
    if len(text) > MAX_PATH_LENGTH:
        return f"must be at most {MAX_PATH_LENGTH} characters"
    if "\x00" in text:
        return "must not contain a NUL byte"
    windows = PureWindowsPath(text)
    if PurePosixPath(text).is_absolute() or windows.drive or windows.root:
        return "must be relative to the data directory, not absolute"
    if text.startswith("~"):
        return "must be relative to the data directory, not to a home directory"
    if ".." in windows.parts:  # splits on both "/" and "\\"
        return "must not contain '..'"
    return None


def confine(text: str, data_dir: Path) -> Path:
    """The file ``text`` names inside ``data_dir``, symlinks resolved; refuses any other."""
    problem = path_problem(text)
    if problem is not None:
        raise UnsafePath(f"path {text!r} {problem}")
    root = data_dir.resolve()
    target = (root / text).resolve()
    if not target.is_relative_to(root):
        raise UnsafePath(f"path {text!r} leads outside the data directory")
    return target
