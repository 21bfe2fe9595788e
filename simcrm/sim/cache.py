"""A cache of built worlds: the CRM database as a SQLite file plus the model state, by key.

A world is identified by (seed, parameters, locale, simcrm version); the key also hashes the
source of the code that builds worlds (the simulation, the schema, the reference data), so a
change to the model never serves an outdated world. The cache lives in ``SIMCRM_CACHE_DIR``
when set, else in the platform's cache folder (``$XDG_CACHE_HOME/simcrm`` or
``~/.cache/simcrm``; ``%LOCALAPPDATA%\\simcrm`` on Windows). ``SIMCRM_CACHE=0`` (or an empty
``SIMCRM_CACHE_DIR``) turns it off.

Each entry is ``<key>.sqlite`` (the store, copied with SQLite's online backup),
``<key>.pkl`` (the model's latent state and what was written, for :meth:`World.step`) and
``<key>.sha256``, the manifest: the content hash of each file and a little metadata (the firm's
name), keyed with a secret of this user, and a keyed hash of the manifest itself. Files are
written under temporary names and renamed into place (the manifest last), so a reader never sees
half an entry, and two processes building the same world at once both succeed. A lab's files
made from a world (:func:`save_files`, e.g. ch04's lead list) are entries of the same kind. So are
the bytes kept by :func:`save_blob` (the schema's pickled metadata, see :mod:`simcrm.store.schema`).

The state is a pickle, and unpickling runs code: an entry is only read when the folder and the
files belong to the current user and nobody else may write them (POSIX), and when their content
hashes match the manifest, which is keyed with ``.key`` — a random secret readable by this user
only. An entry planted by someone else (a shared ``SIMCRM_CACHE_DIR`` on a teaching server) is
a miss, never loaded. :func:`restore` checks the store at once and the state only when it is
first needed (:class:`LazyState`: checked against the manifest read at restore time, so a later
eviction or replacement is a miss and the world rebuilds its state by running the model again);
a world opened for a lab that never steps the model never unpickles it.

**Eviction.** The cache keeps at most ``SIMCRM_CACHE_MAX_MB`` megabytes (default
:data:`DEFAULT_MAX_MB`; a default-size world takes about 50 MB): after each save, entries are
removed least recently used first (a hit refreshes an entry's time) until the rest fits; the
entry just written always stays. Temporary files a crashed save left behind go after an hour.

    >>> key("a") == key("a") and key("a") != key("b")
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import pickle
import secrets
import sqlite3
import stat
import tempfile
import time
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

__all__ = ["cache_dir", "key", "load", "restore", "restore_file", "state_of", "building", "package_hash", "save", "load_files", "save_files", "load_blob", "save_blob", "evict", "LazyState",
           "DEFAULT_MAX_MB"]

#: bump when the layout of a cache entry changes
FORMAT = 3

#: the cache's default size limit in megabytes (``SIMCRM_CACHE_MAX_MB`` overrides it)
DEFAULT_MAX_MB = 1024


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
        v = _version(mod)
        if v is not None:
            h.update(f"{mod}={v}".encode())
    return h.hexdigest()


@cache
def _dist_infos(site: str) -> tuple[str, ...]:
    return tuple(n for n in os.listdir(site) if n.endswith(".dist-info"))


def _version(mod: str) -> str | None:
    """The installed version of ``mod`` without importing it, nor scanning every path entry (as
    ``importlib.metadata.version`` does: a tenth of a second of each start): the name of the
    one ``*.dist-info`` folder of ``mod`` beside the package, else the metadata search."""
    try:
        from importlib.util import find_spec

        spec = find_spec(mod)
        if spec is None or not spec.origin:
            return None
        found = sorted(n[: -len(".dist-info")] for n in _dist_infos(str(Path(spec.origin).parent.parent))
                       if n.split("-", 1)[0].lower().replace("_", "-") == mod)
        if len(found) == 1 and found[0].count("-") == 1:  # name-version
            return found[0].split("-", 1)[1]
        from importlib.metadata import version

        return version(mod)
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return None


@cache
def package_hash() -> str:
    """A hash of all of simcrm's code and data (for what more than the world's own code makes:
    a lab's prepared world runs the CRM and the chapter's code)."""
    import simcrm

    h = hashlib.sha256(_code_hash().encode())
    root = Path(str(resources.files("simcrm")))
    for p in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".toml", ".csv")):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(p.read_bytes())
    h.update(simcrm.__version__.encode())
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


def _manifest_mac(secret: bytes, body: dict[str, Any]) -> str:
    return hmac.new(secret, json.dumps(body, sort_keys=True, ensure_ascii=False).encode(), hashlib.sha256).hexdigest()


def _read_manifest(d: Path, k: str, secret: bytes) -> dict[str, Any] | None:
    """The verified manifest of entry ``k`` (its own keyed hash checked), else ``None``."""
    path = d / f"{k}.sha256"
    if not _private(path):
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        mac = data.pop("mac")
        if not (isinstance(data, dict) and data.get("format") == FORMAT and data.get("key") == k and isinstance(mac, str)
                and hmac.compare_digest(mac, _manifest_mac(secret, data))):
            return None
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return None
    return data


def _touch(path: Path) -> None:
    try:
        os.utime(path)  # least recently used goes first (evict)
    except OSError:
        pass


class LazyState:
    """The pickled state of a restored entry, verified and unpickled on first use.

    :meth:`get` reads the file then, checks it against the digest the manifest had when the
    store was restored, and only then unpickles it; it raises :class:`StateUnavailable` when
    the file is gone (evicted) or no longer matches (the caller rebuilds the state).
    """

    def __init__(self, path: Path, digest: str, secret: bytes):
        self._path, self._digest, self._secret = path, digest, secret
        self._value: Any = None
        self._done = False

    def get(self) -> Any:
        if not self._done:
            try:
                if not _private(self._path):
                    raise StateUnavailable("the cached model state is gone or not private")
                data = self._path.read_bytes()
            except OSError as exc:
                raise StateUnavailable(str(exc)) from exc
            mac = hmac.new(self._secret, data, hashlib.sha256)
            mac.update(b"\x00")
            if not hmac.compare_digest(mac.hexdigest(), self._digest):
                raise StateUnavailable("the cached model state does not match its manifest")
            self._value = pickle.loads(data)
            self._done = True
        return self._value


class StateUnavailable(RuntimeError):
    """A restored entry's state could not be read (the caller rebuilds it)."""


