//! A private Redis Cluster: 3 primaries with one replica each, on free loopback ports below
//! 55536 (each node's bus port is its port + 10000), created with `redis-cli --cluster
//! create` and removed when dropped. The token-store contract, the e2e suite and the
//! failover test run on it; a test may kill a primary and wait for its replica's promotion.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::random_name;

/// Six `redis-server --cluster-enabled yes` processes forming one cluster.
pub struct PrivateCluster {
    pub ports: Vec<u16>,
    children: Vec<(u16, Child)>,
    dir: PathBuf,
}

fn free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
        && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
}

/// Six consecutive ports that are free, with their bus ports, below 55536.
fn six_ports() -> Result<Vec<u16>, String> {
    for _ in 0..50 {
        let base = 20_000 + (rand::random::<u16>() % 3_000) * 10;
        let ports: Vec<u16> = (base..base + 6).collect();
        if ports.iter().all(|p| free(*p)) {
            return Ok(ports);
        }
    }
    Err("no six free loopback ports for a cluster".into())
}

/// One `redis-cli` command against the node on `port`; its output.
pub fn cli(port: u16, args: &[&str]) -> Result<String, String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map_err(|e| format!("redis-cli: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits (bounded) until `ok` holds.
fn wait(what: &str, limit: Duration, ok: impl Fn() -> bool) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("the cluster never got {what} within {limit:?}"))
}

impl PrivateCluster {
    /// Starts and creates the cluster, trying three sets of ports; `Err` says why the last
    /// try failed (e.g. no redis-server on PATH).
    pub fn start() -> Result<Self, String> {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start() {
                Ok(cluster) => return Ok(cluster),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn try_start() -> Result<Self, String> {
        let ports = six_ports()?;
        let dir = std::env::temp_dir().join(random_name("strata_cluster"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cluster = Self {
            ports: ports.clone(),
            children: Vec::new(),
            dir,
        };
        for port in &ports {
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
                // A primary's loss leaves the other slots served (the README advises it).
                .args(["--cluster-require-full-coverage", "no"])
                .arg("--cluster-config-file")
                .arg(cluster.dir.join(format!("nodes-{port}.conf")))
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&cluster.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("redis-server: {e}"))?;
            cluster.children.push((*port, child));
        }
        for port in &ports {
            wait("a PING answer", Duration::from_secs(10), || {
                cli(*port, &["PING"]).is_ok_and(|r| r.contains("PONG"))
            })?;
        }
        let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let mut create = Command::new("redis-cli");
        create
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let status = create.status().map_err(|e| format!("redis-cli: {e}"))?;
        if !status.success() {
            return Err(format!("redis-cli --cluster create failed: {status}"));
        }
        for port in &ports {
            wait("cluster_state:ok", Duration::from_secs(20), || {
                cli(*port, &["CLUSTER", "INFO"]).is_ok_and(|r| r.contains("cluster_state:ok"))
            })?;
        }
        for port in &ports {
            wait("every replica's link up", Duration::from_secs(20), || {
                cli(*port, &["INFO", "replication"])
                    .is_ok_and(|r| r.contains("role:master") || r.contains("master_link_status:up"))
            })?;
        }
        Ok(cluster)
    }

    /// The nodes still running.
    fn alive(&self) -> Vec<u16> {
        self.children.iter().map(|(p, _)| *p).collect()
    }

    /// The running nodes that are primaries now.
    pub fn primaries(&self) -> Vec<u16> {
        self.alive()
            .into_iter()
            .filter(|p| cli(*p, &["INFO", "replication"]).is_ok_and(|r| r.contains("role:master")))
            .collect()
    }

    /// The port of the primary serving `key`'s slot, as the cluster's own map says.
    pub fn owner_of(&self, key: &str) -> Option<u16> {
        let node = *self.alive().first()?;
        let slot: u16 = cli(node, &["CLUSTER", "KEYSLOT", key])
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let nodes = cli(node, &["CLUSTER", "NODES"]).ok()?;
        nodes.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let primary = fields.get(2)?.contains("master") && !fields.get(2)?.contains("fail");
            let serves = fields.iter().skip(8).any(|range| {
                let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                matches!((lo.parse::<u16>(), hi.parse::<u16>()), (Ok(lo), Ok(hi)) if (lo..=hi).contains(&slot))
            });
            let port = fields.get(1)?.split(['@', ':']).nth(1)?.parse().ok()?;
            (primary && serves).then_some(port)
        })
    }

    /// Waits until the primary on `port` has no write its replica lacks (replication is
    /// asynchronous: what a primary acknowledged may not have reached its replica yet).
    pub fn wait_replicated(&self, port: u16) -> Result<(), String> {
        wait("its replica caught up", Duration::from_secs(10), || {
            let Ok(info) = cli(port, &["INFO", "replication"]) else {
                return false;
            };
            let field = |name: &str| {
                info.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
            };
            let own = field("master_repl_offset:");
            let replica = field("slave0:").and_then(|v| {
                v.split(',')
                    .find_map(|kv| kv.strip_prefix("offset=").map(str::to_owned))
            });
            own.is_some() && own == replica
        })
    }

    /// Kills the node on `port` (SIGKILL: no goodbye to its clients or its replica).
    pub fn kill(&mut self, port: u16) {
        if let Some(i) = self.children.iter().position(|(p, _)| *p == port) {
            let (_, mut child) = self.children.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the surviving nodes agree the cluster is whole again (every slot served).
    pub fn wait_healed(&self, limit: Duration) -> Result<(), String> {
        let alive = self.alive();
        wait("cluster_state:ok on every node", limit, || {
            alive.iter().all(|p| {
                cli(*p, &["CLUSTER", "INFO"]).is_ok_and(|r| r.contains("cluster_state:ok"))
            })
        })
    }

    /// The seed nodes, as `REDIS_CLUSTER_URLS` would list them.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            if let Err(e) = child.kill() {
                eprintln!("could not kill a cluster node: {e}");
            }
            let _ = child.wait();
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("could not remove {}: {e}", self.dir.display());
        }
    }
}
