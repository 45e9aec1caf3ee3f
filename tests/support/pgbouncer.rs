//! A private PgBouncer in transaction mode (Debian's `pgbouncer`) on a free loopback port,
//! in front of a PostgreSQL server; a test may kill and restart it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use testkit::random_name;

use crate::postgres_pair::{running_as_root, wait};

/// A pgbouncer child process and its configuration.
pub struct PgBouncer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

/// True when the `pgbouncer` program is installed.
pub fn available() -> bool {
    Command::new("pgbouncer")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The installed PgBouncer's (major, minor) version.
fn version() -> Option<(u32, u32)> {
    let out = Command::new("pgbouncer").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let number = text.lines().next()?.split_whitespace().nth(1)?;
    let mut parts = number.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

impl PgBouncer {
    /// Starts one in front of the PostgreSQL server on `upstream_port`, handing every
    /// database at most `server_connections` server connections, each to one transaction
    /// at a time (`pool_mode = transaction`).
    pub fn start(upstream_port: u16, server_connections: u32) -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| e.to_string())?;
        let dir = std::env::temp_dir().join(random_name("strata_pgbouncer"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let ini = format!(
            "[databases]\n* = host=127.0.0.1 port={upstream_port}\n\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {dir}/users.txt\n\
             pool_mode = transaction\nmax_client_conn = 2000\n\
             default_pool_size = {server_connections}\nmin_pool_size = 0\n\
             ignore_startup_parameters = extra_float_digits,options\n\
             server_login_retry = 1\nquery_wait_timeout = 5\nlogfile = {dir}/pgbouncer.log\n",
            dir = dir.display()
        );
        // From 1.21 PgBouncer can keep prepared statements per client; 0 keeps the mode
        // strata must work without (Debian's 1.18 has no such setting).
        let ini = if version().is_some_and(|v| v >= (1, 21)) {
            ini + "max_prepared_statements = 0\n"
        } else {
            ini
        };
        std::fs::write(dir.join("pgbouncer.ini"), ini).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("users.txt"), "\"postgres\" \"\"\n").map_err(|e| e.to_string())?;
        if running_as_root() {
            let _ = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status();
        }
        let mut bouncer = Self {
            port,
            dir,
            child: None,
        };
        bouncer.restart()?;
        Ok(bouncer)
    }

    /// `postgres://postgres@127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// Kills it (SIGKILL: every client connection just ends).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and waits until it accepts connections.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        let mut c = Command::new("pgbouncer");
        // It refuses to run as root; as root it is told to become `postgres`.
        if running_as_root() {
            c.args(["-u", "postgres"]);
        }
        let child = c
            .arg(self.dir.join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("pgbouncer: {e}"))?;
        self.child = Some(child);
        let port = self.port;
        wait(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .map_err(|e| format!("pgbouncer on port {port} did not start: {e}"))
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
