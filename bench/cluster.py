"""The `cluster` scenario: strata on a private Redis Cluster (3 primaries, a replica each)
against strata on the single Redis (given a replica for the while), in the same run, on
the same database: `GET /api/users/me` and refresh side by side, strata's instructions per
`users/me` on each (callgrind), the Redis commands one `users/me` sends (MONITOR on every
primary), and how long a killed primary's sessions answer 503 before its replica takes
over."""

import glob
import os
import shutil
import subprocess
import tempfile
import time

import wire
from infra import OUT, Redis, Server, call, log
from load import PerfStat, RefreshPool, logins, run_wrk, summarize

PORT = 18082
# Paired runs per figure at least: the ratio of two noisy throughputs needs more than three.
REPEAT = 5
BASE = 21100  # six nodes from here; bus ports +10000 stay below the ephemeral range (32768)


def cli(port, *args):
    out = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=10)
    return out.stdout


def wait(what, ok, limit=30):
    deadline = time.time() + limit
    while time.time() < deadline:
        if ok():
            return
        time.sleep(0.1)
    raise RuntimeError(f"the bench cluster never got {what}")


class Cluster:
    """Six `redis-server --cluster-enabled yes` in a temporary directory."""

    def __init__(self):
        self.ports = list(range(BASE, BASE + 6))
        self.dir = tempfile.mkdtemp(prefix="strata-bench-cluster-")
        self.procs = {}

    def start(self):
        for p in self.ports:
            self.procs[p] = subprocess.Popen(
                ["redis-server", "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-node-timeout", "2000", "--cluster-require-full-coverage", "no",
                 "--cluster-config-file", f"nodes-{p}.conf", "--save", "", "--appendonly", "no",
                 "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for p in self.ports:
            wait("a PING answer", lambda p=p: "PONG" in cli(p, "PING"))
        subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                        "--cluster-replicas", "1", "--cluster-yes"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait("cluster_state:ok", lambda: all("cluster_state:ok" in cli(p, "CLUSTER", "INFO") for p in self.ports))
        wait("every replica's link up", lambda: all(
            ("role:master" in r or "master_link_status:up" in r)
            for r in (cli(p, "INFO", "replication") for p in self.ports)))
        return self

    def primaries(self):
        return [p for p, proc in self.procs.items()
                if proc.poll() is None and "role:master" in cli(p, "INFO", "replication")]

    def owner(self, key):
        node = next(p for p, proc in self.procs.items() if proc.poll() is None)
        slot = int(cli(node, "CLUSTER", "KEYSLOT", key).strip())
        for line in cli(node, "CLUSTER", "NODES").splitlines():
            f = line.split()
            if "master" not in f[2] or "fail" in f[2]:
                continue
            for r in f[8:]:
                lo, _, hi = r.partition("-")
                if lo.isdigit() and int(lo) <= slot <= int(hi or lo):
                    return int(f[1].split(":")[1].split("@")[0])
        return None

    def kill(self, port):
        self.procs[port].kill()
        self.procs[port].wait()

    def stop(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def cpu_seconds(pids):
    """User + system CPU time of the processes so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def measured(cfg, srv, redis_pids, run):
    """A run, with strata's own CPU time per request (perf, when here) and that of the
    Redis processes behind it (one server, or the six nodes)."""
    stat = PerfStat(srv.proc.pid) if cfg.perf else None
    before = cpu_seconds(redis_pids)
    try:
        r = run()
    finally:
        if stat:
            stat.stop()
    if stat:
        r.update(stat.per_request(r["requests"]))
    if r["requests"]:
        r["redis_cpu_us_per_req"] = (cpu_seconds(redis_pids) - before) * 1e6 / r["requests"]
    return r


def side_by_side(bench, servers, tokens, pools, conns, redis_pids):
    cfg, out = bench.cfg, {}
    for c in conns:
        runs = {"me": {s.name: [] for s in servers}, "refresh": {s.name: [] for s in servers}}
        for srv in servers:  # warm-up, not recorded
            run_wrk(srv.port, "get", c, 1, "/api/users/me",
                    env={"BENCH_TOKENS": tokens[srv.name], "BENCH_PATH": "/api/users/me"})
        for rep in range(max(cfg.repeat, REPEAT)):
            for srv in (servers if rep % 2 == 0 else list(reversed(servers))):
                runs["me"][srv.name].append(measured(cfg, srv, redis_pids[srv.name], lambda: run_wrk(
                    srv.port, "get", c, cfg.duration, "/api/users/me",
                    env={"BENCH_TOKENS": tokens[srv.name], "BENCH_PATH": "/api/users/me"})))
                runs["refresh"][srv.name].append(measured(cfg, srv, redis_pids[srv.name], lambda: pools[srv.name].run(c, cfg.duration)))
        for key, by_server in runs.items():
            entry = {name: summarize(rs) for name, rs in by_server.items()}
            out[f"{key} c{c}"] = entry
            one, many = entry["strata"], entry["strata-cluster"]
            log(f"cluster {key} c{c}: single Redis {one['rps']:,.0f} req/s p99 {one['p99_us'] / 1000:.2f} ms | "
                f"cluster {many['rps']:,.0f} req/s p99 {many['p99_us'] / 1000:.2f} ms "
                f"(x{many['rps'] / one['rps']:.2f}), errors {one['errors']} / {many['errors']}; strata CPU "
                f"{one.get('cpu_us_per_req', 0):.0f} / {many.get('cpu_us_per_req', 0):.0f} us, Redis CPU "
                f"{one.get('redis_cpu_us_per_req', 0):.0f} / {many.get('redis_cpu_us_per_req', 0):.0f} us per request")
    return out


INSTRUCTIONS_PORT = 18083


def instructions(bench, name, env, tokens, out_dir, server_argv=None):
    """strata's own instructions per `GET /api/users/me` (user space, every thread), counted
    by callgrind: unlike CPU time, the same for the same binary and load whatever else the
    machine does. The server (strata's, or `server_argv`) runs under valgrind with counting
    off until a warm-up is over."""
    out = os.path.join(out_dir, f"callgrind-{name}.out")
    env = dict(env, BIND_ADDR=f"127.0.0.1:{INSTRUCTIONS_PORT}")
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            *(server_argv or bench.strata.argv)]
    srv = Server(f"{name}-callgrind", argv, env, INSTRUCTIONS_PORT, f"{name}-callgrind.log")
    srv.start(timeout=300)
    wenv = {"BENCH_TOKENS": tokens, "BENCH_PATH": "/api/users/me"}

    def control(*args):
        done = subprocess.run(["callgrind_control", *args, str(srv.proc.pid)],
                              capture_output=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"callgrind_control {' '.join(args)}: {done.stderr.decode()[-200:]}")

    try:
        run_wrk(INSTRUCTIONS_PORT, "get", 8, 5, "/api/users/me", env=wenv)  # connections made
        control("-i", "on")
        r = run_wrk(INSTRUCTIONS_PORT, "get", 8, 10, "/api/users/me", env=wenv)
        control("-i", "off")
        control("-d")
    finally:
        srv.stop()
    total = 0
    for path in glob.glob(out + "*"):
        with open(path, errors="replace") as f:
            total += next((int(line.split()[1]) for line in f if line.startswith("totals:")), 0)
    if not total or not r["requests"]:
        raise RuntimeError(f"callgrind counted {total} instructions for {r['requests']} requests")
    return {"requests": r["requests"], "errors": r["errors"], "per_request": total / r["requests"]}


def commands_per(cluster, port, requests, prefix):
    """The Redis commands `requests` (method, path, body, token) send, over every primary."""
    n = len(requests)
    monitors = [wire.RedisMonitor(Redis(f"redis://127.0.0.1:{p}"), prefix) for p in cluster.primaries()]
    for m in monitors:
        m.__enter__()
    statuses = {}
    for method, path, body, token in requests:
        status, _ = call(port, method, path, body, token)
        statuses[status] = statuses.get(status, 0) + 1
    for m in monitors:
        m.__exit__(None, None, None)
    parts = [m.summary(n) for m in monitors]
    by = {}
    for p in parts:
        for k, v in p["by_command"].items():
            by[k] = by.get(k, 0) + v
    total = sum(p["commands"] for p in parts)
    return {"requests": n, "commands": total, "per_request": total / n, "by_command": by,
            "statuses": statuses, "primaries_used": sum(1 for p in parts if p["commands"])}


def failover(cluster, port, users, prefix):
    """Kills the primary of the first user's slot; polls that user and one elsewhere."""
    me = lambda token: call(port, "GET", "/api/users/me", None, token)[0]  # noqa: E731
    owners = [(cluster.owner(f"user:{{{uid}}}:sessions"), token) for uid, token in users]
    victim = owners[0][0]
    hit = next(t for o, t in owners if o == victim)
    spared = next(t for o, t in owners if o != victim)
    killed = time.perf_counter()
    cluster.kill(victim)
    first_503 = last_503 = None
    spared_errors = 0
    while time.perf_counter() - killed < 60:
        status = me(hit)
        now = time.perf_counter()
        if status != 200:
            first_503 = first_503 or now
            last_503 = now
        elif first_503:
            break
        if me(spared) != 200:
            spared_errors += 1
        time.sleep(0.01)
    back = time.perf_counter()
    return {"interrupted_s": (last_503 - first_503) if first_503 else 0.0,
            "back_after_kill_s": back - killed, "other_slots_errors": spared_errors}


def run(bench, password, prefix):
    if not bench.redis:
        log("cluster: skipped (BENCH_STORE=memory)")
        return
    if not shutil.which("redis-server"):
        log("cluster: skipped (no redis-server)")
        return
    cfg = bench.cfg
    cluster = Cluster().start()
    # The single Redis gets a replica too, so that both sides pay for replication.
    replica = subprocess.Popen(["redis-server", "--port", str(BASE + 50), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", cluster.dir,
                                "--replicaof", *map(str, bench.redis.addr)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(bench.strata.env)
    env.pop("REDIS_URL", None)
    env.update({"REDIS_CLUSTER_URLS": ",".join(f"redis://127.0.0.1:{p}" for p in cluster.ports),
                "BIND_ADDR": f"127.0.0.1:{PORT}"})
    server = Server("strata-cluster", bench.strata.argv, env, PORT, f"strata-cluster-{cfg.db}.log")
    try:
        wait("the single Redis's replica in sync",
             lambda: "master_link_status:up" in cli(BASE + 50, "INFO", "replication"))
        server.start()
        users = [f"u{i:06d}" for i in range(1, 65)]
        files = {}
        for srv in (bench.strata, server):
            path = os.path.join(OUT, f"tokens-cluster-{srv.name}.txt")
            with open(path, "w") as f:
                f.writelines(t["access_token"] + "\n" for t in logins(srv.port, users, password))
            files[srv.name] = path
        pool_users = [f"u{i:06d}" for i in range(101, 501)]
        pools = {s.name: RefreshPool(s.port, pool_users, password) for s in (bench.strata, server)}
        conns = [c for c in (32, 128) if c in cfg.connections] or cfg.connections[:1]
        single_pid = int(next(l.split(":")[1] for l in cli(bench.redis.addr[1], "INFO", "server").splitlines()
                              if l.startswith("process_id:")))
        # Each side's Redis CPU counts its replica(s) too.
        redis_pids = {bench.strata.name: [single_pid, replica.pid],
                      server.name: [p.pid for p in cluster.procs.values()]}
        figures = side_by_side(bench, [bench.strata, server], files, pools, conns, redis_pids)
        ids = [(call(PORT, "GET", "/api/users/me", None, t)[1]["id"], t)
               for t in open(files[server.name]).read().split()[:30]]
        wire_me = commands_per(cluster, PORT, [("GET", "/api/users/me", None, ids[i % len(ids)][1])
                                                for i in range(100)], prefix)
        pools[server.name].top_up(20)
        rotations = [("POST", "/api/auth/refresh", {"refresh_token": t}, None)
                     for _, t in pools[server.name].tokens[:20]]
        pools[server.name].tokens = pools[server.name].tokens[20:]
        wire_refresh = commands_per(cluster, PORT, rotations, prefix)
        for route, w in (("users/me", wire_me), ("refresh", wire_refresh)):
            log(f"cluster wire: {w['commands']} commands for {w['requests']} {route} "
                f"{w['by_command']} on {w['primaries_used']} primaries, statuses {w['statuses']}")
        counted = {}
        if shutil.which("valgrind") and shutil.which("callgrind_control"):
            try:
                for srv in (bench.strata, server):
                    counted[srv.name] = instructions(bench, srv.name, srv.env, files[srv.name], cluster.dir)
                one, many = counted[bench.strata.name], counted[server.name]
                log(f"cluster instructions per users/me: single Redis {one['per_request']:,.0f} | cluster "
                    f"{many['per_request']:,.0f} (x{many['per_request'] / one['per_request']:.3f}), "
                    f"errors {one['errors']} / {many['errors']}")
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                counted = {}
                log(f"cluster: instructions not counted ({e})")
        else:
            log("cluster: instructions not counted (no valgrind)")
        fo = failover(cluster, PORT, ids, prefix)
        log(f"cluster failover: the killed primary's sessions answered 503 for {fo['interrupted_s']:.2f} s, "
            f"200 again {fo['back_after_kill_s']:.2f} s after the kill; other slots: {fo['other_slots_errors']} errors")
        bench.results["cluster"] = {"figures": figures, "wire_me": wire_me, "wire_refresh": wire_refresh,
                                    "instructions": counted, "failover": fo}
    finally:
        server.stop()
        cluster.stop()
        replica.kill()
        replica.wait()
