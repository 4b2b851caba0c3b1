//! The accept loop both receivers run.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::HttpConnection;

/// Accepts connections until `stop` fires, running `serve(connection)` for each as a task on
/// `tasks`. When `stop` fires, each conversation is dropped wherever it is, closing its socket,
/// and the listener is closed when this returns.
pub async fn accept_until_stopped<F, Fut>(
    listener: TcpListener,
    stop: CancellationToken,
    tasks: TaskTracker,
    mut serve: F,
) where
    F: FnMut(HttpConnection) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let conversation = serve(HttpConnection::new(stream));
                let stop = stop.clone();
                tasks.spawn(async move {
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = conversation => {}
                    }
                });
            }
            // Out of file descriptors, or a connection reset while queued: back off instead of spinning.
            Err(_) => tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            },
        }
    }
}
