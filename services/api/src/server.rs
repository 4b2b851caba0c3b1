//! Serving the routes on a listener until shutdown.

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{ApiConfig, ApiDeps};
use crate::error::ApiError;
use crate::probes::Probes;

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
    warp::serve(crate::routes(config, deps))
        .incoming(listener)
        .graceful(async move { shutdown.cancelled_owned().await })
        .run()
        .await;
    tracing::info!(%addr, "api stopped");
    Ok(())
}

/// Serves only `/health`, `/ready` and `/metrics` on `listener` until `shutdown`: for
/// processes that run other roles than the api, so that every process can be probed
/// and scraped the same way.
pub async fn serve_probes(listener: TcpListener, probes: Probes, shutdown: CancellationToken) -> Result<(), ApiError> {
    let addr = listener.local_addr().map_err(ApiError::Listener)?;
    warp::serve(crate::routes::probes_only(probes))
        .incoming(listener)
        .graceful(async move { shutdown.cancelled_owned().await })
        .run()
        .await;
    tracing::info!(%addr, "probe endpoints stopped");
    Ok(())
}
