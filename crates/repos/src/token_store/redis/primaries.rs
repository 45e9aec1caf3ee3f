//! Commands for every primary of a cluster: the start-up version check and `/ready`. Each
//! goes over a short-lived connection of its own, to a seed for the slot map and then to
//! each primary it names, all at once under the command timeout. The data connection is
//! not used: its fan-out skips a node it holds no connection to (so it cannot say "every
//! primary answered"), and a command routed to such a node makes it reconnect every node,
//! stalling the requests of its thread meanwhile.

use std::time::Duration;

use deadpool_redis::redis::{
    self, AsyncConnectionConfig, Cmd, ConnectionAddr, ConnectionInfo, Value,
};
use tokio::task::JoinSet;

use super::RedisTokenStore;
use crate::RepoError;

fn unavailable(detail: String) -> RepoError {
    RepoError::Unavailable {
        what: "token store",
        detail,
    }
}

/// `seed`'s credentials and TLS settings, at `host:port`.
pub(super) fn at(seed: &ConnectionInfo, host: &str, port: u16) -> ConnectionInfo {
    let addr = match seed.addr().clone() {
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure,
            tls_params,
        },
        _ => ConnectionAddr::Tcp(host.to_owned(), port),
    };
    seed.clone().set_addr(addr)
}

fn host_port(info: &ConnectionInfo) -> String {
    match info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            format!("{host}:{port}")
        }
        other => other.to_string(),
    }
}

/// One command on a connection made for it, within `timeout` in all.
async fn ask(info: ConnectionInfo, cmd: Cmd, timeout: Duration) -> Result<Value, RepoError> {
    let node = host_port(&info);
    let once = async {
        let client = redis::Client::open(info)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        cmd.query_async::<Value>(&mut conn).await
    };
    match tokio::time::timeout(timeout, once).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e))
            if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError) =>
        {
            Err(RepoError::TokenStore(format!("{node}: {e}")))
        }
        Ok(Err(e)) => Err(unavailable(format!("{node}: {e}"))),
        Err(_) => Err(unavailable(format!("{node}: no answer within {timeout:?}"))),
    }
}

impl RedisTokenStore {
    /// `cmd`'s reply from every primary (from the one server, off a cluster). The first
    /// node that does not answer is the error, named in its detail.
    pub(super) async fn on_every_primary(
        &self,
        op: &'static str,
        cmd: Cmd,
    ) -> Result<Vec<Value>, RepoError> {
        let Some(seeds) = self.conn.cluster_seeds() else {
            let reply = self
                .run(op, |mut c| async move { cmd.query_async(&mut c).await })
                .await?;
            return Ok(vec![reply]);
        };
        let timeout = self.conn.command_timeout();
        let mut map = None;
        let mut last = unavailable("no seed node in REDIS_CLUSTER_URLS".into());
        for seed in seeds {
            let mut slots = redis::cmd("CLUSTER");
            slots.arg("SLOTS");
            match ask(seed.clone(), slots, timeout).await {
                Ok(reply) => {
                    map = Some((seed, reply));
                    break;
                }
                Err(e) => last = e,
            }
        }
        let (seed, slots) = map.ok_or(last)?;
        let nodes = primaries(&slots, seed_host(seed)).map_err(unavailable)?;
        let mut asked = JoinSet::new();
        for (i, (host, port)) in nodes.into_iter().enumerate() {
            let (info, cmd) = (at(seed, &host, port), cmd.clone());
            asked.spawn(async move { (i, ask(info, cmd, timeout).await) });
        }
        let mut replies = Vec::new();
        while let Some(done) = asked.join_next().await {
            let (i, reply) = done.map_err(|e| RepoError::TokenStore(e.to_string()))?;
            replies.push((i, reply?));
        }
        replies.sort_by_key(|(i, _)| *i);
        Ok(replies.into_iter().map(|(_, r)| r).collect())
    }
}

fn seed_host(seed: &ConnectionInfo) -> String {
    match seed.addr() {
        ConnectionAddr::Tcp(host, _) | ConnectionAddr::TcpTls { host, .. } => host.clone(),
        _ => String::new(),
    }
}

/// The distinct primaries of a `CLUSTER SLOTS` reply, which must cover every slot.
fn primaries(slots: &Value, seed: String) -> Result<Vec<(String, u16)>, String> {
    let mut nodes: Vec<(String, u16)> = slot_ranges(slots, &seed)?
        .into_iter()
        .map(|r| (r.host, r.port))
        .collect();
    nodes.sort();
    nodes.dedup();
    Ok(nodes)
}

/// Slots `first..=last` and the address of their primary.
pub(super) struct SlotRange {
    pub(super) first: u16,
    pub(super) last: u16,
    pub(super) host: String,
    pub(super) port: u16,
}