def _entry(k: str) -> tuple[Path, bytes, dict[str, Any]] | None:
    """``(folder, secret, verified manifest)`` of world entry ``k`` when its files are private, else ``None``."""
    d = cache_dir()
    if d is None:
        return None
    db, state = d / f"{k}.sqlite", d / f"{k}.pkl"
    if not all(p.exists() and _private(p) for p in (d, db, state)):
        return None
    secret = _secret(d, create=False)
    if secret is None:
        return None
    manifest = _read_manifest(d, k, secret)
    if manifest is None or set(manifest.get("files", {})) != {"sqlite", "state"}:
        return None
    return d, secret, manifest


def state_of(k: str) -> tuple[LazyState, dict[str, Any]] | None:
    """The lazy state and metadata of world entry ``k`` without copying its store (a prepared copy
    of the store is used instead, see :func:`save_files`); ``None`` on a miss."""
    try:
        got = _entry(k)
    except Exception:  # noqa: BLE001 - a damaged entry is a miss
        return None
    if got is None:
        return None
    d, secret, manifest = got
    _touch(d / f"{k}.sha256")
    return LazyState(d / f"{k}.pkl", manifest["files"]["state"][1], secret), dict(manifest.get("meta") or {})


def restore(k: str, raw_target: sqlite3.Connection) -> tuple[LazyState, dict[str, Any]] | None:
    """Copy entry ``k``'s store into ``raw_target``; ``(lazy state, metadata)``, or ``None`` (miss).

    The store is checked against the manifest before it is copied; the state when first used.
    """
    try:
        got = _entry(k)
        if got is None:
            return None
        d, secret, manifest = got
        db = d / f"{k}.sqlite"
        src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            if not hmac.compare_digest(manifest["files"]["sqlite"][1], _digest(secret, db)):
                return None
            src.backup(raw_target)
        finally:
            src.close()
    except Exception:  # noqa: BLE001 - a damaged entry is a miss
        return None
    _touch(d / f"{k}.sha256")
    return LazyState(d / f"{k}.pkl", manifest["files"]["state"][1], secret), dict(manifest.get("meta") or {})


