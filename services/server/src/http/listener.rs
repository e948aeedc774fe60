//! The accept loop of a listener, with the limits a public endpoint needs against slow and crowding clients:
//! a head that does not arrive within `header_read_timeout` closes its connection; beyond `max_connections`
//! a new connection is answered 503 `TooManyConnections` and closed at once (so agents try another instance);
//! on shutdown the listener closes, idle keep-alive connections end, and requests in flight get
//! `drain_timeout` to finish before the caller moves on.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

use clusterconfig_model::error::{ArmError, codes};

/// Connection limits of one listener (from `http.*`).
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub drain_timeout: Duration,
}

/// Serves `service` on `listener` until `shutdown` turns true, then drains.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let (stream, _peer) = tokio::select! {
            _ = async { drop(shutdown.wait_for(|stop| *stop).await) } => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, most likely: give connections time to close.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream, limits.max_connections));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let handler = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            service.clone().oneshot(request.map(axum::body::Body::new))
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), handler));
        tokio::spawn(async move {
            // Errors here are the client's doing (reset, a head that timed out): nothing to report upward.
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let open = graceful.count();
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open,
            drain_timeout_ms = limits.drain_timeout.as_millis() as u64,
            "connections still open when the drain time ended"
        );
    }
    Ok(())
}

/// Answers a connection over the limit with an ARM error and closes it, without reading its request.
async fn refuse(mut stream: TcpStream, limit: usize) {
    let body = ArmError::new(
        503,
        codes::TOO_MANY_CONNECTIONS,
        format!(
            "This instance holds its limit of {limit} connections (http.max_connections); retry, another instance may take it."
        ),
    )
    .to_response();
    let body = serde_json::to_string(&body).expect("errors serialize");
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
