//! A private PostgreSQL primary and a streaming replica of it (`pg_basebackup -R`), each
//! on a free loopback port, removed when dropped. Tests may stop, start and pause them
//! without touching the shared server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use testkit::random_name;

/// The PostgreSQL server programs (`initdb`, `pg_ctl`, `pg_basebackup`): the newest
/// version installed under /usr/lib/postgresql, or `PATH`.
fn bin(name: &str) -> PathBuf {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .max();
    match newest {
        Some(v) => PathBuf::from(format!("/usr/lib/postgresql/{v}/bin/{name}")),
        None => PathBuf::from(name),
    }
}

/// True when this process runs as root (the owner of `/proc/self` is its user).
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// PostgreSQL refuses to run as root: as root, the programs run as `postgres`.
fn as_server_user(program: &Path) -> Command {
    if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) -> Result<Output, String> {
    let out = command.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Runs `sql` with psql on `port` (database `db`) and returns its unaligned output.
pub fn psql(port: u16, db: &str, sql: &str) -> Result<String, String> {
    let mut c = Command::new("psql");
    c.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        "postgres",
        "-d",
        db,
    ])
    .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]);
    run(c, "psql").map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// One server of the pair: its data directory and port.
pub struct Server {
    pub port: u16,
    data: PathBuf,
    log: PathBuf,
}

impl Server {
    /// Starts it and waits until it accepts connections.
    pub fn start(&self) -> Result<(), String> {
        let mut c = as_server_user(&bin("pg_ctl"));
        c.arg("-D").arg(&self.data).arg("-l").arg(&self.log);
        c.args(["-w", "-t", "60", "start"]);
        run(c, "pg_ctl start")?;
        wait(Duration::from_secs(60), || {
            psql(self.port, "postgres", "SELECT 1").is_ok()
        })
    }

    /// Stops it at once (`immediate`: the clients' connections just end).
    pub fn stop(&self) -> Result<(), String> {
        let mut c = as_server_user(&bin("pg_ctl"));
        c.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"]);
        run(c, "pg_ctl stop").map(drop)
    }

    /// Freezes every process of the server (SIGSTOP): connections stay open and nothing
    /// answers, as on a host that hangs.
    pub fn freeze(&self) -> Result<(), String> {
        self.signal("-STOP")
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) -> Result<(), String> {
        self.signal("-CONT")
    }

    fn signal(&self, signal: &str) -> Result<(), String> {
        let pid_file = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .map_err(|e| format!("postmaster.pid: {e}"))?;
        let postmaster = pid_file
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let children = Command::new("pgrep")
            .args(["-P", &postmaster])
            .output()
            .map_err(|e| format!("pgrep: {e}"))?;
        let mut pids = vec![postmaster];
        pids.extend(
            String::from_utf8_lossy(&children.stdout)
                .split_whitespace()
                .map(str::to_owned),
        );
        let mut kill = Command::new("kill");
        kill.arg(signal).args(&pids);
        run(kill, "kill").map(drop)
    }

    /// `postgres://postgres@127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// The server's log so far, for a failure message.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A primary and one streaming replica of it.
pub struct PostgresPair {
    pub primary: Server,
    pub replica: Server,
    dir: PathBuf,
}

/// Settings both servers share: loopback only, no durability (a test's data is thrown
/// away), room for every test app's pools.
const SETTINGS: &str = "listen_addresses = '127.0.0.1'
fsync = off
full_page_writes = off
max_connections = 300
shared_buffers = 32MB
wal_level = replica
max_wal_senders = 5
hot_standby = on
hot_standby_feedback = on
plan_cache_mode = force_generic_plan
";

impl PostgresPair {
    /// Makes the primary with `initdb`, a database `db` on it, and the replica with
    /// `pg_basebackup -R`; returns once the replica serves reads.
    pub fn start(db: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(random_name("strata_pg"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let server = |name: &str| -> Result<Server, String> {
            Ok(Server {
                port: free_port()?,
                data: dir.join(name),
                log: dir.join(format!("{name}.log")),
            })
        };
        let pair = Self {
            primary: server("primary")?,
            replica: server("replica")?,
            dir,
        };
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&pair.dir)
            .status();
        let mut init = as_server_user(&bin("initdb"));
        init.arg("-D").arg(&pair.primary.data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(init, "initdb")?;
        pair.configure(&pair.primary)?;
        pair.primary.start()?;
        psql(
            pair.primary.port,
            "postgres",
            &format!("CREATE DATABASE {db}"),
        )?;
        let mut backup = as_server_user(&bin("pg_basebackup"));
        backup
            .args(["-h", "127.0.0.1", "-p", &pair.primary.port.to_string()])
            .args([
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
                "-D",
            ])
            .arg(&pair.replica.data);
        run(backup, "pg_basebackup")?;
        pair.configure(&pair.replica)?;
        pair.replica.start()?;
        wait(Duration::from_secs(60), || {
            psql(pair.replica.port, db, "SELECT pg_is_in_recovery()").is_ok_and(|r| r == "t")
        })?;
        Ok(pair)
    }

    fn configure(&self, server: &Server) -> Result<(), String> {
        let conf = server.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(|e| e.to_string())?;
        text.push_str(SETTINGS);
        text.push_str(&format!(
            "port = {}\nunix_socket_directories = '{}'\n",
            server.port,
            self.dir.display()
        ));
        std::fs::write(&conf, text).map_err(|e| e.to_string())
    }

    /// Holds the replica's replay where it is (it keeps receiving the log).
    pub fn pause_replay(&self) -> Result<(), String> {
        psql(
            self.replica.port,
            "postgres",
            "SELECT pg_wal_replay_pause()",
        )
        .map(drop)
    }

    /// Lets the replica replay again.
    pub fn resume_replay(&self) -> Result<(), String> {
        psql(
            self.replica.port,
            "postgres",
            "SELECT pg_wal_replay_resume()",
        )
        .map(drop)
    }

    /// Waits until the replica has replayed everything the primary has written.
    pub fn wait_caught_up(&self) -> Result<(), String> {
        let target = psql(self.primary.port, "postgres", "SELECT pg_current_wal_lsn()")?;
        wait(Duration::from_secs(60), || {
            psql(
                self.replica.port,
                "postgres",
                &format!("SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"),
            )
            .is_ok_and(|r| r == "t")
        })
    }
}

impl Drop for PostgresPair {
    fn drop(&mut self) {
        let _ = self.replica.stop();
        let _ = self.primary.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits (bounded) until each replica at `replicas` (connection URLs) has replayed what
/// the primary at `primary` had written when this was called.
pub fn wait_replayed(primary: &str, replicas: &[String]) -> Result<(), String> {
    if replicas.is_empty() {
        return Ok(());
    }
    let target = psql_url(primary, "SELECT pg_current_wal_insert_lsn()")?;
    for replica in replicas {
        let sql = format!("SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn");
        wait(Duration::from_secs(60), || {
            psql_url(replica, &sql).is_ok_and(|r| r == "t")
        })?;
    }
    Ok(())
}

/// Runs `sql` with psql on the database a connection URL names.
fn psql_url(url: &str, sql: &str) -> Result<String, String> {
    let mut c = Command::new("psql");
    c.arg(url)
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]);
    run(c, "psql").map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// Waits (bounded) until `ok` holds.
pub fn wait(limit: Duration, ok: impl Fn() -> bool) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("not within {limit:?}"))
}