def restore_file(k: str, target: str | os.PathLike, *, durable: bool = True) -> tuple[LazyState, dict[str, Any]] | None:
    """Copy entry ``k``'s store to the new file ``target``; ``(lazy state, metadata)``, or ``None`` (miss).

    The faster twin of :func:`restore` for a world opened as a file (a lab's world): the stored
    SQLite file is copied as it is, read once and checked against the manifest on the way, into a
    temporary file beside ``target`` that is renamed onto it only when the content matched (a
    damaged or replaced entry leaves nothing at ``target``). The stored file is a complete world
    (journal folded in, not marked as being built), so nothing is re-serialised. ``durable``:
    flush the copy to disk before the rename (``False`` for a scratch file deleted at exit).
    """
    target = Path(target)
    tmp = target.with_name(f".{target.name}.restoring-{os.getpid()}")
    try:
        got = _entry(k)
        if got is None:
            return None
        d, secret, manifest = got
        mac = hmac.new(secret, digestmod=hashlib.sha256)
        with open(d / f"{k}.sqlite", "rb") as src, open(tmp, "wb") as out:
            for block in iter(lambda: src.read(1 << 22), b""):
                mac.update(block)
                out.write(block)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        mac.update(b"\x00")
        if not hmac.compare_digest(manifest["files"]["sqlite"][1], mac.hexdigest()):
            tmp.unlink()
            return None
        os.replace(tmp, target)
    except Exception:  # noqa: BLE001 - a damaged entry is a miss
        tmp.unlink(missing_ok=True)
        return None
    _touch(d / f"{k}.sha256")
    return LazyState(d / f"{k}.pkl", manifest["files"]["state"][1], secret), dict(manifest.get("meta") or {})


def load(k: str, raw_target: sqlite3.Connection) -> dict[str, Any] | None:
    """Copy entry ``k`` into the SQLite connection ``raw_target``; its state, or ``None`` (miss).

    Only a verified entry is read (see the module docstring).
    """
    got = restore(k, raw_target)
    if got is None:
        return None
    try:
        return got[0].get()
    except Exception:  # noqa: BLE001 - a damaged entry is a miss
        return None


