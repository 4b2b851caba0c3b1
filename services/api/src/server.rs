//! Serving the routes on a listener until shutdown, with the HTTP server's own limits
//! set: a hard cap on header count (the JSON-answered limit is lower, see
//! [`crate::HeaderLimits`]) and a deadline for a request's headers, so that a client
//! trickling bytes cannot hold a connection open for ever; a body has its own deadline
//! (`body.rs`). At most [`ApiConfig::max_connections`] connections are served at once:
//! past that the listener stops accepting until one closes, and later clients wait in
//! the kernel's backlog, so many slow clients hold a bounded amount of memory.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use warp::{Filter, Reply};

use crate::config::{ApiConfig, ApiDeps};
use crate::edge::SERVER_MAX_HEADERS;
use crate::error::ApiError;
use crate::probes::Probes;

/// How long a client has to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections a process without the api role serves at once (probes and scrapes).
const PROBE_CONNECTIONS: usize = 256;

/// Serves the API on `listener` until `shutdown` is cancelled, then stops accepting,
/// lets open requests finish and returns.
pub async fn serve(
    listener: TcpListener,
    config: ApiConfig,
    deps: ApiDeps,
    shutdown: CancellationToken,
) -> Result<(), ApiError> {
    let addr = listener.local_addr().map_err(ApiError::Listener)?;
    tracing::info!(%addr, "api listening");
    let max_connections = config.max_connections;
    run(listener, crate::routes(config, deps), shutdown, max_connections).await;
    tracing::info!(%addr, "api stopped");
    Ok(())
}

/// Serves only `/health`, `/ready` and `/metrics` on `listener` until `shutdown`: for
/// processes that run other roles than the api, so that every process can be probed
/// and scraped the same way.
pub async fn serve_probes(listener: TcpListener, probes: Probes, shutdown: CancellationToken) -> Result<(), ApiError> {
    let addr = listener.local_addr().map_err(ApiError::Listener)?;
    run(listener, crate::routes::probes_only(probes), shutdown, PROBE_CONNECTIONS).await;
    tracing::info!(%addr, "probe endpoints stopped");
    Ok(())
}

async fn run<F>(listener: TcpListener, filter: F, shutdown: CancellationToken, max_connections: usize)
where
    F: Filter<Error = Infallible> + Clone + Send + Sync + 'static,
    F::Extract: Reply,
{
    let service = warp::service(filter);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).max_headers(SERVER_MAX_HEADERS).header_read_timeout(HEADER_READ_TIMEOUT);
    let connections = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    loop {
        // A slot first: while every one is taken, nothing more is accepted.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service.clone()))
            .into_owned();
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    connections.shutdown().await;
}
