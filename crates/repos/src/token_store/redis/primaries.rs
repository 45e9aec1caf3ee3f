//! Commands for every primary of a cluster: the start-up version check and `/ready`. The
//! cluster client's own fan-out skips a node it holds no connection to, so it cannot say
//! "every primary answered"; here each primary of the cluster's slot map is asked by address.

use deadpool_redis::redis::{self, Cmd, Value};

use super::RedisTokenStore;
use crate::RepoError;

impl RedisTokenStore {
    /// `cmd`'s reply from every primary in turn (from the one server, off a cluster). The
    /// first node that does not answer is the error, named in its detail.
    pub(super) async fn on_every_primary(
        &self,
        op: &'static str,
        cmd: Cmd,
    ) -> Result<Vec<Value>, RepoError> {
        if !self.conn.is_cluster() {
            let reply = self
                .run(op, |mut c| async move { cmd.query_async(&mut c).await })
                .await?;
            return Ok(vec![reply]);
        }
        let slots: Value = self
            .run("cluster_slots", |mut c| async move {
                redis::cmd("CLUSTER").arg("SLOTS").query_async(&mut c).await
            })
            .await?;
        let nodes = primaries(&slots);
        if nodes.is_empty() {
            return Err(RepoError::Unavailable {
                what: "token store",
                detail: "the cluster serves no slot".into(),
            });
        }
        let mut replies = Vec::with_capacity(nodes.len());
        for (host, port) in nodes {
            let cmd = cmd.clone();
            let node = format!("{host}:{port}");
            let reply = self
                .run(
                    op,
                    |mut c| async move { c.query_node(&cmd, host, port).await },
                )
                .await
                .map_err(|e| match e {
                    RepoError::Unavailable { what, detail } => RepoError::Unavailable {
                        what,
                        detail: format!("primary {node}: {detail}"),
                    },
                    other => other,
                })?;
            replies.push(reply);
        }
        Ok(replies)
    }
}

/// The distinct primaries of a `CLUSTER SLOTS` reply: `[[first, last, [host, port, id],
/// replica…], …]`.
fn primaries(slots: &Value) -> Vec<(String, u16)> {
    let Value::Array(ranges) = slots else {
        return Vec::new();
    };
    let mut nodes: Vec<(String, u16)> = ranges
        .iter()
        .filter_map(|range| match range {
            Value::Array(fields) => match fields.get(2) {
                Some(Value::Array(node)) => {
                    let host: String = redis::from_redis_value(node.first()?.clone()).ok()?;
                    let port: u16 = redis::from_redis_value(node.get(1)?.clone()).ok()?;
                    Some((host, port))
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    nodes.sort();
    nodes.dedup();
    nodes
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

    #[test]
    fn the_primaries_are_the_first_node_of_each_range_once_each() {
        let range = |lo, hi, primary: Value, replica: Value| {
            Value::Array(vec![Value::Int(lo), Value::Int(hi), primary, replica])
        };
        let slots = Value::Array(vec![
            range(0, 99, node("10.0.0.1", 7000), node("10.0.0.4", 7003)),
            range(100, 199, node("10.0.0.2", 7001), node("10.0.0.5", 7004)),
            range(200, 299, node("10.0.0.1", 7000), node("10.0.0.4", 7003)),
        ]);
        assert_eq!(
            primaries(&slots),
            vec![("10.0.0.1".into(), 7000), ("10.0.0.2".into(), 7001)]
        );
        assert!(primaries(&Value::Nil).is_empty());
    }
}
