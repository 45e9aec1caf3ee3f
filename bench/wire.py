"""Counting what each request sends to Redis and to the database, observed rather than assumed.

- Redis: MONITOR while N sequential requests run; every command from the connections that
  touched the bench's key prefix is counted (so a PING or UNWATCH of a pool check shows up
  too). Commands that a script runs inside Redis are listed apart: they are no round trips.
- PostgreSQL: `log_statement = 'all'` on the bench database (for connections opened after
  it is set: both servers are restarted), then the new lines of the server log.
- MariaDB/MySQL: the general log into `mysql.general_log` for the window, filtered by the
  connection ids of the bench database; Execute and Query are statements, the other
  command types (Prepare, Reset stmt, ...) are listed as further round trips.
- SQLite has no wire: uprobes on libsqlite3 (perf) count sqlite3_reset (diesel resets a
  statement once after each execution), sqlite3_step and the prepares, in the server process.
"""

import glob
import http.client
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter

from infra import DB_NAME, Redis, call, log


class RedisMonitor:
    def __init__(self, redis, prefix):
        self.redis, self.prefix = redis, prefix
        self.lines = []

    def __enter__(self):
        self.sock = socket.create_connection(self.redis.addr, timeout=5)
        self.sock.sendall(Redis.encode("MONITOR"))
        self.f = self.sock.makefile("rb")
        if not self.f.readline().startswith(b"+OK"):
            raise RuntimeError("MONITOR refused")
        self.stop = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def _read(self):
        while not self.stop:
            try:
                line = self.f.readline()
            except (OSError, ValueError):
                break
            if not line:
                break
            self.lines.append(line.decode(errors="replace").rstrip("\r\n"))

    def __exit__(self, *exc):
        time.sleep(0.3)
        self.stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(timeout=5)

    def summary(self, n):
        pat = re.compile(r'^\+?[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"(.*)$')
        parsed = [m.groups() for m in map(pat.match, self.lines) if m]
        ours = {addr for addr, _, rest in parsed if self.prefix in rest and addr != "lua"}
        direct = Counter(cmd.upper() for addr, cmd, _ in parsed if addr in ours)
        scripted = Counter(cmd.upper() for addr, cmd, rest in parsed
                           if addr == "lua" and self.prefix in rest)
        total = sum(direct.values())
        return {"requests": n, "commands": total, "per_request": total / n if n else 0,
                "by_command": dict(direct), "inside_scripts": dict(scripted),
                "connections": len(ours)}


class PgLog:
    """New lines of the PostgreSQL server log, for the bench database."""

    def __init__(self):
        files = sorted(glob.glob(os.environ.get("BENCH_PG_LOG", "/var/log/postgresql/postgresql-*.log")),
                       key=os.path.getmtime)
        self.path = files[-1] if files else None

    def __enter__(self):
        self.start = os.path.getsize(self.path) if self.path else 0
        return self

    def __exit__(self, *exc):
        time.sleep(0.5)

    def summary(self, n):
        if not self.path:
            return {"error": "no PostgreSQL log file found (set BENCH_PG_LOG)"}
        with open(self.path, "rb") as f:
            f.seek(self.start)
            text = f.read().decode(errors="replace")
        stmts = [l for l in text.splitlines()
                 if f"@{DB_NAME} " in l and ("LOG:  statement:" in l or "LOG:  execute" in l)]
        kinds = Counter(re.sub(r"^.*LOG:  (statement|execute [^:]*):\s*", "", l).split(" ")[0].upper()
                        for l in stmts)
        # A connection opened in the window runs strata's session set-up (SET TIME ZONE):
        # listed, but not counted as the request's statements.
        counted = len(stmts) - kinds.get("SET", 0)
        return {"requests": n, "statements": counted, "per_request": counted / n if n else 0,
                "by_kind": dict(kinds),
                "example": re.sub(r"^.*LOG:  ", "", stmts[-1])[:200] if stmts else None}


