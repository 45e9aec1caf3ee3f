//! The real `api` binary as a child process: started with an environment of its own,
//! its log captured, stopped with a signal.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Env;

/// The binary under test: `STRATA_API_BIN`, or `target/debug/api` of this workspace
/// (`make test` builds it first).
pub fn api_binary() -> PathBuf {
    if let Ok(p) = std::env::var("STRATA_API_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("debug").join("api")
}

/// A running `api serve`.
pub struct ApiProcess {
    child: Child,
    /// Every line the process wrote to stderr (its log), so far.
    pub log: Arc<Mutex<Vec<String>>>,
    pub address: String,
}

/// What `api` printed and how it ended, for start-ups that must fail.
pub struct Outcome {
    pub status: ExitStatus,
    pub stderr: String,
    pub elapsed: Duration,
}

fn command(env: &Env, args: &[&str]) -> Command {
    let mut cmd = Command::new(api_binary());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.0.iter())
        .env("LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

impl ApiProcess {
    /// Starts `api serve` and waits (at most `within`) for its "listening" log line, which
    /// carries the port it bound.
    pub fn start(env: &Env, within: Duration) -> Result<ApiProcess, String> {
        let mut child = command(env, &["serve"])
            .spawn()
            .map_err(|e| format!("spawn {:?}: {e}", api_binary()))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = listening_port(&line) {
                    let _ = tx.send(port);
                }
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        match rx.recv_timeout(within) {
            Ok(port) => Ok(ApiProcess {
                child,
                log,
                address: format!("http://127.0.0.1:{port}"),
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let lines = log.lock().unwrap_or_else(|p| p.into_inner()).join("\n");
                Err(format!(
                    "api did not report listening within {within:?}; log:\n{lines}"
                ))
            }
        }
    }

    /// `address` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (graceful shutdown).
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
    }

    /// Waits at most `within` for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Every log line so far, joined.
    pub fn log_text(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn listening_port(line: &str) -> Option<u16> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    // Event fields are flattened into the line (older builds nested them under "fields").
    let fields = if v.get("fields").is_some() {
        &v["fields"]
    } else {
        &v
    };
    if fields["message"] != "listening" {
        return None;
    }
    fields["port"].as_u64().and_then(|p| u16::try_from(p).ok())
}

/// Runs `api <args>` to completion (at most `within`), for start-ups that must fail.
pub fn run_to_exit(env: &Env, args: &[&str], within: Duration) -> Result<Outcome, String> {
    run_to_exit_in(env, args, within, None)
}

/// [`run_to_exit`] in the working directory `cwd`.
pub fn run_to_exit_in(
    env: &Env,
    args: &[&str],
    within: Duration,
    cwd: Option<&std::path::Path>,
) -> Result<Outcome, String> {
    let start = Instant::now();
    let mut cmd = command(env, args);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let stderr = reader.join().unwrap_or_default();
            return Ok(Outcome {
                status,
                stderr,
                elapsed: start.elapsed(),
            });
        }
        if start.elapsed() > within {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "api {args:?} still running after {within:?}: it hangs"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
