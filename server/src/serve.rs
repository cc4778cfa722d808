//! The accept loop: `axum::serve` plus the connection-level limits it lacks.
//!
//! - **File descriptors.** At start the soft `RLIMIT_NOFILE` is raised to the hard one, and
//!   MAX_CONNECTIONS lowered, if need be, to leave [`RESERVED_FDS`] free (the listener, logs, the
//!   SageMaker client). Once descriptors ran out at about 1,100 half-open connections and
//!   health checks timed out.
//! - **Connection cap.** At MAX_CONNECTIONS open connections, one more is answered a fixed 503
//!   and closed at once (the kernel's backlog is no queue to sit in).
//! - **Header deadline** (HEADER_TIMEOUT_MS): a request's headers must arrive within it from
//!   their first byte, and a new connection's first byte within it from the accept. Short and
//!   separate from the request deadline: slow-loris headers and silent connections are let go.
//! - **Keep-alive** (KEEP_ALIVE_TIMEOUT_MS): between requests a connection may idle this long,
//!   longer than a load balancer's idle timeout so that the balancer closes first (an ALB that
//!   reuses a connection we just closed answers its client 502). When more than 3/4 of
//!   MAX_CONNECTIONS are open, idle connections get only the header deadline.
//! - **Write timeout** (WRITE_TIMEOUT_MS): hyper has none. [`Guarded`] fails a write or flush
//!   that makes no progress for that long, so a client that never reads its answer loses the
//!   connection and the answer's memory (once, ten such clients held 500 MB). It counts
//!   progress, not total time: a slow reader that keeps reading is served.
//! - **Drain** (DRAIN_SECONDS): when `shutdown` completes (SIGTERM), health checks answer 503
//!   (`middleware::limits::Readiness`) and every answer carries `Connection: close`, but
//!   connections are still accepted and served, so requests a load balancer sends before it
//!   notices are answered, not dropped. Connections accepted then serve one request. After the
//!   drain the listener closes, idle connections close, and requests in flight finish (each
//!   bounded by the deadlines above).
//!
//! HTTP/1.1 only (axum is built without HTTP/2 here). Not hyper-util's `auto` builder: it waits
//! for a first byte to pick a protocol, with no deadline of ours.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, header};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::config::Settings;
use crate::middleware::client::Proxies;
use crate::middleware::limits::Readiness;

/// Descriptors kept free of connections: the listener, stdio, the runtime's, the SageMaker
/// client's connection pool, a model file.
pub const RESERVED_FDS: u64 = 64;

/// The connection-level settings.
#[derive(Clone)]
pub struct Options {
    pub header_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub write_timeout: Duration,
    pub max_connections: usize,
    pub drain: Duration,
    pub proxies: Proxies,
    /// Set draining on shutdown; the health checks read it.
    pub readiness: Readiness,
}

impl Options {
    pub fn from_settings(settings: &Settings, readiness: Readiness) -> Options {
        Options {
            header_timeout: Duration::from_millis(settings.header_timeout_ms),
            keep_alive_timeout: Duration::from_millis(settings.keep_alive_timeout_ms),
            write_timeout: Duration::from_millis(settings.write_timeout_ms),
            max_connections: settings.max_connections as usize,
            drain: Duration::from_secs(settings.drain_seconds),
            proxies: Proxies {
                hops: settings.trusted_proxy_hops,
            },
            readiness,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, drains, then stops.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max_connections = fit_to_descriptors(options.max_connections);
    let shared = Arc::new(Shared {
        header_timeout: options.header_timeout,
        keep_alive_timeout: options.keep_alive_timeout,
        write_timeout: options.write_timeout,
        slots: Arc::new(Semaphore::new(max_connections)),
        busy_above: max_connections - max_connections / 4,
        max_connections,
    });
    let mut serving = http1::Builder::new();
    // The deadlines are ours ([`Guarded`]); hyper's own header timer starts when a connection
    // turns idle, so it would cut keep-alive short. Set longer than any of ours, it is only a
    // backstop, but it makes hyper read again as soon as an answer is out, which arms ours.
    serving
        .timer(TokioTimer::new())
        .header_read_timeout(options.keep_alive_timeout + options.header_timeout * 2);
    let mut last_call = serving.clone();
    last_call.keep_alive(false);
    let graceful = GracefulShutdown::new();
    let mut refusals = Refusals::default();
    let mut shutdown = std::pin::pin!(shutdown);
    let drain_end = tokio::time::sleep(Duration::MAX);
    let mut drain_end = std::pin::pin!(drain_end);
    let mut draining = false;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown, if !draining => {
                draining = true;
                options.readiness.start_draining();
                if options.drain.is_zero() {
                    break;
                }
                tracing::info!(
                    drain_seconds = options.drain.as_secs(),
                    "shutting down: health checks answer 503, serving on until the drain ends"
                );
                drain_end.as_mut().reset(Instant::now() + options.drain);
                continue;
            }
            () = &mut drain_end, if draining => break,
        };
        let Ok(slot) = shared.slots.clone().try_acquire_owned() else {
            refusals.refuse(&stream, max_connections);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Arc::new(ConnState::default());
        let io = TokioIo::new(Guarded::new(stream, conn.clone(), shared.clone()));
        let service = hyper::service::service_fn({
            let router = router.clone();
            let readiness = options.readiness.clone();
            let proxies = options.proxies;
            move |request: Request<Incoming>| {
                conn.request_started();
                let mut request = request.map(Body::new);
                let client = proxies.resolve(peer, request.headers());
                request.extensions_mut().insert(client);
                let router = router.clone();
                let readiness = readiness.clone();
                let conn = conn.clone();
                async move {
                    let response = match router.oneshot(request).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    };
                    Ok::<_, std::convert::Infallible>(finish(response, &readiness, conn))
                }
            }
        });
        if draining {
            // One request, then close; not watched: the end of the drain must not close it
            // before its request, perhaps already sent, is read.
            let connection = last_call.serve_connection(io, service);
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                drop(slot);
            });
        } else {
            let connection = graceful.watch(serving.serve_connection(io, service));
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                drop(slot);
            });
        }
    }
    drop(listener);
    tracing::info!("stopped accepting; finishing requests in flight");
    graceful.shutdown().await;
    // Connections accepted during the drain are not watched: wait for their slots.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    let _ = shared.slots.acquire_many(all).await;
    tracing::info!("stopped");
    Ok(())
}

