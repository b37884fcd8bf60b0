//! Lingering close. When the API refuses a request before reading all of its body (a 413 for an
//! oversized body, say), the connection is closed with the client's bytes still unread, and the
//! kernel answers a close with unread data by resetting the connection: a client still sending
//! sees "broken pipe" or "connection reset" instead of the response that is already on its way.
//! [`Lingering`] wraps each connection and, when it is dropped before the client has closed its
//! side, keeps reading and discarding for a bounded time and byte count (as Apache and nginx
//! do), so that the client finishes sending and reads the answer.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// How long a closed connection is read from at most.
const LINGER_FOR: Duration = Duration::from_secs(2);
/// How many bytes a closed connection is read at most.
const LINGER_BYTES: usize = 16 << 20;
/// How many closed connections linger at once; beyond that they close at once.
const LINGERING_AT_ONCE: usize = 256;

static LINGER_SLOTS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(LINGERING_AT_ONCE)));

/// A TCP connection that lingers when dropped before the peer's end of stream.
pub struct Lingering {
    stream: Option<TcpStream>,
    peer_closed: bool,
}

impl Lingering {
    pub fn new(stream: TcpStream) -> Lingering {
        Lingering {
            stream: Some(stream),
            peer_closed: false,
        }
    }

    fn stream(&mut self) -> io::Result<&mut TcpStream> {
        self.stream.as_mut().ok_or_else(|| io::ErrorKind::NotConnected.into())
    }
}

impl AsyncRead for Lingering {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(this.stream()?).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            if buf.filled().len() == before && buf.remaining() > 0 {
                this.peer_closed = true;
            }
        }
        polled
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(self.get_mut().stream()?).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().stream()?).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().stream()?).poll_shutdown(cx)
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else { return };
        if self.peer_closed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(slot) = LINGER_SLOTS.clone().try_acquire_owned() else {
            return;
        };
        runtime.spawn(async move {
            let _ = tokio::time::timeout(LINGER_FOR, drain(stream)).await;
            drop(slot);
        });
    }
}

/// Ends our side of `stream`, then reads and discards until the peer's end or [`LINGER_BYTES`].
async fn drain(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut scratch = vec![0u8; 64 << 10];
    let mut read = 0;
    while read < LINGER_BYTES {
        match stream.read(&mut scratch).await {
            Ok(0) | Err(_) => return,
            Ok(n) => read += n,
        }
    }
}
