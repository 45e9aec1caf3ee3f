//! A real SMTP server for the mail tests: Python's `aiosmtpd` (Debian `python3-aiosmtpd`)
//! on a free loopback port, storing what it receives in a Maildir the test reads. It can
//! be stopped and started again on the same port, to play an SMTP outage.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Python that has `aiosmtpd` (`STRATA_TEST_PYTHON`, else Debian's).
fn python() -> String {
    std::env::var("STRATA_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

/// Whether `aiosmtpd` can run here.
pub fn available() -> bool {
    Command::new(python())
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// An `aiosmtpd` child process and its Maildir.
pub struct SmtpServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl SmtpServer {
    /// Starts one on a free port and waits until it accepts connections.
    pub fn start() -> Result<SmtpServer, String> {
        // A random port below the kernel's ephemeral range, so a server stopped for an
        // outage does not see its port handed to another test's server meanwhile.
        let port = (0..100)
            .map(|_| rand::random_range(20_000..30_000u16))
            .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
            .ok_or("no free port for the SMTP server")?;
        let dir = std::env::temp_dir().join(format!("strata-smtp-{}", uuid::Uuid::new_v4()));
        let mut server = SmtpServer {
            port,
            dir,
            child: None,
        };
        server.restart()?;
        Ok(server)
    }

    /// `smtp://127.0.0.1:<port>` (plain: a loopback relay).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops the server; connections are refused until [`SmtpServer::restart`].
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port, keeping what it received.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{} -m aiosmtpd: {e}", python()))?;
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("aiosmtpd on port {} did not start", self.port))
    }

    /// Every message received so far, as raw text.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.dir.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(e.path()) {
                    out.push(text);
                }
            }
        }
        out
    }

    /// The messages to `to`, once at least `n` have arrived (waits up to 20 s).
    pub fn wait_for(&self, to: &str, n: usize) -> Vec<String> {
        let start = Instant::now();
        loop {
            let got: Vec<String> = self
                .messages()
                .into_iter()
                .filter(|m| recipient(m).as_deref() == Some(to))
                .collect();
            if got.len() >= n || start.elapsed() > Duration::from_secs(20) {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The `To:` address of a raw message.
pub fn recipient(message: &str) -> Option<String> {
    let line = message
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("to:"))?;
    let value = line[3..].trim();
    Some(
        value
            .rsplit_once('<')
            .map_or(value, |(_, a)| a.trim_end_matches('>'))
            .to_owned(),
    )
}

/// A quoted-printable body decoded: soft line breaks joined, `=XX` turned into its byte.
fn unquote(message: &str) -> String {
    let joined = message.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `token=` of the first link in a raw message.
pub fn token(message: &str) -> Option<String> {
    let text = unquote(message);
    let at = text.find("token=")? + "token=".len();
    Some(
        text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect(),
    )
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
