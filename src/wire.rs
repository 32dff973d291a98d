//! Commit streams that bypass the daemons' memory, on plain-HTTP API connections.
//!
//! The request asks for an HTTP Upgrade to [`PROTOCOL`]. Once the `101` answer is through, the
//! connection carries the raw `zfs send` stream: the sender splices `zfs send`'s pipe into the
//! socket, and the receiver splices the socket into `zfs receive`'s pipe, so the bytes stay in
//! the kernel and are never copied through either daemon. A stream into a receive ends with the
//! sender's half-close, and the receiver answers with one JSON line. Whether the stream is
//! intact is checked by `zfs receive` itself: every stream ends with a checksum of the whole
//! stream, and a cut or altered stream is refused before any snapshot from it exists.
//!
//! Each end counts what it spliced. A pipe stays between each daemon and `zfs`, rather than
//! handing `zfs` the socket (which measured a few percent faster), so that a daemon that dies
//! cuts the stream: zfs-fuse holds its own copy of a socket and would send on. TLS connections
//! cannot be spliced: over TLS streams are copied through request and response bodies.

use std::io::{self, Read};
use std::net::TcpStream;

/// The `Upgrade` token of a raw commit stream.
pub const PROTOCOL: &str = "dm-zfs-stream/1";

/// Longest request or response head read before a raw stream.
const MAX_HEAD: usize = 16 * 1024;

/// Reads an HTTP head up to and including its blank line, and not a byte further: what follows
/// is the raw stream, which must stay in the socket for `zfs`.
pub fn read_head(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "HTTP head too long",
            ));
        }
        match s.read(&mut byte)? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed during the HTTP head",
                ));
            }
            _ => head.push(byte[0]),
        }
    }
    Ok(head)
}

/// The status code and headers of a response head.
pub fn parse_response(head: &[u8]) -> Option<(u16, Vec<(String, String)>)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((status, headers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    #[test]
    fn heads_are_read_exactly() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        c.write_all(b"HTTP/1.1 101 Switching\r\nUpgrade: x\r\n\r\nSTREAM")
            .unwrap();
        let head = read_head(&mut s).unwrap();
        let (status, headers) = parse_response(&head).unwrap();
        assert_eq!(status, 101);
        assert_eq!(headers, vec![("upgrade".to_string(), "x".to_string())]);
        let mut rest = [0u8; 6];
        s.read_exact(&mut rest).unwrap();
        assert_eq!(&rest, b"STREAM");
    }
}
