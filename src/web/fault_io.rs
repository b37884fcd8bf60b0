//! The HTTP layer's own refusals in Trove's fault shape. actix-http answers a request it cannot
//! parse — a head over its buffer (431), bad framing such as a malformed `Content-Length`
//! (400), a client too slow to send its head (408) — before any handler runs, with an empty
//! body. [`FaultIo`] wraps each connection and, when such an empty error response goes out,
//! sends it with Trove's JSON fault body instead. coffer's own error responses always carry a
//! body, so only the HTTP layer's are touched.

use bytes::{Buf, BytesMut};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose empty-bodied 4xx responses gain a fault body.
pub struct FaultIo<T> {
    inner: T,
    /// A rewritten response not yet written through.
    pending: BytesMut,
}

impl<T> FaultIo<T> {
    pub fn new(inner: T) -> FaultIo<T> {
        FaultIo {
            inner,
            pending: BytesMut::new(),
        }
    }
}

/// Trove's fault name and message for a status the HTTP layer answers on its own.
fn fault_of(status: u16) -> Option<(&'static str, &'static str)> {
    Some(match status {
        400 => ("badRequest", "The request could not be parsed as HTTP."),
        408 => ("requestTimeout", "The request head did not arrive in time."),
        413 => ("overLimit", "The request is larger than this service accepts."),
        414 => (
            "requestURITooLong",
            "The request URI is longer than this service accepts.",
        ),
        431 => (
            "requestHeaderFieldsTooLarge",
            "The request's headers are larger than this service accepts.",
        ),
        _ => return None,
    })
}

/// If `buf` starts with a complete, empty-bodied response of a status in [`fault_of`], the
/// number of bytes it takes and the response to send instead.
fn rewrite(buf: &[u8]) -> Option<(usize, Vec<u8>)> {
    let rest = buf
        .strip_prefix(b"HTTP/1.1 4")
        .or_else(|| buf.strip_prefix(b"HTTP/1.0 4"))?;
    let status = 400 + std::str::from_utf8(rest.get(..2)?).ok()?.parse::<u16>().ok()?;
    let (name, message) = fault_of(status)?;
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
    let status_line = lines.next()?;
    let mut empty = false;
    let mut kept = Vec::new();
    for line in lines {
        let lower = line.to_ascii_lowercase();
        if let Some(length) = lower.strip_prefix("content-length:") {
            empty = length.trim() == "0";
        } else if !lower.starts_with("content-type:") {
            kept.push(line);
        }
    }
    if !empty {
        return None;
    }
    let body = serde_json::json!({ name: {"code": status, "message": message} }).to_string();
    let mut out = format!("{status_line}\r\n");
    for line in kept {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    Some((end, out.into_bytes()))
}

impl<T: AsyncWrite + Unpin> FaultIo<T> {
    /// Writes what is pending; ready when nothing is.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for FaultIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FaultIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if let Some((taken, replacement)) = rewrite(buf) {
            this.pending.extend_from_slice(&replacement);
            // Whatever is not written now is written by the flush that follows.
            if let Poll::Ready(Err(e)) = this.poll_pending(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(taken));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_empty_http_layer_errors_are_rewritten() {
        let raw = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\ndate: x\r\n\r\n";
        let (taken, out) = rewrite(raw).expect("rewritten");
        assert_eq!(taken, raw.len());
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
        assert!(text.contains("connection: close\r\n"));
        let body = text.split("\r\n\r\n").nth(1).expect("body");
        let fault: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(fault["requestHeaderFieldsTooLarge"]["code"], 431);
        assert!(text.contains(&format!("content-length: {}\r\n", body.len())));
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 10\r\n\r\n{\"a\": 1}  ";
        assert!(rewrite(with_body).is_none(), "coffer's own faults keep their body");
        assert!(rewrite(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").is_none());
    }
}