@contextlib.contextmanager
def building(k: str) -> Iterator[bool]:
    """Hold the build lock of world ``k`` while it is built; yields ``True`` when another process
    held it first (it was building the same world: look in the cache again before building).

    So a lab opened while the world is being built ahead (:mod:`simcrm.lab.prebuild`) waits for
    that build instead of running a second one beside it. An OS lock (``flock``): a builder that
    dies releases it. Without a private cache folder or on Windows, no lock (``False``).
    """
    d = cache_dir()
    try:
        import fcntl
    except ImportError:  # Windows: two builds of the same world both succeed, as before
        yield False
        return
    fd = None
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        if _private(d):
            fd = os.open(d / f".{k}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except (OSError, AttributeError):
        fd = None
    if fd is None:
        yield False
        return
    try:
        waited = False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            waited = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield waited
    finally:
        os.close(fd)  # releases the lock


def _write_entry(d: Path, k: str, secret: bytes, files: dict[str, tuple[str, str]], meta: dict[str, Any] | None) -> None:
    """Rename the temporary ``files`` (role → (temporary path, final name)) into place, manifest last."""
    body = {"format": FORMAT, "key": k, "files": {role: [name, _digest(secret, Path(tmp))] for role, (tmp, name) in files.items()},
            "meta": meta or {}}
    body["mac"] = _manifest_mac(secret, {k_: v for k_, v in body.items()})
    fd, tmp_sum = tempfile.mkstemp(prefix=f".{k}.", suffix=".sha256", dir=d)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(body, fh, ensure_ascii=False)
    for tmp, _name in files.values():
        os.chmod(tmp, 0o600)
    os.chmod(tmp_sum, 0o600)
    for tmp, name in files.values():
        os.replace(tmp, d / name)
    os.replace(tmp_sum, d / f"{k}.sha256")


def save(k: str, raw_source: sqlite3.Connection, state: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
    """Store the database behind ``raw_source`` and ``state`` as entry ``k`` (best effort), then
    :func:`evict` what no longer fits."""
    d = cache_dir()
    if d is None:
        return
    tmps: list[str] = []
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        secret = _secret(d, create=True) if _private(d) else None
        if secret is None:
            return  # a folder others may write: never leave a pickle there
        fd, tmp_db = tempfile.mkstemp(prefix=f".{k}.", suffix=".sqlite", dir=d)
        tmps.append(tmp_db)
        os.close(fd)
        dst = sqlite3.connect(tmp_db)
        try:
            raw_source.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file (restore_file copies it)
            dst.execute("PRAGMA user_version = 0")  # a world being built is marked so; the entry is complete
        finally:
            dst.close()
        fd, tmp_pkl = tempfile.mkstemp(prefix=f".{k}.", suffix=".pkl", dir=d)
        tmps.append(tmp_pkl)
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
        _write_entry(d, k, secret, {"sqlite": (tmp_db, f"{k}.sqlite"), "state": (tmp_pkl, f"{k}.pkl")}, meta)
    except OSError:  # a read-only or full disk: the cache is an optimisation only
        for p in tmps:
            if os.path.exists(p):
                os.remove(p)
        return
    evict(keep=k)


def save_files(k: str, files: dict[str, Path]) -> None:
    """Keep copies of a lab's files made from a world (``name → path``) as entry ``k`` (best effort)."""
    d = cache_dir()
    if d is None or not files:
        return
    tmps: list[str] = []
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        secret = _secret(d, create=True) if _private(d) else None
        if secret is None:
            return
        entry = {}
        for name, path in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{k}.", suffix=Path(path).suffix, dir=d)
            tmps.append(tmp)
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                out.write(src.read())
            entry[name] = (tmp, f"{k}.{name}{Path(path).suffix}")
        _write_entry(d, k, secret, entry, {"kind": "files", "names": {n: Path(p).name for n, p in files.items()}})
    except OSError:
        for p in tmps:
            if os.path.exists(p):
                os.remove(p)
        return
    evict(keep=k)


def _kind_entry(k: str, kind: str) -> tuple[Path, bytes, dict[str, Any]] | None:
    """The cache folder, this user's secret and the checked manifest of entry ``k`` when it is
    an entry of ``kind`` (``"files"``, ``"blob"``); ``None`` on a miss."""
    d = cache_dir()
    if d is None or not _private(d):
        return None
    secret = _secret(d, create=False)
    manifest = _read_manifest(d, k, secret) if secret is not None else None
    if manifest is None or (manifest.get("meta") or {}).get("kind") != kind:
        return None
    return d, secret, manifest


def _verified_bytes(d: Path, secret: bytes, stored: str, digest: str) -> bytes | None:
    """The bytes of a stored file of an entry, when they match the manifest's digest."""
    src = d / stored
    if not _private(src):
        return None
    data = src.read_bytes()
    mac = hmac.new(secret, data, hashlib.sha256)
    mac.update(b"\x00")
    return data if hmac.compare_digest(mac.hexdigest(), digest) else None


def load_files(k: str, directory: Path) -> dict[str, Path] | None:
    """Copy the files of entry ``k`` (see :func:`save_files`) into ``directory``; ``name → path``, or ``None``."""
    try:
        entry = _kind_entry(k, "files")
        if entry is None:
            return None
        d, secret, manifest = entry
        out = {}
        for name, (stored, digest) in manifest["files"].items():
            data = _verified_bytes(d, secret, stored, digest)
            if data is None:
                return None
            target = Path(directory) / Path(manifest["meta"]["names"][name]).name
            target.write_bytes(data)
            out[name] = target
    except Exception:  # noqa: BLE001 - a damaged entry is a miss
        return None
    _touch(d / f"{k}.sha256")
    return out


def save_blob(k: str, data: bytes) -> None:
    """Keep ``data`` as entry ``k`` (best effort; e.g. the schema's pickled metadata)."""
    d = cache_dir()
    if d is None:
        return
    tmp = None
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        secret = _secret(d, create=True) if _private(d) else None
        if secret is None:
            return
        fd, tmp = tempfile.mkstemp(prefix=f".{k}.", suffix=".bin", dir=d)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        _write_entry(d, k, secret, {"blob": (tmp, f"{k}.bin")}, {"kind": "blob"})
    except OSError:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
        return
    evict(keep=k)


def load_blob(k: str) -> bytes | None:
    """The bytes kept as entry ``k`` by :func:`save_blob`, checked against the manifest; ``None`` on a miss."""
    try:
        entry = _kind_entry(k, "blob")
        if entry is None:
            return None
        d, secret, manifest = entry
        stored, digest = manifest["files"]["blob"]
        data = _verified_bytes(d, secret, stored, digest)
        if data is None:
            return None
    except Exception:  # noqa: BLE001 - a damaged entry is a miss
        return None
    _touch(d / f"{k}.sha256")
    return data


def _max_bytes() -> int:
    raw = os.environ.get("SIMCRM_CACHE_MAX_MB", "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_MAX_MB
    except ValueError:
        mb = DEFAULT_MAX_MB
    return int(max(mb, 0) * 1_000_000)


def evict(keep: str | None = None, max_bytes: int | None = None) -> list[str]:
    """Remove least recently used entries until the cache fits ``max_bytes`` (default: the
    ``SIMCRM_CACHE_MAX_MB`` limit); entry ``keep`` always stays. Returns the keys removed."""
    d = cache_dir()
    if d is None or not d.is_dir():
        return []
    limit = _max_bytes() if max_bytes is None else max_bytes
    entries = []
    now = time.time()
    for m in d.glob("*.sha256"):
        if m.name.startswith("."):
            continue
        k = m.name[: -len(".sha256")]
        try:
            files = [p for p in d.glob(f"{k}.*") if p.is_file()]
            size = sum(p.stat().st_size for p in files)
            entries.append((m.stat().st_mtime, k, size, files))
        except OSError:
            continue
    for p in d.glob(".*.*"):  # temporary files of a save that crashed
        if p.name != ".key" and p.is_file():
            try:
                if now - p.stat().st_mtime > 3600:
                    p.unlink()
            except OSError:
                pass
    total = sum(e[2] for e in entries)
    removed = []
    for _mtime, k, size, files in sorted(entries):
        if total <= limit:
            break
        if k == keep:
            continue
        manifest = d / f"{k}.sha256"
        try:
            manifest.unlink()  # readers see a miss from here on
        except OSError:
            continue
        for p in files:
            try:
                p.unlink()
            except OSError:  # open elsewhere (Windows): it goes with a later eviction
                pass
        total -= size
        removed.append(k)
    return removed