/// Adds `Connection: close` while draining, and marks the connection idle once the answer
/// has been handed to hyper whole.
fn finish(response: Response<Body>, readiness: &Readiness, conn: Arc<ConnState>) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    if readiness.is_draining() {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Response::from_parts(parts, Body::new(MarksIdle { body, conn }))
}

/// Answers a connection over the cap with a fixed 503 (best effort: one non-blocking write
/// into an empty socket buffer) and closes it. Logs the first refusal, then at most one line a
/// minute with the count, so a flood cannot flood the log.
#[derive(Default)]
struct Refusals {
    unlogged: u64,
    logged_at: Option<Instant>,
}

static REFUSAL: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let body =
        r#"{"error":"the server is at its connection limit; retry shortly","kind":"overloaded"}"#;
    // The security headers every answer carries (`browser::add_security_headers`); no request
    // id: no request was read.
    let mut security = axum::http::HeaderMap::new();
    crate::middleware::browser::add_security_headers(&mut security);
    let security: String = security
        .iter()
        .map(|(name, value)| format!("{name}: {}\r\n", value.to_str().unwrap_or_default()))
        .collect();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\n{security}content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

impl Refusals {
    fn refuse(&mut self, stream: &TcpStream, max_connections: usize) {
        let _ = stream.try_write(&REFUSAL);
        self.unlogged += 1;
        let now = Instant::now();
        if self
            .logged_at
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60))
        {
            tracing::warn!(
                max_connections,
                refused = self.unlogged,
                "connection limit reached: refusing connections (MAX_CONNECTIONS)"
            );
            self.logged_at = Some(now);
            self.unlogged = 0;
        }
    }
}

/// Raises the soft descriptor limit to the hard one and returns MAX_CONNECTIONS lowered to
/// fit in it.
fn fit_to_descriptors(max_connections: usize) -> usize {
    let Some(limit) = raise_descriptor_limit() else {
        return max_connections;
    };
    let fits = usize::try_from(limit.saturating_sub(RESERVED_FDS).max(1)).unwrap_or(usize::MAX);
    if fits < max_connections {
        tracing::warn!(
            max_connections,
            lowered_to = fits,
            descriptor_limit = limit,
            "MAX_CONNECTIONS lowered to fit the file-descriptor limit"
        );
        fits
    } else {
        max_connections
    }
}

/// The soft `RLIMIT_NOFILE`, after raising it to the hard limit (`None` if unknown).
#[cfg(unix)]
pub fn raise_descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
            tracing::info!(
                from = before,
                to = limit.rlim_cur,
                "raised the file-descriptor soft limit to the hard limit"
            );
        }
    }
    Some(limit.rlim_cur)
}

#[cfg(not(unix))]
pub fn raise_descriptor_limit() -> Option<u64> {
    None
}

/// What every connection's [`Guarded`] needs to know.
struct Shared {
    header_timeout: Duration,
    keep_alive_timeout: Duration,
    write_timeout: Duration,
    /// One per open connection.
    slots: Arc<Semaphore>,
    max_connections: usize,
    /// Open connections above which idle ones get the header deadline only.
    busy_above: usize,
}

