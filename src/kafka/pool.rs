//! Connections to one broker, by purpose.
//!
//! A broker serves one request at a time per connection, so a fetch that
//! waits on the broker must never share a connection with a produce: long
//! polls get connections of their own ([`WaitPool`]), short calls share a few
//! pipelined ones ([`Pool`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::conn::Connection;
use super::error::KafkaError;
use super::security::Security;

/// The longest a new connection may take, whatever the request's deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Time left until `deadline`, capped at the connect timeout.
fn connect_budget(deadline: Instant) -> Result<Duration, KafkaError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(KafkaError::Timeout("no time left to connect".into()));
    }
    Ok(left.min(CONNECT_TIMEOUT))
}

/// A few pipelined connections shared round-robin by short requests.
pub struct Pool {
    addr: String,
    security: Security,
    slots: Vec<Mutex<Option<Connection>>>,
    next: AtomicUsize,
}

impl Pool {
    /// A pool of `size` connections to `addr`, opened on first use.
    pub fn new(addr: &str, size: usize, security: &Security) -> Pool {
        Pool {
            addr: addr.to_string(),
            security: security.clone(),
            slots: (0..size.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// A live connection, opening one if its slot is empty or broken.
    pub async fn get(&self, deadline: Instant) -> Result<Connection, KafkaError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[i].lock().await;
        if let Some(conn) = slot.as_ref().filter(|c| !c.is_broken()) {
            return Ok(conn.clone());
        }
        let conn =
            Connection::connect(&self.addr, connect_budget(deadline)?, &self.security).await?;
        *slot = Some(conn.clone());
        Ok(conn)
    }
}

/// Connections lent out one at a time to fetches that wait on the broker.
pub struct WaitPool {
    addr: String,
    security: Security,
    idle: std::sync::Mutex<Vec<Connection>>,
    permits: std::sync::Arc<Semaphore>,
}

/// A connection borrowed from a [`WaitPool`]; give it back with [`WaitPool::put`].
pub struct Lease {
    /// The connection, used by one request at a time.
    pub conn: Connection,
    _permit: OwnedSemaphorePermit,
}

impl WaitPool {
    /// At most `max` waiting fetches to `addr` at once.
    pub fn new(addr: &str, max: usize, security: &Security) -> WaitPool {
        WaitPool {
            addr: addr.to_string(),
            security: security.clone(),
            idle: std::sync::Mutex::new(Vec::new()),
            permits: std::sync::Arc::new(Semaphore::new(max.max(1))),
        }
    }

    /// Borrows a connection nobody else is using, waiting for one to be free.
    pub async fn take(&self, deadline: Instant) -> Result<Lease, KafkaError> {
        let permit = tokio::time::timeout_at(
            deadline,
            std::sync::Arc::clone(&self.permits).acquire_owned(),
        )
        .await
        .map_err(|_| KafkaError::Timeout("waiting for a free fetch connection".into()))?
        .map_err(|_| KafkaError::unreachable("shutting down"))?;
        let reuse = self.idle.lock().ok().and_then(|mut idle| {
            while let Some(c) = idle.pop() {
                if !c.is_broken() {
                    return Some(c);
                }
            }
            None
        });
        let conn = match reuse {
            Some(c) => c,
            None => {
                Connection::connect(&self.addr, connect_budget(deadline)?, &self.security).await?
            }
        };
        Ok(Lease {
            conn,
            _permit: permit,
        })
    }

    /// Returns a borrowed connection for reuse.
    pub fn put(&self, lease: Lease) {
        if !lease.conn.is_broken() {
            if let Ok(mut idle) = self.idle.lock() {
                idle.push(lease.conn);
            }
        }
    }
}