class MyLog:
    """mysql.general_log rows of the bench database's connections."""

    def __init__(self, backend):
        self.b = backend

    def enable(self):
        self.saved = self.b.sql("SELECT @@global.general_log, @@global.log_output;", db=None)[0]
        self.b.sql("SET GLOBAL log_output = 'TABLE'; SET GLOBAL general_log = 1;", db=None)

    def restore(self):
        on, output = self.saved
        self.b.sql(f"SET GLOBAL general_log = {on}; SET GLOBAL log_output = '{output}';", db=None)
        if on == "0":
            self.b.sql("TRUNCATE TABLE mysql.general_log;", db=None)

    def __enter__(self):
        self.start = self.b.sql("SELECT NOW(6);", db=None)[0][0]
        return self

    def __exit__(self, *exc):
        time.sleep(0.3)

    def summary(self, n):
        rows = self.b.sql(
            "SELECT command_type, LEFT(REPLACE(CONVERT(argument USING utf8mb4), '\\n', ' '), 160) "
            "FROM mysql.general_log "
            f"WHERE event_time >= '{self.start}' AND thread_id IN "
            "(SELECT id FROM information_schema.processlist "
            f" WHERE db = '{DB_NAME}' AND id <> CONNECTION_ID());", db=None)
        kinds = Counter(r[0] if not (r[0] == "Query" and r[1].upper().startswith("SET ")) else "Query SET"
                        for r in rows)
        stmts = kinds.get("Execute", 0) + kinds.get("Query", 0)
        example = next((r[1] for r in reversed(rows) if r[0] in ("Execute", "Query")), None)
        return {"requests": n, "statements": stmts, "per_request": stmts / n if n else 0,
                "round_trips": sum(kinds.values()), "by_kind": dict(kinds), "example": example}


class SqliteProbes:
    """perf uprobes on libsqlite3 in the server process."""

    EVENTS = ["sqlite3_reset", "sqlite3_step", "sqlite3_prepare_v2", "sqlite3_prepare_v3"]

    def __init__(self, pid):
        self.pid = pid
        self.lib = None
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    if "libsqlite3" in line:
                        self.lib = line.split()[-1]
                        break
        except OSError:
            pass

    def setup(self):
        if not self.lib or subprocess.run(["which", "perf"], capture_output=True).returncode:
            return False
        subprocess.run(["perf", "probe", "-q", "-d", "probe_libsqlite3:*"], capture_output=True)
        for e in self.EVENTS:
            p = subprocess.run(["perf", "probe", "-q", "-x", self.lib, "--add", e], capture_output=True)
            if p.returncode:
                return False
        return True

    @staticmethod
    def teardown():
        subprocess.run(["perf", "probe", "-q", "-d", "probe_libsqlite3:*"], capture_output=True)

    def __enter__(self):
        events = ",".join(f"probe_libsqlite3:{e}" for e in self.EVENTS)
        self.proc = subprocess.Popen(["perf", "stat", "-x", ",", "-e", events, "-p", str(self.pid)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        return self

    def __exit__(self, *exc):
        time.sleep(0.2)
        self.proc.send_signal(signal.SIGINT)
        _, self.err = self.proc.communicate(timeout=30)

    def summary(self, n):
        counts = {}
        for line in self.err.splitlines():
            parts = line.split(",")
            if len(parts) > 2 and parts[2].startswith("probe_libsqlite3:"):
                try:
                    counts[parts[2].split(":")[1]] = int(parts[0])
                except ValueError:
                    counts[parts[2].split(":")[1]] = 0
        resets = counts.get("sqlite3_reset", 0)
        return {"requests": n, "statements": resets, "per_request": resets / n if n else 0,
                "calls": counts}


def sequential(port, n, make_request):
    """n requests one after another on one keep-alive connection; returns the statuses."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    statuses = Counter()
    try:
        for i in range(n):
            method, path, body, token = make_request(i)
            statuses[call(port, method, path, body, token, conn=conn)[0]] += 1
    finally:
        conn.close()
    return dict(statuses)


def count(store_probe, sql_probe, port, n, make_request):
    """Counts Redis commands and SQL statements of n requests (each probe may be None)."""
    # warm: connections opened (pools fill in the background), statements prepared
    sequential(port, 10, lambda i: make_request(n + i))
    time.sleep(1.0)
    with_ctx = [p for p in (store_probe, sql_probe) if p is not None]
    for p in with_ctx:
        p.__enter__()
    try:
        statuses = sequential(port, n, make_request)
    finally:
        for p in reversed(with_ctx):
            p.__exit__(None, None, None)
    return {"statuses": statuses,
            "token_store": store_probe.summary(n) if store_probe else None,
            "sql": sql_probe.summary(n) if sql_probe else None}


def note(result):
    ts = result.get("token_store") or {}
    sq = result.get("sql") or {}
    log(f"  token store {ts.get('per_request', 'n/a')}/req {ts.get('by_command', '')}; "
        f"SQL {sq.get('per_request', 'n/a')}/req {sq.get('by_kind', sq.get('calls', ''))}")
