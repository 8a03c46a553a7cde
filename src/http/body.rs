//! Request and response bodies as the server hands them to handlers and hyper.
//!
//! * [`ReqBody`] is the request body with a deadline per chunk: a client that sends the head
//!   and then stalls its body is answered 408 after `server.body_chunk_timeout_secs` instead
//!   of holding a connection slot for ever.
//! * [`RespBody`] is either bytes in memory or a stored file read in small chunks, so a
//!   download of a large media file costs a chunk of memory, not the file. It can carry a
//!   guard that tells the connection watchdog a response is still being sent.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};

/// Why reading a request body failed.
#[derive(Debug)]
pub enum BodyError {
    /// No bytes arrived for the chunk deadline.
    Stalled(Duration),
    /// The connection failed or the client sent a malformed body.
    Transport(hyper::Error),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Stalled(d) => {
                write!(f, "the request body stalled: no data for {} s", d.as_secs())
            }
            BodyError::Transport(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// Whether `e` (as a boxed error from a body stream, possibly wrapped by a parser) is a
/// stalled request body.
pub fn is_stall(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if matches!(err.downcast_ref::<BodyError>(), Some(BodyError::Stalled(_))) {
            return true;
        }
        cur = err.source();
    }
    false
}

/// A request body whose every chunk must arrive within a deadline.
pub struct ReqBody {
    inner: Incoming,
    chunk_timeout: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl ReqBody {
    /// Wraps hyper's body; the first chunk's deadline starts now.
    pub fn new(inner: Incoming, chunk_timeout: Duration) -> ReqBody {
        ReqBody {
            inner,
            chunk_timeout,
            deadline: Box::pin(tokio::time::sleep(chunk_timeout)),
        }
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                let next = tokio::time::Instant::now() + this.chunk_timeout;
                this.deadline.as_mut().reset(next);
                Poll::Ready(r.map(|r| r.map_err(BodyError::Transport)))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BodyError::Stalled(this.chunk_timeout)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Held while a response body is alive; the connection watchdog counts them.
pub trait SendGuard: Send + Sync {}

/// A response body: bytes in memory, or a file streamed in chunks.
#[derive(Default)]
pub struct RespBody {
    kind: Kind,
    guard: Option<Box<dyn SendGuard>>,
}

#[derive(Default)]
enum Kind {
    #[default]
    Empty,
    Bytes(Bytes),
    File(FileStream),
}

struct FileStream {
    file: tokio::fs::File,
    remaining: u64,
}

/// Chunk size of a streamed file.
const FILE_CHUNK: usize = 64 * 1024;

impl RespBody {
    /// A body that streams `len` bytes of an opened file.
    pub fn file(file: tokio::fs::File, len: u64) -> RespBody {
        RespBody {
            kind: Kind::File(FileStream {
                file,
                remaining: len,
            }),
            guard: None,
        }
    }

    /// Opens `path` and streams it; the length is the file's at open time.
    pub async fn open_file(path: PathBuf) -> std::io::Result<RespBody> {
        let file = tokio::fs::File::open(&path).await?;
        let len = file.metadata().await?.len();
        Ok(RespBody::file(file, len))
    }

    /// Attaches a guard that lives as long as the body is being sent.
    pub fn with_guard(mut self, guard: Box<dyn SendGuard>) -> RespBody {
        self.guard = Some(guard);
        self
    }

    /// The body's bytes when it is held in memory (tests and logs).
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match &self.kind {
            Kind::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

impl From<Bytes> for RespBody {
    fn from(b: Bytes) -> RespBody {
        RespBody {
            kind: Kind::Bytes(b),
            guard: None,
        }
    }
}

impl From<String> for RespBody {
    fn from(s: String) -> RespBody {
        RespBody::from(Bytes::from(s))
    }
}

impl From<Vec<u8>> for RespBody {
    fn from(v: Vec<u8>) -> RespBody {
        RespBody::from(Bytes::from(v))
    }
}

impl From<&'static str> for RespBody {
    fn from(s: &'static str) -> RespBody {
        RespBody::from(Bytes::from_static(s.as_bytes()))
    }
}

impl Body for RespBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        match &mut this.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Bytes(b) => {
                let b = std::mem::take(b);
                this.kind = Kind::Empty;
                if b.is_empty() {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Ok(Frame::data(b))))
                }
            }
            Kind::File(fs) => {
                if fs.remaining == 0 {
                    this.kind = Kind::Empty;
                    return Poll::Ready(None);
                }
                let want = (fs.remaining as usize).min(FILE_CHUNK);
                let mut buf = BytesMut::zeroed(want);
                let mut rb = ReadBuf::new(&mut buf);
                match Pin::new(&mut fs.file).poll_read(cx, &mut rb) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            // The file shrank since it was opened: end with an error so the
                            // client sees a short body rather than a silent truncation.
                            this.kind = Kind::Empty;
                            return Poll::Ready(Some(Err(std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "stored file ended early",
                            ))));
                        }
                        fs.remaining -= n as u64;
                        buf.truncate(n);
                        Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Bytes(b) => b.is_empty(),
            Kind::File(f) => f.remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Bytes(b) => SizeHint::with_exact(b.len() as u64),
            Kind::File(f) => SizeHint::with_exact(f.remaining),
        }
    }
}