/// The ranges of a `CLUSTER SLOTS` reply (`[[first, last, [host, port, id], replica…], …]`),
/// which must cover every slot. An empty host (or `0.0.0.0`, `::`) means the node that
/// answered, `seed` (an error when `seed` is empty: unknown); a primary without an address
/// (`?` or null) makes the cluster not ready.
pub(super) fn slot_ranges(slots: &Value, seed: &str) -> Result<Vec<SlotRange>, String> {
    let Value::Array(ranges) = slots else {
        return Err("CLUSTER SLOTS did not answer a list".into());
    };
    let mut out = Vec::new();
    for range in ranges {
        let Value::Array(fields) = range else {
            return Err("a CLUSTER SLOTS range is not a list".into());
        };
        let number = |v: Option<&Value>| match v {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        };
        let (Some(first), Some(last)) = (number(fields.first()), number(fields.get(1))) else {
            return Err("a CLUSTER SLOTS range has no bounds".into());
        };
        let Some(Value::Array(node)) = fields.get(2) else {
            return Err(format!("slots {first}-{last} have no primary"));
        };
        let host: Option<String> = node
            .first()
            .and_then(|h| redis::from_redis_value(h.clone()).ok());
        let port: Option<u16> = node
            .get(1)
            .and_then(|p| redis::from_redis_value(p.clone()).ok());
        let (Some(host), Some(port)) = (host, port) else {
            return Err(format!(
                "the primary of slots {first}-{last} has no address"
            ));
        };
        let host = match host.as_str() {
            "?" => None,
            "" | "0.0.0.0" | "::" => Some(seed.to_owned()).filter(|s| !s.is_empty()),
            _ => Some(host),
        };
        let Some(host) = host else {
            return Err(format!(
                "the primary of slots {first}-{last} has no address"
            ));
        };
        let (Ok(first), Ok(last)) = (u16::try_from(first), u16::try_from(last)) else {
            return Err(format!("slots {first}-{last} are out of range"));
        };
        if first > last || last >= 16_384 {
            return Err(format!("slots {first}-{last} are out of range"));
        }
        out.push(SlotRange {
            first,
            last,
            host,
            port,
        });
    }
    let mut covered: Vec<(u16, u16)> = out.iter().map(|r| (r.first, r.last)).collect();
    covered.sort();
    let mut next = 0u32;
    for (first, last) in covered {
        if u32::from(first) > next {
            break;
        }
        next = next.max(u32::from(last) + 1);
    }
    if next < 16_384 {
        return Err(format!("slot {next} has no primary"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: i64) -> Value {
        Value::Array(vec![
            Value::BulkString(host.as_bytes().to_vec()),
            Value::Int(port),
            Value::BulkString(b"id".to_vec()),
        ])
    }

    fn range(lo: i64, hi: i64, primary: Value) -> Value {
        Value::Array(vec![
            Value::Int(lo),
            Value::Int(hi),
            primary,
            node("10.0.0.9", 7009),
        ])
    }

    fn seed() -> String {
        "10.0.0.1".into()
    }

    #[test]
    fn the_primaries_are_the_first_node_of_each_range_once_each() {
        let slots = Value::Array(vec![
            range(0, 99, node("10.0.0.1", 7000)),
            range(100, 16_000, node("10.0.0.2", 7001)),
            range(16_001, 16_383, node("10.0.0.1", 7000)),
        ]);
        assert_eq!(
            primaries(&slots, seed()),
            Ok(vec![("10.0.0.1".into(), 7000), ("10.0.0.2".into(), 7001)])
        );
    }

    #[test]
    fn an_empty_host_is_the_node_that_answered() {
        let slots = Value::Array(vec![range(0, 16_383, node("", 7000))]);
        assert_eq!(
            primaries(&slots, seed()),
            Ok(vec![("10.0.0.1".into(), 7000)])
        );
    }

    #[test]
    fn a_primary_without_an_address_or_an_uncovered_slot_is_not_ready() {
        let unknown = Value::Array(vec![range(0, 16_383, node("?", 7000))]);
        assert!(primaries(&unknown, seed()).is_err());
        let null = Value::Array(vec![range(
            0,
            16_383,
            Value::Array(vec![Value::Nil, Value::Int(7000)]),
        )]);
        assert!(primaries(&null, seed()).is_err());
        let gap = Value::Array(vec![
            range(0, 99, node("10.0.0.1", 7000)),
            range(200, 16_383, node("10.0.0.2", 7001)),
        ]);
        assert_eq!(
            primaries(&gap, seed()),
            Err("slot 100 has no primary".into())
        );
        assert!(primaries(&Value::Nil, seed()).is_err());
    }
}
