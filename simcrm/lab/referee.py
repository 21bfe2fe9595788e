"""The hidden grader: a separate Python process that decides the grade and keeps its own record.

The student's kernel cannot be trusted with a grade: anything in it — the ``lab`` object, its
class, simcrm's functions, ``subprocess`` — can be replaced by the notebook. So the hidden tests
only *hand the answer over*; the referee computes the reference on its own copy of the
student's world, compares, and keeps a record of what it received and judged.

Two ways to run it:

* **autograde** (:class:`RefereeServer`, started by :func:`simcrm.lab.grading.autograde_student`,
  one per submission): the pipeline starts it with ``python -I`` in an empty folder (the
  notebook's folder and environment are not on its path), tells it on stdin who the student is
  (id, world seed, world size, private question modules), and it listens on a socket whose
  address the kernel finds in ``SIMCRM_REFEREE``. The kernel may ask who it is (``hello``) and
  hand over answers (``grade``); the reply only says the answer was received — never whether it
  was right, so a notebook cannot search for the right answer. When the notebook has run, the
  pipeline asks for the record on stdin and reads it from stdout, authenticated with a key it
  gave the referee on stdin; the score of every referee-backed test comes from that record.
  The **first** answer received for a question is the one graded (later ones are recorded and
  reported).
* **local** (a self-learner's or the teacher's own run: :meth:`simcrm.lab.session.Lab.grade`):
  the same process answers each request with its verdict on stdout.

Answers travel as data (:func:`encode_answer` / :func:`decode_answer`: JSON with tagged
tables, dates, sets and tuples), never as pickles: nothing the kernel sends can run code here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import math
import os
import socket
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any

__all__ = ["encode_answer", "decode_answer", "Referee", "RefereeServer", "referee_command", "MAX_ANSWER_BYTES"]

#: largest answer accepted (bytes of JSON)
MAX_ANSWER_BYTES = 64 * 1024 * 1024


# --- answers as data ------------------------------------------------------------------------------


class AnswerTypeError(TypeError):
    """An answer that cannot travel to the referee as data."""


def _scalar(x: Any) -> Any:
    import numpy as np
    import pandas as pd

    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return x
    if isinstance(x, np.generic):
        return _scalar(x.item())
    if x is pd.NaT or (isinstance(x, float) and math.isnan(x)):
        return None
    if isinstance(x, pd.Timestamp):
        return {"__t": "ts", "v": x.isoformat()}
    if isinstance(x, dt.datetime):
        return {"__t": "ts", "v": x.isoformat()}
    if isinstance(x, dt.date):
        return {"__t": "date", "v": x.isoformat()}
    if isinstance(x, (pd.Timedelta, dt.timedelta)):
        return {"__t": "td", "v": pd.Timedelta(x).value}
    if x is pd.NA:
        return None
    raise AnswerTypeError(type(x).__name__)


def _frame(df: Any) -> dict[str, Any]:
    index = df.index
    names = [n for n in index.names]
    cols = list(df.columns)
    data = []
    for c in cols:
        s = df[c]
        data.append([encode_answer(v) for v in s.astype(object).tolist()])
    if len(names) == 1:
        idx = [[encode_answer(v) for v in index.astype(object).tolist()]]
        idx_dtypes = [str(index.dtype)]
    else:
        idx = [[encode_answer(v) for v in index.get_level_values(i).astype(object).tolist()] for i in range(len(names))]
        idx_dtypes = [str(index.get_level_values(i).dtype) for i in range(len(names))]
    return {"columns": [encode_answer(c) for c in cols], "dtypes": [str(df[c].dtype) for c in cols],
            "data": data, "index": idx, "index_names": [encode_answer(n) for n in names],
            "index_dtypes": idx_dtypes}


def encode_answer(obj: Any) -> Any:
    """An answer as JSON-ready data: numbers, text, lists, dicts, tables (DataFrame/Series),
    dates, sets and tuples. Anything else raises :class:`AnswerTypeError` (a ``TypeError``)."""
    import numpy as np
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        if obj.columns.duplicated().any():
            raise AnswerTypeError("DataFrame（列名重复）")
        return {"__t": "frame", "v": _frame(obj)}
    if isinstance(obj, pd.Series):
        return {"__t": "series", "name": encode_answer(obj.name), "v": _frame(obj.to_frame("__v"))}
    if isinstance(obj, pd.Index):
        return {"__t": "list", "v": [encode_answer(v) for v in obj.tolist()]}
    if isinstance(obj, np.ndarray):
        return [encode_answer(v) for v in obj.tolist()]
    if isinstance(obj, list):
        return [encode_answer(v) for v in obj]
    if isinstance(obj, tuple):
        return {"__t": "tuple", "v": [encode_answer(v) for v in obj]}
    if isinstance(obj, (set, frozenset)):
        return {"__t": "set", "v": [encode_answer(v) for v in obj]}
    if isinstance(obj, dict):
        return {"__t": "dict", "v": [[encode_answer(k), encode_answer(v)] for k, v in obj.items()]}
    return _scalar(obj)


def _restore_column(values: list[Any], dtype: str) -> Any:
    import pandas as pd

    s = pd.Series(values, dtype=object)
    try:
        if dtype.startswith("datetime64"):
            return pd.to_datetime(s).astype(dtype) if "tz" not in dtype else pd.to_datetime(s)
        if dtype == "category":
            return s.astype("category")
        if dtype == "object":
            return s
        if dtype == "str":
            return s.astype("str")
        return s.astype(dtype)
    except (TypeError, ValueError):
        return s.infer_objects()


def _unframe(v: dict[str, Any]) -> Any:
    import pandas as pd

    cols = [decode_answer(c) for c in v["columns"]]
    data = {i: _restore_column([decode_answer(x) for x in col], dtype)
            for i, (col, dtype) in enumerate(zip(v["data"], v["dtypes"]))}
    levels = [_restore_column([decode_answer(x) for x in lv], dtype)
              for lv, dtype in zip(v["index"], v["index_dtypes"])]
    names = [decode_answer(n) for n in v["index_names"]]
    if len(levels) == 1:
        index = pd.Index(levels[0], name=names[0])
    else:
        index = pd.MultiIndex.from_arrays(levels, names=names)
    frame = pd.DataFrame(index=index)
    for i, col in data.items():
        col.index = index
        frame[i] = col
    frame.columns = pd.Index(cols) if cols else frame.columns
    return frame


def decode_answer(obj: Any) -> Any:
    """The inverse of :func:`encode_answer` (plain data in, plain data and tables out)."""
    import pandas as pd

    if isinstance(obj, list):
        return [decode_answer(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    tag = obj.get("__t")
    v = obj.get("v")
    if tag == "frame":
        return _unframe(v)
    if tag == "series":
        frame = _unframe(v)
        return frame["__v"].rename(decode_answer(obj.get("name")))
    if tag == "list":
        return [decode_answer(x) for x in v]
    if tag == "tuple":
        return tuple(decode_answer(x) for x in v)
    if tag == "set":
        return {decode_answer(x) for x in v}
    if tag == "dict":
        return {_hashable(decode_answer(k)): decode_answer(x) for k, x in v}
    if tag == "ts":
        return pd.Timestamp(v)
    if tag == "date":
        return dt.date.fromisoformat(v)
    if tag == "td":
        return pd.Timedelta(int(v))
    raise ValueError(f"unknown answer tag {tag!r}")


def _hashable(x: Any) -> Any:
    return tuple(x) if isinstance(x, list) else x


# --- the referee -----------------------------------------------------------------------------------


def _load_private(modules: list[str]) -> None:
    """Import the course's private question modules (files), which may replace public questions."""
    import importlib.util

    for i, path in enumerate(modules):
        spec = importlib.util.spec_from_file_location(f"simcrm_private_questions_{i}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import private questions from {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)


def _read_key(args: tuple, kwargs: dict[str, Any]) -> str | None:
    """A name for the read ``store.read(*args, **kwargs)``, equal only for the same read; ``None``
    when an argument cannot be named exactly (an SQL condition: its text leaves out the values
    it compares with), and such a read is not kept."""
    import numpy as np

    def plain(value: Any) -> Any:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, (dt.date, dt.datetime)):
            return {type(value).__name__: value.isoformat()}
        if isinstance(value, (set, frozenset)):
            return {"set": sorted(value, key=repr)}
        raise TypeError(type(value).__name__)

    try:
        return json.dumps([args, sorted(kwargs.items())], default=plain)
    except TypeError:
        return None


