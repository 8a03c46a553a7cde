//! One HTTP/1.1 request served by hyper over an in-memory pipe: the parser under test gets the
//! request head and a real `hyper::body::Incoming`, streamed in chunks of a chosen size, exactly
//! as the server hands them to handlers.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::rc::Rc;
use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// hyper's body as the server hands it to handlers (a chunk deadline of 30 s, never reached
/// here: every chunk is written as soon as the previous one is read).
pub fn req_body(body: Incoming) -> facelite::http::body::ReqBody {
    facelite::http::body::ReqBody::new(body, std::time::Duration::from_secs(30))
}

/// The process's runtime: current-thread (the fuzzer is single-threaded) plus tokio's blocking
/// pool, which the upload parser uses for its file checks.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// A request to send.
pub struct Request<'a> {
    pub method: &'a str,
    /// Origin-form target, e.g. `/v1/face/pattern/extract`.
    pub target: &'a str,
    /// Extra headers (`Host`, `Content-Length` and `Connection: close` are added).
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
    /// Bytes per write of the body (0 = all at once); the server reads each write separately.
    pub chunk: usize,
}

/// Sends `req` and runs `handle` on what the server receives. `None` when hyper refused the
/// request before it reached a service (a malformed head).
pub fn serve_one<T, F, Fut>(req: &Request<'_>, handle: F) -> Option<T>
where
    F: FnOnce(http::request::Parts, Incoming) -> Fut,
    Fut: Future<Output = T>,
{
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: fuzz.local\r\n",
        req.method, req.target
    );
    for (k, v) in &req.headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        req.body.len()
    ));
    let out: Rc<RefCell<Option<T>>> = Rc::new(RefCell::new(None));
    let handle = RefCell::new(Some(handle));
    let out2 = out.clone();
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        let f = handle.borrow_mut().take();
        let out = out2.clone();
        async move {
            if let Some(f) = f {
                let (parts, body) = request.into_parts();
                let r = f(parts, body).await;
                *out.borrow_mut() = Some(r);
            }
            Ok::<_, Infallible>(hyper::Response::new(Empty::<Bytes>::new()))
        }
    });
    runtime().block_on(async {
        // Large enough that neither side ever waits for the other to read.
        let (client, server) = tokio::io::duplex(head.len() + req.body.len() + 64 * 1024);
        let conn = hyper::server::conn::http1::Builder::new()
            .keep_alive(false)
            .header_read_timeout(None)
            .serve_connection(TokioIo::new(server), service);
        let client_side = async move {
            let (mut rd, mut wr) = tokio::io::split(client);
            if wr.write_all(head.as_bytes()).await.is_ok() {
                if req.chunk == 0 {
                    let _ = wr.write_all(req.body).await;
                } else {
                    for c in req.body.chunks(req.chunk) {
                        if wr.write_all(c).await.is_err() {
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                }
            }
            // Read the answer to the end; the write half stays open until then (hyper closes
            // a connection whose client half-closed early).
            let mut sink = Vec::new();
            let _ = rd.read_to_end(&mut sink).await;
            drop(wr);
        };
        let _ = tokio::join!(conn, client_side);
    });
    let r = out.borrow_mut().take();
    r
}
