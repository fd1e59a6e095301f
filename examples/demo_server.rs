//! A throwaway HTTP or SMTP server for `make demo`, on 127.0.0.1 only.
//!
//! ```text
//! demo_server http [PORT]
//! demo_server smtp [PORT]
//! ```
//!
//! PORT 0 (the default) lets the kernel choose; either way the port in use
//! is printed alone on the first line of standard output, so a script can
//! read it before it starts a monitor. Each connection gets a thread and one
//! line on standard error. The server runs until it is killed: stopping it is
//! how the demo makes a monitor detect a failure.
//!
//! HTTP: any request is answered with `200 OK` and the connection closed.
//! SMTP: a `220` greeting, `250` to NOOP, HELO, EHLO and RSET, `221` to QUIT,
//! `502` to anything else. Nothing here is a real server: no TLS, no mail.

use std::env;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process;
use std::thread;
use std::time::Duration;

/// A client that goes quiet is dropped after this long, so that an idle
/// connection cannot pin a thread for the life of the demo.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest request head (HTTP) or command line (SMTP) read from a client.
const MAX_REQUEST: usize = 8192;

#[derive(Clone, Copy)]
enum Protocol {
    Http,
    Smtp,
}

fn usage() -> ! {
    eprintln!("usage: demo_server http|smtp [PORT]");
    process::exit(2);
}

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    if args.is_empty() || args.len() > 2 {
        usage();
    }
    let protocol = match args[0].as_str() {
        "http" => Protocol::Http,
        "smtp" => Protocol::Smtp,
        _ => usage(),
    };
    let port: u16 = match args.get(1) {
        None => 0,
        Some(text) => match text.parse() {
            Ok(port) => port,
            Err(_) => usage(),
        },
    };

    let listener = match TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("demo_server: bind 127.0.0.1:{}: {}", port, err);
            process::exit(1);
        }
    };
    let port = match listener.local_addr() {
        Ok(addr) => addr.port(),
        Err(err) => {
            eprintln!("demo_server: local_addr: {}", err);
            process::exit(1);
        }
    };
    // The script waits for this line: flush it now, stdout may be a file.
    let mut stdout = io::stdout();
    if writeln!(stdout, "{}", port)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        process::exit(1);
    }

    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                thread::spawn(move || serve(protocol, stream));
            }
            Err(err) => eprintln!("demo_server: accept: {}", err),
        }
    }
}

fn serve(protocol: Protocol, stream: TcpStream) {
    let peer = stream
        .peer_addr()
        .map(|addr| addr.to_string())
        .unwrap_or_else(|_| "?".to_string());
    let result = stream
        .set_read_timeout(Some(CLIENT_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(CLIENT_TIMEOUT)))
        .and_then(|()| match protocol {
            Protocol::Http => serve_http(stream),
            Protocol::Smtp => serve_smtp(stream),
        });
    match result {
        Ok(summary) => eprintln!("demo_server: {}: {}", peer, summary),
        Err(err) => eprintln!("demo_server: {}: {}", peer, err),
    }
}

/// Reads the request head (up to the blank line) and answers 200 OK.
fn serve_http(mut stream: TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() >= MAX_REQUEST {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request too long",
            ));
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before a full request",
            ));
        }
        head.extend_from_slice(&buf[..n]);
    }
    let request_line = printable(head.split(|&b| b == b'\r').next().unwrap_or(b""));
    let body: &[u8] = b"demo_server is up\n";
    let mut reply = format!(
        "HTTP/1.1 200 OK\r\nServer: demo_server\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !request_line.starts_with("HEAD ") {
        reply.extend_from_slice(body);
    }
    stream.write_all(&reply)?;
    Ok(format!("{} -> 200", request_line))
}

/// Greets, then answers commands line by line until QUIT or end of input.
fn serve_smtp(stream: TcpStream) -> io::Result<String> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream).take(MAX_REQUEST as u64);
    writer.write_all(b"220 demo_server ESMTP ready\r\n")?;
    let mut commands = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        // `take` bounds the whole session, so each line is bounded too.
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let end = line
            .iter()
            .rposition(|&b| b != b'\r' && b != b'\n')
            .map_or(0, |i| i + 1);
        let command = printable(&line[..end]).to_ascii_uppercase();
        let verb = command.split(' ').next().unwrap_or("").to_string();
        let reply: &[u8] = match verb.as_str() {
            "NOOP" | "RSET" => b"250 2.0.0 OK\r\n",
            "HELO" | "EHLO" => b"250 demo_server\r\n",
            "QUIT" => b"221 2.0.0 Bye\r\n",
            _ => b"502 5.5.2 Command not implemented\r\n",
        };
        writer.write_all(reply)?;
        commands.push(verb.clone());
        if verb == "QUIT" {
            break;
        }
    }
    Ok(format!("SMTP session: {}", commands.join(" ")))
}

/// What a client sent, safe to print: printable ASCII kept, the rest as `?`.
fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}
