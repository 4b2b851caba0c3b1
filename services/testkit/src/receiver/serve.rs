//! The receiver's server side: listening, serving each connection, and how each
//! [`Reply`] is acted out on the wire.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::net::TcpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Reply, State};
use crate::http::{accept_until_stopped, response_head, HttpConnection};

/// A listening receiver: its tasks and the token that ends them.
pub(super) struct Running {
    pub(super) addr: SocketAddr,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Running {
    /// Signals the accept loop and every connection to end, without waiting.
    pub(super) fn cancel(&self) {
        self.stop.cancel();
    }

    /// Ends the accept loop and every connection, and waits until their sockets are closed.
    pub(super) async fn shut_down(self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Binds `addr` and starts accepting connections served from `state`.
pub(super) fn listen(addr: SocketAddr, state: Arc<State>) -> io::Result<Running> {
    let socket = TcpSocket::new_v4()?;
    // Resuming on the same port must work while connections closed by `stop` sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(1024)?;
    let running = Running { addr: listener.local_addr()?, stop: CancellationToken::new(), tasks: TaskTracker::new() };
    let serve = move |mut connection: HttpConnection| {
        state.connections.fetch_add(1, Ordering::SeqCst);
        let state = state.clone();
        async move { converse(&mut connection, &state).await }
    };
    running.tasks.spawn(accept_until_stopped(listener, running.stop.clone(), running.tasks.clone(), serve));
    Ok(running)
}

/// Serves requests on one connection until either side closes it.
async fn converse(connection: &mut HttpConnection, state: &State) {
    while let Some(request) = connection.next_request().await {
        let keep_alive = request.head.keep_alive();
        // Counted in flight on its path until it has been answered (or given up).
        let (reply, in_flight) = state.record(request);
        match act_out(connection, reply, !keep_alive, in_flight.count).await {
            Ok(Next::KeepServing) => {}
            Ok(Next::Close) | Err(_) => return,
        }
    }
}

/// What happens to the connection after a reply.
enum Next {
    KeepServing,
    Close,
}

/// Bytes of every streamed body.
static FILLER: [u8; 64 * 1024] = [b'x'; 64 * 1024];

async fn act_out(connection: &mut HttpConnection, reply: Reply, close: bool, in_flight: usize) -> io::Result<Next> {
    match reply {
        Reply::Status(status) => connection.respond(status, &[], &status_body(status), close).await?,
        Reply::StatusWithBody(status, body) => connection.respond(status, &[], &body, close).await?,
        Reply::StatusWithHeaders(status, headers) => {
            connection.respond(status, &headers, &status_body(status), close).await?
        }
        Reply::Redirect(status, location) => {
            let headers = [("location".to_owned(), location)];
            connection.respond(status, &headers, &status_body(status), close).await?
        }
        Reply::Hang => {
            connection.wait_closed().await;
            return Ok(Next::Close);
        }
        Reply::Close => return Ok(Next::Close),
        Reply::Delay(delay, status) => {
            tokio::time::sleep(delay).await;
            connection.respond(status, &[], &status_body(status), close).await?
        }
        Reply::Congested { capacity, base } => {
            let beyond = u32::try_from(in_flight.saturating_sub(capacity)).unwrap_or(u32::MAX);
            tokio::time::sleep(base.saturating_mul(beyond.saturating_add(1))).await;
            connection.respond(200, &[], &status_body(200), close).await?
        }
        Reply::Drip { status, bytes, every } => {
            connection.write_all(&response_head(status, &[], bytes as u64, close)).await?;
            for _ in 0..bytes {
                tokio::time::sleep(every).await;
                connection.write_all(&FILLER[..1]).await?;
            }
        }
        Reply::Huge { status, bytes } => {
            connection.write_all(&response_head(status, &[], bytes, close)).await?;
            let mut left = bytes;
            while left > 0 {
                let chunk = FILLER.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                connection.write_all(&FILLER[..chunk]).await?;
                left -= chunk as u64;
            }
        }
    }
    Ok(if close { Next::Close } else { Next::KeepServing })
}

fn status_body(status: u16) -> Vec<u8> {
    format!("status {status}").into_bytes()
}
