//! The event log in SQLite (WAL): every accepted event is committed before its effects are
//! published, so a restart — after `kill -9` at any moment — replays exactly the accepted events.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use thiserror::Error;

use crate::event::Event;

/// A store failure.
#[derive(Debug, Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored event no longer parses (the log was edited by hand, or by another version).
    #[error("store: event {seq} is unreadable: {reason}")]
    Corrupt { seq: i64, reason: String },
}

/// The append-only event log.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the log at `path`, in WAL mode with full synchronous commits.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        Store::init(conn)
    }

    /// An in-memory log (tests).
    pub fn in_memory() -> Result<Store, StoreError> {
        Store::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a commit survives power loss, not only a process kill.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS events (
                seq INTEGER PRIMARY KEY,
                time TEXT NOT NULL,
                kind TEXT NOT NULL,
                payload TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        )?;
        Ok(Store { conn })
    }

    /// Appends one event; returns its sequence number.
    pub fn append(&mut self, event: &Event) -> Result<i64, StoreError> {
        let payload = serde_json::to_string(event).map_err(|e| StoreError::Corrupt {
            seq: -1,
            reason: e.to_string(),
        })?;
        self.conn.execute(
            "INSERT INTO events (time, kind, payload) VALUES (?1, ?2, ?3)",
            params![event.time(), event.kind(), payload],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Appends many events in one transaction (bulk loads).
    pub fn append_all(&mut self, events: &[Event]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt =
                tx.prepare("INSERT INTO events (time, kind, payload) VALUES (?1, ?2, ?3)")?;
            for event in events {
                let payload = serde_json::to_string(event).map_err(|e| StoreError::Corrupt {
                    seq: -1,
                    reason: e.to_string(),
                })?;
                stmt.execute(params![event.time(), event.kind(), payload])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every event in order, with its sequence number.
    pub fn events(&self) -> Result<Vec<(i64, Event)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, payload FROM events ORDER BY seq")?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, payload) = row?;
            let event = serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt {
                seq,
                reason: e.to_string(),
            })?;
            out.push((seq, event));
        }
        Ok(out)
    }

    /// Number of events.
    pub fn len(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?)
    }

    /// True when the log is empty.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Reads a metadata value.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Writes a metadata value.
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}