impl Shared {
    fn busy(&self) -> bool {
        self.max_connections - self.slots.available_permits() > self.busy_above
    }
}

/// Where a connection is: waiting for a request's headers, or serving a request. Written by
/// the service (a request's headers are in) and by [`MarksIdle`] (its answer is out), read by
/// [`Guarded`] to pick the read deadline.
#[derive(Default)]
struct ConnState {
    /// 0 (the first request's headers), [`Self::SERVING`] or [`Self::IDLE`].
    phase: AtomicU8,
    /// Requests answered so far, so [`Guarded`] sees each new wait start.
    answered: AtomicU64,
    idle_since: std::sync::Mutex<Option<Instant>>,
}

impl ConnState {
    const SERVING: u8 = 1;
    const IDLE: u8 = 2;

    fn request_started(&self) {
        self.phase.store(Self::SERVING, Ordering::SeqCst);
    }

    fn request_answered(&self) {
        *self.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        self.answered.fetch_add(1, Ordering::SeqCst);
        self.phase.store(Self::IDLE, Ordering::SeqCst);
    }
}

/// A response body that marks its connection idle when hyper is done with it.
struct MarksIdle {
    body: Body,
    conn: Arc<ConnState>,
}

impl Drop for MarksIdle {
    fn drop(&mut self) {
        self.conn.request_answered();
    }
}

impl hyper::body::Body for MarksIdle {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A TCP stream with the read deadlines (headers, keep-alive) and the write timeout.
struct Guarded {
    stream: TcpStream,
    conn: Arc<ConnState>,
    shared: Arc<Shared>,
    accepted: Instant,
    /// The answer count when the current wait for headers started, and when its first byte
    /// arrived.
    wait: (u64, Option<Instant>),
    read_timer: Option<Pin<Box<Sleep>>>,
    /// When writes stopped making progress.
    write_stalled: Option<Instant>,
    write_timer: Option<Pin<Box<Sleep>>>,
}

impl Guarded {
    fn new(stream: TcpStream, conn: Arc<ConnState>, shared: Arc<Shared>) -> Guarded {
        Guarded {
            stream,
            conn,
            shared,
            accepted: Instant::now(),
            wait: (0, None),
            read_timer: None,
            write_stalled: None,
            write_timer: None,
        }
    }

    /// While waiting for headers: when to give up, and when to look again (an idle connection
    /// looks again every header deadline, in case the server got busy).
    fn read_deadline(&self, now: Instant) -> (Instant, Instant) {
        let shared = &self.shared;
        if let Some(first_byte) = self.wait.1 {
            let deadline = first_byte + shared.header_timeout;
            return (deadline, deadline);
        }
        let idle_since = *self
            .conn
            .idle_since
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match idle_since {
            None => {
                let deadline = self.accepted + shared.header_timeout;
                (deadline, deadline)
            }
            Some(idle_since) => {
                let timeout = if shared.busy() {
                    shared.header_timeout
                } else {
                    shared.keep_alive_timeout
                };
                let deadline = idle_since + timeout;
                (deadline, deadline.min(now + shared.header_timeout))
            }
        }
    }

    /// `Pending` after arming the timer, or the error that ends the connection.
    fn poll_read_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let now = Instant::now();
            let (deadline, wake) = self.read_deadline(now);
            if now >= deadline {
                tracing::debug!("closing a connection: no request headers in time");
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no request headers in time",
                )));
            }
            let timer = self
                .read_timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(wake)));
            if timer.deadline() != wake {
                timer.as_mut().reset(wake);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    /// A write or flush made no progress: `Pending` until the write timeout, then an error.
    fn poll_write_stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let stalled = *self.write_stalled.get_or_insert_with(Instant::now);
        let deadline = stalled + self.shared.write_timeout;
        let timer = self
            .write_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        ready!(timer.as_mut().poll(cx));
        tracing::info!(
            write_timeout_ms = self.shared.write_timeout.as_millis() as u64,
            "closing a connection: its client accepted no bytes of the answer (WRITE_TIMEOUT_MS)"
        );
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client accepted no bytes in time",
        ))
    }

    fn on_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(result) => {
                self.write_stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => self.poll_write_stalled(cx).map(Err),
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let serving = this.conn.phase.load(Ordering::SeqCst) == ConnState::SERVING;
        let answered = this.conn.answered.load(Ordering::SeqCst);
        if answered != this.wait.0 {
            this.wait = (answered, None);
        }
        let filled = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if !serving && this.wait.1.is_none() && buf.filled().len() > filled {
                    this.wait.1 = Some(Instant::now());
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // A request's body is bounded by the request deadline and the upload rate
            // (`middleware::limits`), not here.
            Poll::Pending if serving => Poll::Pending,
            Poll::Pending => this.poll_read_deadline(cx),
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.on_write(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.on_write(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.on_write(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
