//! Positions in PostgreSQL's write-ahead log: where the primary has written to, and how far
//! a replica has replayed.

use diesel::sql_types::BigInt;
use diesel::{QueryableByName, RunQueryDsl};

use crate::{AnyConnection, DbError};

/// A point in the primary's write-ahead log (an LSN, as a byte offset). A replica that has
/// replayed up to a position shows every transaction committed before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WalPosition(pub u64);

/// What a read that a replica may serve needs to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Only the primary will do.
    Primary,
    /// Any replica within the lag limit.
    AnyReplica,
    /// A replica that has replayed at least this far: the reader's own last write.
    Since(WalPosition),
}

impl Freshness {
    /// The least position a replica must have replayed, or `None` for the primary only.
    pub(crate) fn replica_floor(self) -> Option<WalPosition> {
        match self {
            Freshness::Primary => None,
            Freshness::AnyReplica => Some(WalPosition(0)),
            Freshness::Since(p) => Some(p),
        }
    }
}

#[derive(QueryableByName)]
struct Lsn {
    #[diesel(sql_type = BigInt)]
    lsn: i64,
}

/// Where the primary has inserted log records to: after a commit, past that commit's
/// record even when `synchronous_commit = off` has not written it out yet.
pub(crate) fn written(conn: &mut AnyConnection) -> Result<WalPosition, DbError> {
    lsn(
        conn,
        "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint AS lsn",
    )
}

/// How far a replica has replayed; a server that is not replaying (a primary named as a
/// replica) answers with its own write position.
pub(crate) fn replayed(conn: &mut AnyConnection) -> Result<WalPosition, DbError> {
    lsn(
        conn,
        "SELECT (COALESCE(pg_last_wal_replay_lsn(), pg_current_wal_lsn()) - '0/0'::pg_lsn)::bigint AS lsn",
    )
}

fn lsn(conn: &mut AnyConnection, sql: &'static str) -> Result<WalPosition, DbError> {
    match conn {
        AnyConnection::Postgresql(c) => {
            let row: Lsn = diesel::sql_query(sql).get_result(c)?;
            Ok(WalPosition(u64::try_from(row.lsn).unwrap_or(0)))
        }
        _ => Err(DbError::Unsupported(
            "write-ahead log positions exist on PostgreSQL only",
        )),
    }
}