class _ReadOnce:
    """A store whose reads are kept: ``read`` returns a copy of the first read of the same
    arguments (:func:`_read_key`), until :meth:`forget`; everything else goes to the store."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._reads: dict[str, Any] = {}

    def read(self, *args: Any, **kwargs: Any) -> Any:
        k = _read_key(args, kwargs)
        if k is None:
            return self._store.read(*args, **kwargs)
        if k not in self._reads:
            self._reads[k] = self._store.read(*args, **kwargs)
        return self._reads[k].copy()

    def forget(self) -> None:
        self._reads.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class _StudentDatabase:
    """The student's database file during a referee session: one :class:`~simcrm.store.Store`
    (opened, and so checked by :func:`~simcrm.store.store.check_file`, once per file), the tables
    read from it kept while the database is unchanged, and SQLite's own word on whether it
    changed.

    "Unchanged" is decided by SQLite: a dedicated connection of the referee to the file, open
    for the session, read-only, that only ever runs ``PRAGMA data_version`` — a number that
    changes for this connection if and only if another connection (the kernel's, any other,
    the referee's own store) committed a change to the database since its last look. Together
    with the file's identity (``st_dev``, ``st_ino``: a file replaced at the same path, as
    ``lab.reset()`` does, is another file), :meth:`state` names the committed content: equal
    states, equal content. The referee never opens or closes raw descriptors of the database
    files (closing one would drop the POSIX locks of this process's SQLite connections).

    Being read-only, the watcher never checkpoints the WAL nor deletes the ``-wal``/``-shm``
    files when it closes (SQLite refuses the checkpoint of a read-only connection, and deletes
    those files only after a checkpoint), so closing it after the file was replaced cannot touch
    the new file's sidecars, which have the same names.
    """

    def __init__(self, path: str) -> None:
        import sqlite3
        from urllib.parse import quote

        from ..store import Store

        self.path = path
        self.identity = _identity(path)
        #: tells this object's states from those of an earlier one of the same path
        self.generation = next(_GENERATIONS)
        self.store = Store(path, create=False)  # checked (quick_check …) as every student file is
        self._reads = _ReadOnce(self.store)
        #: the state the kept reads were taken in (``None``: nothing kept)
        self.kept_state: Any = None
        self._watch: Any = None
        try:
            self._watch = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, isolation_level=None,
                                          check_same_thread=False, timeout=5)
        except sqlite3.Error:  # no watcher: nothing is ever kept
            self._watch = None

    def state(self) -> Any:
        """The committed content's name now (``None`` when it cannot be told: nothing is kept)."""
        import sqlite3

        if self._watch is None:
            return None
        try:
            version = self._watch.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            return None
        if _identity(self.path) != self.identity:  # replaced since opened: judged afresh next time
            return None
        return (self.identity, version)

    def read(self, *args: Any, **kwargs: Any) -> Any:
        """``store.read(...)``, kept while :meth:`forget` is not called: a copy each time."""
        return self._reads.read(*args, **kwargs)

    def forget(self) -> None:
        """Drop every kept read (and the store's dictionary cache)."""
        self._reads.forget()
        self.kept_state = None
        self.store.invalidate_dictionary_cache()

    def __getattr__(self, name: str) -> Any:  # everything else straight to the store
        if name == "store":  # not set: __init__ failed
            raise AttributeError(name)
        return getattr(self.store, name)

    def close(self) -> None:
        self._reads.forget()
        try:
            self.store.close()
        finally:
            if self._watch is not None:
                self._watch.close()
                self._watch = None


_GENERATIONS = itertools.count(1)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


class Referee:
    """Builds one student's world once and grades answers against it.

    Args:
        student: the student id (``None``: the default world).
        seed: the world seed (decided by whoever started the referee, never by the notebook).
        customers: the world size (``None``: the chapter's).
        private: paths of private question modules to import (course directory, teacher only).
    """

    def __init__(self, student: str | None, seed: int, customers: int | None = None,
                 private: list[str] | None = None) -> None:
        self.student = student
        self.seed = int(seed)
        self.customers = customers
        self._tmp = tempfile.TemporaryDirectory(prefix="simcrm-referee-")
        self._worlds: dict[str, Any] = {}
        #: the student's database files of the session: ``{resolved path: _StudentDatabase}``
        self._stores: dict[str, Any] = {}
        #: one evaluation context per chapter for the session, and what its ``cache`` was
        #: computed on (``(which store, its state)``; see :meth:`judge`)
        self._contexts: dict[str, tuple[Any, Any]] = {}
        self._private_done = False
        self._private = list(private or [])

    def _setup(self) -> None:
        if not self._private_done:
            if self._private:
                # the public chapters first, so that a private definition replaces a public one
                import importlib
                import pkgutil

                from . import chapters

                for info in pkgutil.iter_modules(chapters.__path__):
                    importlib.import_module(f"{chapters.__name__}.{info.name}")
            _load_private(self._private)
            self._private_done = True

    def _context(self, chapter: str) -> Any:
        """The chapter's world, built once for the referee's life; its pristine tables are read once."""
        from .session import (
            CHAPTER_DEPARTMENTS,
            CHAPTER_ROLES,
            _chapter_files,
            _chapter_module,
            build_world,
            pick_employee,
        )

        if chapter not in self._worlds:
            folder = Path(self._tmp.name) / chapter
            folder.mkdir(parents=True, exist_ok=True)
            world = build_world(self.seed, chapter, folder, self.customers)
            module = _chapter_module(chapter)
            builder = getattr(module, "build_files", None)
            # the chapter's files (ch04's expo list …) come from the verified world cache like the
            # world itself, and are kept there for the student's kernel: made once per world
            files = _chapter_files(module, builder, world, folder) if builder is not None else {}
            pristine = _ReadOnce(world.store)
            self._worlds[chapter] = (world, pristine, files, pick_employee(world.store, CHAPTER_ROLES[chapter],
                                                                                  CHAPTER_DEPARTMENTS.get(chapter, "销售")))
        return self._worlds[chapter]

    def prepare(self, chapter: str) -> None:
        """Build the chapter's world now (before the notebook starts)."""
        self._setup()
        from .session import CHAPTER_TITLES

        if chapter in CHAPTER_TITLES:
            self._context(chapter)

    def judge(self, question: str, answer: Any, store_path: str | None) -> dict[str, Any]:
        """Grade one answer; ``{"ok", "hint", "details"}``.

        One evaluation context per chapter serves the whole session. Values computed from the
        world as generated alone (``ctx.once(..., pristine=True)``) are kept for the session.
        The student's tables, and the values computed from them, are kept **only while the
        student's database is unchanged** (:meth:`_StudentDatabase.state`, SQLite's
        ``data_version`` and the file's identity), taken before this answer's reads and again
        after them: any commit since the last answer (by the kernel or anyone else), or a file
        replaced by ``lab.reset()``, empties them first, and a commit during the reads keeps
        nothing of them. So every answer is judged on the database as it is when it arrives.
        """
        from .questions import Context, evaluate, get_question

        self._setup()
        q = get_question(question)
        chapter = question.split(".", 1)[0]
        world, pristine, files, me = self._context(chapter)
        db = None
        if store_path and Path(store_path).is_file():
            # one Store of the student's database for the session (opening one — and checking
            # the file — costs more than most checks). A file replaced since (lab.reset() builds
            # a new one) gets a Store of its own; the old one is closed.
            key = str(Path(store_path).resolve())
            db = self._stores.get(key)
            if db is None or db.identity != _identity(key):
                if db is not None:
                    del self._stores[key]
                    db.close()
                db = self._stores[key] = _StudentDatabase(key)
        elif q.kind == "operation":
            return {"ok": False, "hint": "评分进程找不到你的数据库（是否删除或移动了实训文件？）", "details": []}
        # the student's database in its state now, before anything is read for this answer
        state = db.state() if db is not None else None
        if db is not None and (state is None or db.kept_state != state):
            db.forget()  # changed (or cannot tell) since its tables were read: read them again
        held = self._contexts.get(chapter)
        if held is None:
            ctx = Context(pristine=pristine, store=pristine, world=world, me=me, files=files, chapter=chapter)
        else:
            ctx = held[0]
        # what the context's values are computed on: that file in that state, or the world as
        # generated when there is no student file
        basis = (db.generation, state) if db is not None else ("pristine",)
        if held is None or held[1] != basis or (db is not None and state is None):
            ctx.cache.clear()
        ctx.store = db if db is not None else pristine
        self._contexts[chapter] = (ctx, None)  # nothing counts as kept until this answer is judged
        try:
            result = evaluate(question, ctx, answer)
            figures = _figures(q, ctx)
        except BaseException:
            if db is not None:
                db.forget()
            raise
        finally:
            if db is not None:
                # the Store's own connections are closed between answers (the watcher stays)
                db.store.engine.dispose()
        if db is None:
            self._contexts[chapter] = (ctx, basis)
        elif state is not None and db.state() == state:  # nothing was committed while it was judged
            db.kept_state = state
            self._contexts[chapter] = (ctx, basis)
        else:
            db.forget()
            ctx.cache.clear()
        verdict = {"ok": bool(result.ok), "hint": result.hint, "details": list(result.details[:5])}
        if figures is not None:
            verdict["figures"] = figures
        return verdict

    def close(self) -> None:
        self._contexts.clear()
        for db in self._stores.values():
            try:
                db.close()
            except Exception:  # noqa: BLE001 - closing at exit
                pass
        self._stores.clear()
        for world, *_ in self._worlds.values():
            try:
                world.store.close()
            except Exception:  # noqa: BLE001 - closing at exit
                pass
        self._tmp.cleanup()


def _figures(q: Any, ctx: Any) -> dict[str, float] | None:
    """The question's numbers for the teacher (finite floats only), or ``None``; never fails a grade."""
    if q.figures is None:
        return None
    try:
        raw = q.figures(ctx)
    except Exception:  # noqa: BLE001 - the figures are for the league, the grade stands without them
        return None
    if not raw:
        return None
    out = {}
    for k, v in raw.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if f == f and abs(f) != float("inf"):
            out[str(k)] = f
    return out


def _error_verdict(exc: BaseException) -> dict[str, Any]:
    return {"ok": False, "error": True, "hint": f"评分程序出错（referee error）：{type(exc).__name__}: {exc}",
            "details": traceback.format_exc().splitlines()[-5:]}


def _judge_request(referee: Referee, request: dict[str, Any]) -> dict[str, Any]:
    answer = decode_answer(request.get("answer"))
    return referee.judge(str(request["question"]), answer, request.get("store"))


# --- autograde: a server with its own record ---------------------------------------------------------


class RefereeServer:
    """The referee of one submission during autograde: answers come on a socket, the record goes
    to the pipeline on stdout (see the module docstring)."""

    def __init__(self, referee: Referee, key: bytes) -> None:
        self.referee = referee
        self.key = key
        self.record: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.conns: list[socket.socket] = []
        self.closed = False
        self.dir = tempfile.mkdtemp(prefix="simcrm-ref-")
        os.chmod(self.dir, 0o700)
        if hasattr(socket, "AF_UNIX"):
            self.address = os.path.join(self.dir, "s")
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(self.address)
        else:  # pragma: no cover - Windows without AF_UNIX
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.bind(("127.0.0.1", 0))
            self.address = "tcp:127.0.0.1:%d" % self.sock.getsockname()[1]
        self.sock.listen(8)

    def serve_forever(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                if self.closed:
                    conn.close()
                    return
                self.conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as rfile, conn.makefile("wb") as wfile:
            while True:
                line = rfile.readline(MAX_ANSWER_BYTES + 1)
                if not line:
                    return
                if len(line) > MAX_ANSWER_BYTES:
                    reply = {"error": True, "hint": "答案太大，评分进程拒收。"}
                    wfile.write((json.dumps(reply, ensure_ascii=False) + "\n").encode())
                    wfile.flush()
                    return
                try:
                    reply = self._answer(json.loads(line))
                except Exception as exc:  # noqa: BLE001 - bad request: say so, keep serving
                    reply = {"error": True, "hint": f"评分进程无法读取请求：{type(exc).__name__}"}
                wfile.write((json.dumps(reply, ensure_ascii=False) + "\n").encode())
                wfile.flush()

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "hello":
            return {"student": self.referee.student, "seed": self.referee.seed,
                    "customers": self.referee.customers, "mode": "autograde"}
        if op != "grade":
            return {"error": True, "hint": f"unknown op {op!r}"}
        question = str(request.get("question", ""))[:200]
        with self.lock:
            if self.closed:
                return {"error": True, "hint": "评分进程已结束本次评分"}
            entry = self.record.get(question)
            if entry is not None:
                entry["received"] += 1
                return {"received": True, "repeat": True}
            try:
                verdict = _judge_request(self.referee, request)
            except Exception as exc:  # noqa: BLE001 - recorded as a failed answer, with the reason
                verdict = _error_verdict(exc)
            self.record[question] = {"question": question, "ok": bool(verdict.get("ok")),
                                     "hint": str(verdict.get("hint", ""))[:500],
                                     "error": bool(verdict.get("error")), "received": 1}
            if verdict.get("figures"):
                self.record[question]["figures"] = verdict["figures"]
        return {"received": True}

    def signed_record(self) -> dict[str, Any]:
        with self.lock:
            body = json.dumps(sorted(self.record.values(), key=lambda e: e["question"]), ensure_ascii=False,
                              sort_keys=True)
        return {"record": body, "mac": hmac.new(self.key, body.encode("utf-8"), hashlib.sha256).hexdigest()}

    def close(self) -> None:
        with self.lock:
            self.closed = True
            conns, self.conns = self.conns, []
        for conn in conns:  # a connection left open by this submission's kernel (or its children)
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        finally:
            self.referee.close()
            try:
                os.unlink(self.address)
            except OSError:
                pass
            try:
                os.rmdir(self.dir)
            except OSError:
                pass


def verify_record(reply: dict[str, Any], key: bytes) -> list[dict[str, Any]]:
    """The record from a referee's final line, after checking its MAC (``ValueError`` if forged)."""
    body = reply.get("record")
    mac = reply.get("mac")
    if not isinstance(body, str) or not isinstance(mac, str):
        raise ValueError("no record")
    want = hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, mac):
        raise ValueError("record MAC mismatch")
    return json.loads(body)


def serve(init: dict[str, Any]) -> int:
    """Autograde mode: stdin gave ``init``; print the address, serve, print the record on request.

    After the record, the same process may serve the pipeline's next submission: another
    ``init`` line starts a new session (a new student, key, socket and worlds; nothing of the
    previous session is kept but the imported code), so the interpreter and its imports are
    paid once per grading worker instead of once per submission. End of stdin ends it.
    """
    while init is not None:
        init = _serve_session(init)
    return 0


def _serve_session(init: dict[str, Any]) -> dict[str, Any] | None:
    """One submission's session; the next session's ``init`` (or ``None`` at end of stdin)."""
    referee = Referee(init.get("student"), int(init["seed"]), init.get("customers"), init.get("private"))
    server = RefereeServer(referee, bytes.fromhex(init["key"]))
    try:
        for chapter in init.get("chapters", []):
            referee.prepare(chapter)
        ready = {"address": server.address}
    except Exception as exc:  # noqa: BLE001 - the pipeline reports it
        ready = {"address": server.address, "error": f"{type(exc).__name__}: {exc}"}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps(ready, ensure_ascii=False), flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "record":
                print(json.dumps(server.signed_record(), ensure_ascii=False), flush=True)
                break
        else:
            return None
    finally:
        server.close()  # the socket goes: a kernel of this submission reaches nothing any more
    for line in sys.stdin:
        if line.strip():
            nxt = json.loads(line)
            return nxt if isinstance(nxt, dict) and nxt.get("mode") == "serve" else None
    return None


def local(init: dict[str, Any]) -> int:
    """Local mode: one verdict line per request line."""
    referee = Referee(init.get("student"), int(init["seed"]), init.get("customers"), init.get("private"))
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                verdict = _judge_request(referee, json.loads(line))
            except Exception as exc:  # noqa: BLE001 - reported to the notebook, not swallowed
                verdict = _error_verdict(exc)
            print(json.dumps(verdict, ensure_ascii=False), flush=True)
    finally:
        referee.close()
    return 0


def main() -> int:
    """Read the first stdin line (who the student is, from whoever started this process) and run."""
    first = sys.stdin.readline()
    init = json.loads(first)
    return serve(init) if init.get("mode") == "serve" else local(init)


def referee_command() -> list[str]:
    """The command that starts a referee isolated from the caller's folder and environment:
    ``python -I`` (no current directory, no ``PYTHON*`` variables, no user site) with this
    installation of simcrm put first on ``sys.path`` explicitly."""
    root = str(Path(__file__).resolve().parent.parent.parent)
    code = f"import sys; sys.path.insert(0, {root!r}); from simcrm.lab.referee import main; raise SystemExit(main())"
    return [sys.executable, "-I", "-c", code]


if __name__ == "__main__":
    raise SystemExit(main())
