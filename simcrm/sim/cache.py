"""A cache of built worlds: the CRM database as a SQLite file plus the model state, by key.

A world is identified by (seed, parameters, locale, simcrm version); the key also hashes the
source of the code that builds worlds (the simulation, the schema, the reference data), so a
change to the model never serves an outdated world. The cache lives in ``SIMCRM_CACHE_DIR``
when set, else in the platform's cache folder (``$XDG_CACHE_HOME/simcrm`` or
``~/.cache/simcrm``; ``%LOCALAPPDATA%\\simcrm`` on Windows). ``SIMCRM_CACHE=0`` (or an empty
``SIMCRM_CACHE_DIR``) turns it off.

Each entry is ``<key>.sqlite`` (the store, copied with SQLite's online backup),
``<key>.pkl`` (the model's latent state and what was written, for :meth:`World.step`) and
``<key>.sha256`` (the content hashes of both, keyed with a secret of this user). Files are
written under temporary names and renamed into place, so a reader never sees half an entry,
and two processes building the same world at once both succeed.

The state is a pickle, and unpickling runs code: an entry is only read when the folder and the
files belong to the current user and nobody else may write them (POSIX), and when their content
hashes match the manifest, which is keyed with ``.key`` — a random secret readable by this user
only. An entry planted by someone else (a shared ``SIMCRM_CACHE_DIR`` on a teaching server) is
a miss, never loaded.

    >>> key("a") == key("a") and key("a") != key("b")
    True
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import pickle
import sqlite3
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["cache_dir", "key", "load", "save"]

#: bump when the layout of a cache entry changes
FORMAT = 1


def cache_dir() -> Path | None:
    """The cache folder, or ``None`` when caching is off."""
    if os.environ.get("SIMCRM_CACHE", "1").lower() in ("0", "false", "no", "off"):
        return None
    env = os.environ.get("SIMCRM_CACHE_DIR")
    if env is not None:
        return Path(env) if env.strip() else None
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "simcrm"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "simcrm"


@cache
def _code_hash() -> str:
    """A hash of the code and data that determine a world's tables."""
    import simcrm

    h = hashlib.sha256(f"{simcrm.__version__}|{FORMAT}".encode())
    root = resources.files("simcrm")
    parts = [root / "sim", root / "store", root / "reference"]
    files = []
    for part in parts:
        files.extend(p for p in Path(str(part)).rglob("*") if p.is_file() and p.suffix in (".py", ".toml", ".csv"))
    for p in sorted(files):
        h.update(p.as_posix().rsplit("simcrm/", 1)[-1].encode())
        h.update(p.read_bytes())
    for mod in ("numpy", "pandas", "faker"):
        try:
            from importlib.metadata import version

            h.update(f"{mod}={version(mod)}".encode())
        except Exception:  # noqa: BLE001 - not installed as a distribution
            pass
    return h.hexdigest()


def key(ident: str) -> str:
    """The cache key of a world described by ``ident`` (seed, locale and parameters)."""
    return hashlib.sha256(f"{ident}|{_code_hash()}".encode()).hexdigest()[:32]


def _private(path: Path) -> bool:
    """True when ``path`` belongs to this user and no one else may write it (always on Windows)."""
    if os.name == "nt" or not hasattr(os, "getuid"):
        return True
    try:
        st = path.lstat()
    except OSError:
        return False
    return (st.st_uid == os.getuid() and not stat.S_ISLNK(st.st_mode)
            and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _secret(d: Path, create: bool) -> bytes | None:
    """This user's cache secret (``d/.key``, mode 0600), made on first use."""
    path = d / ".key"
    if not path.exists() and create:
        fd, tmp = tempfile.mkstemp(prefix=".key.", dir=d)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # never replace a key another process made first
        except FileExistsError:
            pass
        finally:
            os.remove(tmp)
    if not path.exists() or not _private(path):
        return None
    if os.name != "nt" and path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH):
        return None
    return path.read_bytes()


def _digest(secret: bytes, *files: Path) -> str:
    mac = hmac.new(secret, digestmod=hashlib.sha256)
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                mac.update(block)
        mac.update(b"\x00")
    return mac.hexdigest()


def load(k: str, raw_target: sqlite3.Connection) -> dict[str, Any] | None:
    """Copy entry ``k`` into the SQLite connection ``raw_target``; its state, or ``None`` (miss).

    Only a verified entry is read (see the module docstring).
    """
    d = cache_dir()
    if d is None:
        return None
    db, state, manifest = d / f"{k}.sqlite", d / f"{k}.pkl", d / f"{k}.sha256"
    if not (db.exists() and state.exists() and manifest.exists()):
        return None
    if not all(_private(p) for p in (d, db, state, manifest)):
        return None
    try:
        secret = _secret(d, create=False)
        if secret is None or not hmac.compare_digest(manifest.read_text().strip(), _digest(secret, db, state)):
            return None
        with open(state, "rb") as fh:
            data = pickle.load(fh)
        src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            src.backup(raw_target)
        finally:
            src.close()
    except Exception:  # noqa: BLE001 - a damaged entry is a miss
        return None
    return data


def save(k: str, raw_source: sqlite3.Connection, state: dict[str, Any]) -> None:
    """Store the database behind ``raw_source`` and ``state`` as entry ``k`` (best effort)."""
    d = cache_dir()
    if d is None:
        return
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        secret = _secret(d, create=True) if _private(d) else None
        if secret is None:
            return  # a folder others may write: never leave a pickle there
        fd, tmp_db = tempfile.mkstemp(prefix=f".{k}.", suffix=".sqlite", dir=d)
        os.close(fd)
        dst = sqlite3.connect(tmp_db)
        try:
            raw_source.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
        fd, tmp_pkl = tempfile.mkstemp(prefix=f".{k}.", suffix=".pkl", dir=d)
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
        fd, tmp_sum = tempfile.mkstemp(prefix=f".{k}.", suffix=".sha256", dir=d)
        with os.fdopen(fd, "w") as fh:
            fh.write(_digest(secret, Path(tmp_db), Path(tmp_pkl)))
        for tmp in (tmp_db, tmp_pkl, tmp_sum):
            os.chmod(tmp, 0o600)
        os.replace(tmp_db, d / f"{k}.sqlite")
        os.replace(tmp_pkl, d / f"{k}.pkl")
        os.replace(tmp_sum, d / f"{k}.sha256")
    except OSError:  # a read-only or full disk: the cache is an optimisation only
        for p in (locals().get("tmp_db"), locals().get("tmp_pkl"), locals().get("tmp_sum")):
            if p and os.path.exists(p):
                os.remove(p)
