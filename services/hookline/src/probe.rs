//! `hookline probe --url http://127.0.0.1:8000/ready`: a health check for container
//! runtimes that have no HTTP client in the image. Exits 0 on a 2xx answer, 1
//! otherwise (refused, timed out, another status), printing nothing on success.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The arguments of `probe`.
#[derive(clap::Args, Debug)]
pub struct ProbeArgs {
    /// The URL to GET (plain `http://`), e.g. `http://127.0.0.1:8000/ready`.
    #[arg(long)]
    pub url: String,
    /// Seconds to wait for the connection and the answer, each.
    #[arg(long, default_value_t = 3)]
    pub timeout_seconds: u64,
}

/// Whether `url` answers a GET with a 2xx status within the timeout.
pub fn probe(args: &ProbeArgs) -> Result<(), String> {
    let rest = args.url.strip_prefix("http://").ok_or("only http:// URLs can be probed")?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let authority = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    let timeout = Duration::from_secs(args.timeout_seconds.max(1));
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{addr}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let host = authority.split(':').next().unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    // The status line is all that matters: "HTTP/1.x NNN ...".
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        match stream.read(&mut head[read..]).map_err(|e| e.to_string())? {
            0 => break,
            n => read += n,
        }
    }
    let line = String::from_utf8_lossy(&head[..read]);
    let status = line.split_whitespace().nth(1).unwrap_or_default();
    if status.len() == 3 && status.starts_with('2') {
        Ok(())
    } else {
        Err(format!("{} answered {:?}", args.url, line.lines().next().unwrap_or_default()))
    }
}
