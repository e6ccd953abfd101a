//! The API's connection handling: a header-read (and keep-alive idle) timeout, a bound on
//! each request, and a cap on open connections below the process's file-descriptor limit,
//! so that idle or slow clients can neither exhaust the descriptors the daemon needs for
//! Docker, libp2p and its store, nor lock out a real client.
//!
//! `axum::serve` offers none of these, so connections are served here with hyper's own
//! HTTP/1 connection builder (already in the tree under axum), which implements the header
//! timeout; the cap and the eviction of idle connections are this module's.
//!
//! At the cap a new connection is still accepted and the oldest connection with no request
//! in flight is closed instead: an attacker holding idle connections loses them one by one
//! to each new client, while a client that sends its request at once is served. Only when
//! every connection is busy is the new one closed.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{oneshot, watch};
use tower::ServiceExt;

/// A client must send a request's headers within this long of connecting or of its
/// previous response (hyper's header timer also runs while a kept-alive connection waits).
/// 10 s: headers are at most a few KB, which any client sends in well under a second; an
/// idle connection costs a descriptor, so it is not kept longer than that.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A whole request (body read and answer) is bounded by this: a 1 MB body at a slow
/// 100 KB/s takes 10 s, and every answer is computed in memory by the service task.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Descriptors left for everything but the API: Docker connections (one per concurrent
/// engine request; starts, pulls and probes run a few dozen at once at most), libp2p
/// (its connection limit is the peer count, tens to a couple of hundred), the store's
/// files, logs, the benchmark. 512 covers these with room.
pub const FD_RESERVE: u64 = 512;
/// Bounds of the connection cap: no fewer than this many (an operator's CLI, the
/// Prometheus scraper, the ingress poller and their retries)…
pub const MIN_CONNECTIONS: usize = 32;
/// …and no more than this many, however high the descriptor limit.
pub const MAX_CONNECTIONS: usize = 1024;

/// Open API connections allowed with a soft descriptor limit of `nofile`.
pub fn connection_cap(nofile: u64) -> usize {
    let room = nofile.saturating_sub(FD_RESERVE);
    usize::try_from(room)
        .unwrap_or(MAX_CONNECTIONS)
        .clamp(MIN_CONNECTIONS, MAX_CONNECTIONS)
}

/// The process's soft descriptor limit (`RLIMIT_NOFILE`), or 1024 (Linux's usual default)
/// when it cannot be read or is unlimited.
pub fn nofile_limit() -> u64 {
    let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    lim.current.unwrap_or(1024)
}

/// Connection-handling settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    /// The defaults above, the cap from this process's descriptor limit.
    pub fn for_this_process() -> Limits {
        Limits {
            header_timeout: HEADER_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            max_connections: connection_cap(nofile_limit()),
        }
    }
}

/// One open connection: requests in flight, and how to close it.
struct Open {
    busy: Arc<AtomicUsize>,
    close: oneshot::Sender<()>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    /// By id, which is the accept order: the first idle entry is the oldest idle one.
    open: BTreeMap<u64, Open>,
}

/// Serves `router` on `listener` with `limits` until `shutdown` completes, then lets open
/// requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(
        max_connections = limits.max_connections,
        header_timeout_s = limits.header_timeout.as_secs(),
        "API connection limits"
    );
    let table = Arc::new(Mutex::new(Table::default()));
    // Closed (dropped) at shutdown: every connection then shuts down gracefully.
    let (stop_tx, stop_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE/ENFILE and friends: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some((id, busy, close_rx)) = admit(&table, limits.max_connections) else {
            tracing::debug!("API connection refused: every connection is busy");
            drop(stream);
            continue;
        };
        let service = router_for(router.clone(), busy, limits);
        let table = table.clone();
        let stop_rx = stop_rx.clone();
        tokio::spawn(async move {
            serve_connection(stream, service, limits, close_rx, stop_rx).await;
            table
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .open
                .remove(&id);
        });
    }
    drop(stop_tx);
    // Wait for open connections to finish their requests (bounded by the request timeout).
    let deadline = tokio::time::Instant::now() + limits.request_timeout;
    while !table
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .open
        .is_empty()
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Makes room for a new connection: below the cap, just registers it; at the cap, closes
/// the oldest connection with nothing in flight, or refuses the new one when there is none.
fn admit(
    table: &Mutex<Table>,
    cap: usize,
) -> Option<(u64, Arc<AtomicUsize>, oneshot::Receiver<()>)> {
    let mut t = table.lock().unwrap_or_else(|e| e.into_inner());
    if t.open.len() >= cap {
        let idle = t
            .open
            .iter()
            .find(|(_, o)| o.busy.load(Ordering::Acquire) == 0)
            .map(|(&id, _)| id)?;
        if let Some(o) = t.open.remove(&idle) {
            let _ = o.close.send(());
        }
    }
    let id = t.next_id;
    t.next_id += 1;
    let busy = Arc::new(AtomicUsize::new(0));
    let (close, close_rx) = oneshot::channel();
    t.open.insert(
        id,
        Open {
            busy: busy.clone(),
            close,
        },
    );
    Some((id, busy, close_rx))
}

/// The router as a hyper service that counts requests in flight and bounds each one.
fn router_for(
    router: Router,
    busy: Arc<AtomicUsize>,
    limits: Limits,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send,
> + Clone
+ Send
+ 'static {
    hyper::service::service_fn(move |req: Request<Incoming>| {
        let router = router.clone();
        let busy = busy.clone();
        async move {
            busy.fetch_add(1, Ordering::AcqRel);
            let call = router.oneshot(req.map(Body::new));
            let answer = match tokio::time::timeout(limits.request_timeout, call).await {
                Ok(Ok(r)) => r,
                Ok(Err(never)) => match never {},
                Err(_) => (
                    StatusCode::REQUEST_TIMEOUT,
                    "request not completed within the API's request timeout",
                )
                    .into_response(),
            };
            busy.fetch_sub(1, Ordering::AcqRel);
            Ok(answer)
        }
    })
}

async fn serve_connection<S>(
    stream: tokio::net::TcpStream,
    service: S,
    limits: Limits,
    close_rx: oneshot::Receiver<()>,
    mut stop_rx: watch::Receiver<()>,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let mut close_rx = std::pin::pin!(close_rx);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(error = %e, "API connection ended");
                }
                return;
            }
            // Evicted to make room: drop the connection (and its socket) at once.
            _ = &mut close_rx => return,
            changed = stop_rx.changed(), if !stopping => {
                let _ = changed;
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_descriptors_for_the_rest() {
        assert_eq!(connection_cap(1024), 512);
        assert_eq!(connection_cap(256), MIN_CONNECTIONS);
        assert_eq!(connection_cap(65_536), MAX_CONNECTIONS);
    }

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let table = Mutex::new(Table::default());
        let (_, busy0, mut rx0) = admit(&table, 2).unwrap();
        let (_, _busy1, mut rx1) = admit(&table, 2).unwrap();
        busy0.store(1, Ordering::Release);
        // Connection 0 is busy: connection 1, the oldest idle one, is closed.
        let (_, busy2, _rx2) = admit(&table, 2).unwrap();
        assert!(rx1.try_recv().is_ok());
        assert!(rx0.try_recv().is_err());
        busy2.store(1, Ordering::Release);
        // Both busy: the newcomer is refused.
        assert!(admit(&table, 2).is_none());
    }
}
