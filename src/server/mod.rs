//! The listener: accepts connections up to a limit, serves each with hyper,
//! cuts off clients that are too slow (see [`client_io`]), and shuts down
//! gracefully, finishing requests in flight.

mod client_io;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::http::{handle, App, BearerToken, Browsers, Limits, Unflushed};
use crate::kafka::{Cluster, ClusterConfig, Security};
use crate::metrics::Metrics;
use crate::records::get::GroupTurns;
use client_io::ClientIo;

/// A bound, not yet serving, instance of the service.
pub struct Server {
    listener: TcpListener,
    app: Arc<App>,
    /// Bounds open connections so a flood of clients cannot exhaust memory or
    /// file descriptors; further clients wait in the accept backlog.
    connections: Arc<Semaphore>,
    shutdown_timeout: std::time::Duration,
    client_timeout: std::time::Duration,
}

/// The largest request head (request line and headers) a client may send;
/// beyond it, 431. Also what a connection buffers of a request at most. A
/// path with the longest group id (4096 bytes), percent-encoded, fits.
const MAX_HEAD_BYTES: usize = 64 * 1024;

impl Server {
    /// Binds the listen address of `config`. Flags that cannot work (see
    /// [`Config::check`], and the security flags) are an `InvalidInput` error.
    pub async fn bind(config: &Config) -> std::io::Result<Server> {
        let invalid = |e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
        config.check().map_err(invalid)?;
        let security = config.security.load().map_err(|e| invalid(e.to_string()))?;
        Server::bind_secured(config, security).await
    }

    /// Binds the listen address of `config`, with the Kafka security
    /// settings already loaded from its flags.
    pub async fn bind_secured(config: &Config, security: Security) -> std::io::Result<Server> {
        let registry = config
            .schema_registry()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(config.listen).await?;
        let cluster = Cluster::with_security(
            ClusterConfig {
                bootstrap: config.bootstrap_servers.clone(),
            },
            security,
        );
        Ok(Server {
            listener,
            app: Arc::new(App {
                cluster,
                limits: Limits {
                    body_bytes: config.max_body_bytes,
                    records_per_request: config.max_records_per_request,
                    limit: config.max_limit,
                    timeout: config.max_timeout,
                    response_bytes: config.max_response_bytes,
                    client_timeout: config.client_timeout,
                    scan_records: config.max_scan_records,
                    stream_duration: config.max_stream_duration,
                },
                read_only: config.read_only,
                token: config.auth_token().map(BearerToken::new),
                requests: Arc::new(Semaphore::new(config.max_concurrent_requests)),
                metrics: Arc::new(Metrics::new()),
                background: tokio_util::task::TaskTracker::new(),
                browsers: Browsers::new(
                    config.listen.ip().is_loopback(),
                    &config.cors_allowed_origins,
                    &config.allowed_hosts,
                ),
                group_turns: GroupTurns::default(),
                registry,
                shutdown: Default::default(),
            }),
            connections: Arc::new(Semaphore::new(config.max_connections.max(1))),
            shutdown_timeout: config.shutdown_timeout,
            client_timeout: config.client_timeout,
        })
    }

    /// The shared Kafka handle this server uses.
    pub fn cluster(&self) -> crate::kafka::Cluster {
        self.app.cluster.clone()
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and waits for
    /// requests in flight (up to the shutdown timeout).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = Arc::clone(&self.connections).acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let (stream, _) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            stream.set_nodelay(true).ok();
            let app = Arc::clone(&self.app);
            let unflushed = Unflushed::default();
            let io = ClientIo::new(stream, self.client_timeout, unflushed.clone());
            let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(unflushed.clone());
                handle(Arc::clone(&app), req)
            });
            // The head timeout runs from the connection's start and from the
            // end of each response: silent, dribbling and idle keep-alive
            // clients all give their connection slot back within it.
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(self.client_timeout)
                .max_buf_size(MAX_HEAD_BYTES)
                .keep_alive(true)
                .serve_connection(TokioIo::new(io), service);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                drop(permit);
            });
        }
        tracing::info!("shutting down: finishing requests in flight and async writes");
        // Streams end now (with their last event), so their clients can resume elsewhere.
        self.app.shutdown.cancel();
        // Requests first, then the async writes they started (a request may
        // still be starting one), all within the one bound.
        let background = self.app.background.clone();
        let finish = async {
            graceful.shutdown().await;
            background.close();
            background.wait().await;
        };
        if tokio::time::timeout(self.shutdown_timeout, finish)
            .await
            .is_err()
        {
            tracing::warn!(
                async_writes = self.app.background.len(),
                "work still in flight after the shutdown timeout; exiting anyway"
            );
        } else {
            tracing::info!("shut down cleanly");
        }
    }
}
