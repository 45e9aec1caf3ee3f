//! A raw HTTP/1.1 client: every byte of the request line, the headers and the body is the
//! test's (no URL normalisation, no header validation, bodies of any size, chunked or
//! with a lying `Content-Length`), and every answer is read in full.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

/// How the body goes out.
#[derive(Debug, Clone)]
pub enum Body {
    None,
    /// With a `Content-Length` that tells the truth.
    Bytes(Vec<u8>),
    /// `Transfer-Encoding: chunked`, in 8 KiB chunks.
    Chunked(Vec<u8>),
    /// A `Content-Length` header and no body at all.
    DeclaredOnly(u64),
}

/// One request, exactly as it goes on the wire.
#[derive(Debug, Clone)]
pub struct Req {
    /// What the case is, for failure messages.
    pub what: String,
    /// The documented operation (`PATCH /api/tasks/{id}`) the request attacks, where its
    /// target may not show it (`/api/tasks//<id>`); else the target's own route counts.
    pub aimed_at: Option<String>,
    pub method: &'static str,
    /// Path and query, raw bytes.
    pub target: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Body,
}

impl Req {
    /// A request with no headers and no body.
    pub fn new(method: &'static str, target: impl Into<Vec<u8>>) -> Self {
        let target = target.into();
        Req {
            what: format!("{method} {}", shorten(&target)),
            aimed_at: None,
            method,
            target,
            headers: Vec::new(),
            body: Body::None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// `Authorization: Bearer <token>`, if there is a token.
    pub fn bearer(self, token: Option<&str>) -> Self {
        match token {
            Some(t) => self.header("Authorization", format!("Bearer {t}")),
            None => self,
        }
    }

    /// A body with `Content-Type: application/json`.
    pub fn json_bytes(self, bytes: impl Into<Vec<u8>>) -> Self {
        let mut r = self.header("Content-Type", "application/json");
        r.body = Body::Bytes(bytes.into());
        r
    }

    /// A JSON value as the body.
    pub fn json(self, v: &Value) -> Self {
        self.json_bytes(v.to_string())
    }

    /// Any body, as is.
    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// Names the documented operation this request attacks (`Op::name`).
    pub fn aimed_at(mut self, op: impl Into<String>) -> Self {
        self.aimed_at = Some(op.into());
        self
    }

    /// Replaces the description shown on failure.
    pub fn what(mut self, what: impl Into<String>) -> Self {
        self.what = what.into();
        self
    }
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The media type, lower-cased, without parameters.
    pub fn media_type(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// The body as JSON (`Null` if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as text, for messages.
    pub fn text(&self) -> String {
        shorten(&self.body)
    }
}

/// At most 300 characters of `bytes`, lossily.
pub fn shorten(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.chars().count() > 300 {
        let head: String = s.chars().take(300).collect();
        format!("{head}… ({} bytes)", bytes.len())
    } else {
        s.into_owned()
    }
}

/// Percent-encodes every byte outside the unreserved set, for a path segment or a query
/// value.
pub fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Sends `req` to `addr` (`host:port`) on a fresh connection and reads the whole answer.
pub fn send(addr: &str, req: &Req) -> Result<Resp, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    head.extend_from_slice(req.method.as_bytes());
    head.push(b' ');
    head.extend_from_slice(&req.target);
    head.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in &req.headers {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    let body: Vec<u8> = match &req.body {
        Body::None => Vec::new(),
        Body::Bytes(b) => {
            head.extend_from_slice(format!("Content-Length: {}\r\n", b.len()).as_bytes());
            b.clone()
        }
        Body::Chunked(b) => {
            head.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            let mut out = Vec::new();
            for chunk in b.chunks(8192) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            out
        }
        Body::DeclaredOnly(n) => {
            head.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes());
            Vec::new()
        }
    };
    head.extend_from_slice(b"\r\n");
    stream
        .write_all(&head)
        .map_err(|e| format!("writing the head: {e}"))?;
    // The body goes out from another thread while this one reads: the server may answer
    // (413) and close before it has read a large body; a write error then is expected.
    let writer = {
        let mut w = stream.try_clone().map_err(|e| e.to_string())?;
        std::thread::spawn(move || {
            let _ = w.write_all(&body);
            let _ = w.flush();
        })
    };
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if complete(&raw) {
                    break;
                }
            }
            Err(e) if !raw.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(format!("reading the answer: {e}")),
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
    parse(&raw)
}

/// Whether `raw` holds a whole answer (headers and a `Content-Length` body).
fn complete(raw: &[u8]) -> bool {
    let Some(end) = find(raw, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    matches!(len, Some(n) if raw.len() >= end + 4 + n)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse(raw: &[u8]) -> Result<Resp, String> {
    let end = find(raw, b"\r\n\r\n").ok_or_else(|| {
        format!(
            "no complete answer (connection closed after {} bytes: {:?})",
            raw.len(),
            shorten(raw)
        )
    })?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        body = dechunk(&body);
    } else if let Some(n) = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(n);
    }
    Ok(Resp {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = find(b, b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..i])
                .split(';')
                .next()
                .unwrap_or("")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 || b.len() < i + 2 + size {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[(i + 4 + size).min(b.len())..];
    }
    out
}
