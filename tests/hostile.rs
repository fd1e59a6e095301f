//! A catalogue of hostile servers and networks. Each case is a named
//! behaviour of the server (or of the network in front of it), the outcome
//! the man pages give for it, a time bound and a memory bound:
//!
//! - healthy: `PROBES` probes pass in a row within the SPEC's bound
//!   ((PROBES − 1) × max(INTERVAL, TIMEOUT) + TIMEOUT + `MARGIN`), `--disp`
//!   shows `monitoring`, no failure event is logged, and `--stop` ends it;
//! - failed: the first probe fails with one of the listed causes (event,
//!   number, `last_result`), at once (well before TIMEOUT) or at the deadline
//!   as the case says; the retry fails the same way, the monitor logs event 6
//!   and exits 1 within the SPEC's detection bound, and its record says
//!   `failed` with that `last_result`.
//!
//! Every case, whatever its outcome, also pins: stderr carries only the
//! monitor's own lines, each in the `Mmm dd hh:mm:ss ident[pid]: ` layout,
//! with no control byte and nothing the server sent; `--disp` prints only
//! `key: value` lines without control bytes; and the monitor's peak resident
//! memory (VmHWM, read from /proc while it runs: just before it is stopped,
//! or just after its first failure, while its retry is still to come) stays
//! under the case's bound and does not grow with what the server sends.
//!
//! Every case runs with `-i 1 -c 1` and is a `#[test]` of its own name
//! (`cargo test --test hostile http_silent_after_accept`); the cases a run
//! selects all run at once, each on a thread of its own (`Runs`), so the
//! file takes about as long as its slowest case, whatever the harness's
//! thread count.

mod common;

use common::*;
use std::any::Any;
use std::env;
use std::fs;
use std::io;
use std::net::ToSocketAddrs;
use std::panic;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

const HTTP: Cmd = Cmd::Http;
const SMTP: Cmd = Cmd::Smtp;

/// The peak resident memory a monitor may reach, debug build included
/// (a healthy debug monitor peaks near 2.5 MiB, the release one far lower).
const MAX_RSS_KIB: u64 = 4096;

/// How far one case's peak may exceed the leanest case of the same command
/// in the same class: a monitor that kept what it read would exceed it by
/// megabytes in the 10 MB cases.
const GROWTH_KIB: u64 = 512;

/// A case that fails "at once" logs its first failure within this long of
/// the start of its first probe; such cases run with a TIMEOUT of at least
/// twice this, so that waiting for the deadline cannot pass for it. (The
/// start of the first probe is when event 2 was read: process start-up on
/// a loaded machine is no part of the bound.)
const AT_ONCE: Duration = Duration::from_millis(2500);

/// How long after TIMEOUT a failure at the deadline may be logged, and how
/// early before it (clock granularity).
const DEADLINE_LATE: Duration = Duration::from_millis(1000);
const DEADLINE_EARLY: Duration = Duration::from_millis(100);

/// How long a resolver may take to give up on `.invalid` before the case
/// that needs one is skipped.
const RESOLVER_LIMIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// The catalogue

/// What a scripted server does on each connection, step by step. When the
/// script ends the server closes the connection in order (FIN).
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Reads an HTTP request head, up to its empty line.
    ReadRequest,
    /// Reads one line: an SMTP command.
    ReadLine,
    /// Sends these bytes in one write.
    Send(&'static [u8]),
    /// Sends these bytes one at a time, this many milliseconds apart.
    Trickle(&'static [u8], u64),
    /// Sends `unit` again and again, `gap_ms` apart (0: as fast as the
    /// monitor takes it), until `total` bytes went out or the monitor is gone.
    Repeat {
        unit: &'static [u8],
        gap_ms: u64,
        total: usize,
    },
    /// Waits this many milliseconds, reading what arrives.
    Pause(u64),
    /// Keeps the connection open, reading and discarding, until the monitor
    /// closes it.
    Hold,
    /// Resets the connection: SO_LINGER 0, then close (RST, not FIN).
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

/// What is at the address the monitor probes.
#[derive(Debug, Clone, Copy)]
enum Server {
    /// 127.0.0.1, running the script on every connection.
    Script(&'static [Step]),
    /// 127.0.0.1, listen backlog 0, queue filled, never accepting.
    FullBacklog,
    /// A port of 127.0.0.1 where nothing listens.
    NothingListening,
    /// `-s no-such-host.invalid`.
    Unresolvable,
    /// `-s` names a host whose addresses are ::1 and 127.0.0.1; the script
    /// listens on only one of them.
    DualStackName(Family, &'static [Step]),
}

/// What `--disp` must show as `last_result`.
#[derive(Debug, Clone, Copy)]
enum Shown {
    Is(&'static str),
    StartsWith(&'static str),
    /// `invalid response "…"`: the first 64 of these bytes, escaped as the
    /// man page says (printable ASCII kept, `\"`, `\\`, `\xNN` otherwise).
    Excerpt(&'static [u8]),
}

/// One acceptable cause of a failed probe.
#[derive(Debug, Clone, Copy)]
struct Cause {
    event: u32,
    /// The `[nn]` of the event text; empty for event 82.
    nn: &'static str,
    shown: Shown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// Within `AT_ONCE` of the start: the monitor did not wait for TIMEOUT.
    AtOnce,
    /// At TIMEOUT: not before it, at most `DEADLINE_LATE` after.
    AtDeadline,
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// This many probes pass in a row.
    Healthy { probes: u64 },
    /// The first probe (and the retry) fails with one of `causes`.
    Fails {
        when: When,
        causes: &'static [Cause],
    },
}

#[derive(Debug)]
struct Case {
    /// The behaviour, named; also the monitor's ID.
    name: &'static str,
    cmd: Cmd,
    server: Server,
    /// `-r`.
    timeout: u64,
    /// Options after `-s -n -i -c -r`.
    extra: &'static [&'static str],
    expect: Expect,
    /// The bound on the monitor's peak resident memory, KiB.
    max_rss_kib: u64,
}

const fn cause(event: u32, nn: &'static str, shown: Shown) -> Cause {
    Cause { event, nn, shown }
}

const TIMED_OUT: &[Cause] = &[cause(74, "110", Shown::Is("select error[110]"))];
const CLOSED: &[Cause] = &[cause(75, "0", Shown::Is("recv error[0]"))];
const RESET: &[Cause] = &[cause(75, "104", Shown::Is("recv error[104]"))];
const REFUSED: &[Cause] = &[cause(72, "111", Shown::Is("connect error[111]"))];
const CONNECT_TIMED_OUT: &[Cause] = &[cause(72, "110", Shown::Is("connect error[110]"))];
/// A server that drops the connection before it reads the request: the
/// request may or may not have gone out first, so either the send or the
/// read of the reply fails (events 73 and 75 of the man page).
const DROPPED_BEFORE_THE_REQUEST: &[Cause] = &[
    cause(75, "0", Shown::Is("recv error[0]")),
    cause(75, "104", Shown::Is("recv error[104]")),
    cause(73, "32", Shown::Is("send error[32]")),
    cause(73, "104", Shown::Is("send error[104]")),
];
/// getaddrinfo's EAI_NONAME, or EAI_AGAIN when no name server answers.
const NO_SUCH_NAME: &[Cause] = &[
    cause(81, "-2", Shown::Is("error[-2] resolving name")),
    cause(81, "-3", Shown::Is("error[-3] resolving name")),
];

/// `&[Cause]` for event 82 with the escaped excerpt of `$reply`.
macro_rules! invalid_response {
    ($reply:expr) => {
        &[cause(82, "", Shown::Excerpt($reply))]
    };
}

/// `&[Cause]` for event 83 with status `$code`.
macro_rules! status {
    ($code:literal) => {
        &[cause(
            83,
            $code,
            Shown::Is(concat!("invalid status code[", $code, "]")),
        )]
    };
}

const TEN_MB: usize = 10 * 1024 * 1024;
const XS: &[u8] = &[b'x'; 4096];
const NULS: &[u8] = &[0u8; 4096];

const HTTP_OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const HTTP_404: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
const HTTP_503: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
const HTTP_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
const NO_HTTP_PREFIX: &[u8] = b"HTTX/1.1 200 OK\r\n\r\n";
const NO_STATUS_CODE: &[u8] = b"HTTP/1.1\r\n\r\n";
const TWO_DIGIT_CODE: &[u8] = b"HTTP/1.1 20 OK\r\n\r\n";
const NON_NUMERIC_CODE: &[u8] = b"HTTP/1.1 abc OK\r\n\r\n";
const FOUR_DIGIT_CODE: &[u8] = b"HTTP/1.1 2000 OK\r\n\r\n";
const NUL_ESC_IN_VERSION: &[u8] = b"HTTP/\x00\x1b[2J1.1 200 OK\r\n\r\n";
const NUL_ESC_IN_REASON: &[u8] = b"HTTP/1.1 200 \x00\x1b[2J\x1b[1;1H\x07\x7f\xff\"\\\r\n\r\n";
/// A whole forged log line, CR/LF around it, where a status line belongs.
const FORGED_HTTP_LINE: &[u8] = b"\r\nNov 23 18:48:14 clp_httpmon[1]: <type: httpmon><event: 6> \
clp_httpmon detected an error and will be terminated. [ID:FORGED]\r\n";
/// The same, in the reason phrase of a 503: once after a bare CR (to
/// overwrite a terminal line), once as a header line.
const FORGED_IN_REASON: &[u8] = b"HTTP/1.1 503 x\x1b[2K\rNov 23 18:48:14 clp_httpmon[1]: \
<type: httpmon><event: 6> clp_httpmon detected an error and will be terminated. [ID:FORGED]\r\n\
Nov 23 18:48:14 clp_httpmon[1]: <type: httpmon><event: 6> FORGED\r\n\r\n";

const SMTP_220: &[u8] = b"220 mail.test ESMTP ready\r\n";
const SMTP_250: &[u8] = b"250 2.0.0 OK\r\n";
const SMTP_221: &[u8] = b"221 2.0.0 Bye\r\n";
const SSH_BANNER: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
const SMTP_1XX: &[u8] = b"120 wait a moment\r\n";
const CODE_CHANGES: &[u8] = b"220-mail.test ESMTP\r\n250 ready\r\n";
const NUL_ESC_GREETING: &[u8] = b"\x00\x1b[2J220 mail.test\r\n";
const BINARY_NOOP_REPLY: &[u8] = b"\xff\xfe\x00\x01binary\x1b[0m\r\n";
const FORGED_SMTP_LINE: &[u8] = b"\r\nNov 23 18:48:14 clp_smtpmon[1]: <type: smtpmon><event: 6> \
clp_smtpmon detected an error and will be terminated. [ID:FORGED]\r\n";
const FORGED_AFTER_554: &[u8] = b"554 5.7.1 go away\r\nNov 23 18:48:14 clp_smtpmon[1]: \
<type: smtpmon><event: 6> clp_smtpmon detected an error and will be terminated. [ID:FORGED]\r\n";
const GARBAGE_QUIT_REPLY: &[u8] = b"\x00\x1b[2J\r\nNov 23 18:48:14 clp_smtpmon[1]: \
<type: smtpmon><event: 6> FORGED\r\n";

/// A healthy HTTP server.
const HTTP_HEALTHY: &[Step] = &[Step::ReadRequest, Step::Send(HTTP_OK)];

/// Greets with `$greeting`, answers NOOP with `$noop` and QUIT with 221.
macro_rules! smtp_dialogue {
    ($greeting:expr, $noop:expr) => {
        &[
            Step::Send($greeting),
            Step::ReadLine,
            Step::Send($noop),
            Step::ReadLine,
            Step::Send(SMTP_221),
        ]
    };
}

/// Greets with a negative or invalid `$greeting`, then answers the QUIT
/// that follows with 221.
macro_rules! smtp_refusal {
    ($greeting:expr) => {
        &[Step::Send($greeting), Step::ReadLine, Step::Send(SMTP_221)]
    };
}

/// `name: Case { … }, …`: makes `CASES`, each entry named (the name is also
/// the monitor's ID), and a `#[test]` of the same name that runs that case,
/// so that `cargo test --test hostile NAME` runs one case.
macro_rules! catalogue {
    ($($name:ident: Case { $($field:tt)* },)*) => {
        const CASES: &[Case] = &[$(Case { name: stringify!($name), $($field)* },)*];
        $(
            #[test]
            fn $name() {
                test_case(stringify!($name));
            }
        )*
    };
}

catalogue! {
    // ---- HTTP servers that must pass
    http_404_with_root_uri: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest, Step::Send(HTTP_404)]),
        timeout: 1,
        extra: &[],
        expect: Expect::Healthy { probes: 2 },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_503_with_root_uri: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest, Step::Send(HTTP_503)]),
        timeout: 1,
        extra: &[],
        expect: Expect::Healthy { probes: 2 },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_trickles_headers_after_a_whole_status_line: Case {
        // The status line decides once it has ended; headers are never read.
        cmd: HTTP,
        server: Server::Script(&[
            Step::ReadRequest,
            Step::Send(b"HTTP/1.1 200 OK\r\n"),
            Step::Trickle(b"Server: drip\r\nX-Slow: yes\r\n\r\n", 1000),
        ]),
        timeout: 2,
        extra: &[],
        expect: Expect::Healthy { probes: 2 },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_speaks_before_reading_the_request: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::Send(HTTP_OK), Step::ReadRequest]),
        timeout: 1,
        extra: &[],
        expect: Expect::Healthy { probes: 2 },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_nul_and_escape_bytes_in_the_reason_phrase: Case {
        // The reason phrase "may hold anything and is never judged".
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest, Step::Send(NUL_ESC_IN_REASON)]),
        timeout: 1,
        extra: &[],
        expect: Expect::Healthy { probes: 2 },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_dual_stack_name_only_ipv6_listens: Case {
        cmd: HTTP,
        server: Server::DualStackName(Family::V6, HTTP_HEALTHY),
        timeout: 1,
        extra: &[],
        expect: Expect::Healthy { probes: 2 },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_dual_stack_name_only_ipv4_listens: Case {
        cmd: HTTP,
        server: Server::DualStackName(Family::V4, HTTP_HEALTHY),
        timeout: 1,
        extra: &[],
        expect: Expect::Healthy { probes: 2 },
        max_rss_kib: MAX_RSS_KIB,
    },
    // ---- SMTP servers that must pass
    smtp_slow_multi_line_greeting_within_timeout: Case {
        cmd: SMTP,
        server: Server::Script(&[
            Step::Send(b"220-mail.test ESMTP\r\n"),
            Step::Pause(300),
            Step::Send(b"220-PIPELINING\r\n"),
            Step::Pause(300),
            Step::Send(b"220-8BITMIME\r\n"),
            Step::Pause(300),
            Step::Send(b"220 ready\r\n"),
            Step::ReadLine,
            Step::Send(SMTP_250),
            Step::ReadLine,
            Step::Send(SMTP_221),
        ]),
        timeout: 2,
        extra: &[],
        expect: Expect::Healthy { probes: 2 },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_greeting_and_noop_reply_in_one_packet_before_noop: Case {
        cmd: SMTP,
        server: Server::Script(&[
            Step::Send(b"220 mail.test ready\r\n250 2.0.0 OK\r\n"),
            Step::ReadLine,
            Step::ReadLine,
            Step::Send(SMTP_221),
        ]),
        timeout: 1,
        extra: &[],
        expect: Expect::Healthy { probes: 2 },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_closes_on_quit_without_reply: Case {
        cmd: SMTP,
        server: Server::Script(&[
            Step::Send(SMTP_220),
            Step::ReadLine,
            Step::Send(SMTP_250),
            Step::ReadLine,
        ]),
        timeout: 1,
        extra: &[],
        expect: Expect::Healthy { probes: 2 },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_never_answers_quit: Case {
        cmd: SMTP,
        server: Server::Script(&[
            Step::Send(SMTP_220),
            Step::ReadLine,
            Step::Send(SMTP_250),
            Step::Hold,
        ]),
        timeout: 1,
        extra: &[],
        expect: Expect::Healthy { probes: 2 },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_answers_quit_with_garbage: Case {
        cmd: SMTP,
        server: Server::Script(&[
            Step::Send(SMTP_220),
            Step::ReadLine,
            Step::Send(SMTP_250),
            Step::ReadLine,
            Step::Send(GARBAGE_QUIT_REPLY),
        ]),
        timeout: 1,
        extra: &[],
        expect: Expect::Healthy { probes: 2 },
        max_rss_kib: MAX_RSS_KIB,
    },
    // ---- HTTP servers that fail the probe at once
    http_closes_at_once: Case {
        cmd: HTTP,
        server: Server::Script(&[]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: DROPPED_BEFORE_THE_REQUEST,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_closes_after_reading_the_request: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: CLOSED,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_resets_at_once: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::Reset]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: DROPPED_BEFORE_THE_REQUEST,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_resets_after_reading_the_request: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest, Step::Reset]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: RESET,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_half_a_status_line_then_close: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest, Step::Send(b"HTTP/1.1 20")]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: CLOSED,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_no_http_prefix: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest, Step::Send(NO_HTTP_PREFIX), Step::Hold]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: invalid_response!(NO_HTTP_PREFIX),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_version_without_status_code: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest, Step::Send(NO_STATUS_CODE), Step::Hold]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: invalid_response!(NO_STATUS_CODE),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_two_digit_status_code: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest, Step::Send(TWO_DIGIT_CODE), Step::Hold]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: invalid_response!(TWO_DIGIT_CODE),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_non_numeric_status_code: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest, Step::Send(NON_NUMERIC_CODE), Step::Hold]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: invalid_response!(NON_NUMERIC_CODE),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_four_digit_status_code: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest, Step::Send(FOUR_DIGIT_CODE), Step::Hold]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: invalid_response!(FOUR_DIGIT_CODE),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_interim_100_then_close: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest, Step::Send(HTTP_100)]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: CLOSED,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_endless_interim_100_replies: Case {
        // Interim replies count toward the 4096 bytes: a stream of them
        // fills the buffer without a final status line.
        cmd: HTTP,
        server: Server::Script(&[
            Step::ReadRequest,
            Step::Repeat {
                unit: HTTP_100,
                gap_ms: 0,
                total: TEN_MB,
            },
        ]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: &[cause(
                82,
                "",
                Shown::StartsWith(
                    "invalid response \"HTTP/1.1 100 Continue\\x0d\\x0a\\x0d\\x0aHTTP/1.1 100",
                ),
            )],
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_404_with_a_uri: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest, Step::Send(HTTP_404)]),
        timeout: 5,
        extra: &["-h", "/health"],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: status!("404"),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_503_with_a_uri: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest, Step::Send(HTTP_503)]),
        timeout: 5,
        extra: &["-h", "/health"],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: status!("503"),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_10mb_status_line_without_newline: Case {
        cmd: HTTP,
        server: Server::Script(&[
            Step::ReadRequest,
            Step::Send(b"HTTP/1.1 200 "),
            Step::Repeat {
                unit: XS,
                gap_ms: 0,
                total: TEN_MB,
            },
        ]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: &[cause(
                82,
                "",
                Shown::StartsWith("invalid response \"HTTP/1.1 200 xxxxxxxxxxxxxxxx"),
            )],
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_10mb_of_nul_bytes: Case {
        cmd: HTTP,
        server: Server::Script(&[
            Step::ReadRequest,
            Step::Repeat {
                unit: NULS,
                gap_ms: 0,
                total: TEN_MB,
            },
        ]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: &[cause(
                82,
                "",
                Shown::StartsWith("invalid response \"\\x00\\x00\\x00\\x00"),
            )],
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_nul_and_escape_bytes_in_the_version: Case {
        cmd: HTTP,
        server: Server::Script(&[
            Step::ReadRequest,
            Step::Send(NUL_ESC_IN_VERSION),
            Step::Hold,
        ]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: invalid_response!(NUL_ESC_IN_VERSION),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_crlf_injected_fake_log_line: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest, Step::Send(FORGED_HTTP_LINE), Step::Hold]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: invalid_response!(FORGED_HTTP_LINE),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_crlf_injected_fake_log_line_in_a_503_reason: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest, Step::Send(FORGED_IN_REASON)]),
        timeout: 5,
        extra: &["-h", "/health"],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: status!("503"),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    // ---- HTTP servers that fail the probe at the deadline
    http_silent_after_accept: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::Hold]),
        timeout: 1,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtDeadline,
            causes: TIMED_OUT,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_trickles_the_status_line: Case {
        cmd: HTTP,
        server: Server::Script(&[
            Step::ReadRequest,
            Step::Trickle(b"HTTP/1.1 200 OK\r\n\r\n", 1000),
        ]),
        timeout: 2,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtDeadline,
            causes: TIMED_OUT,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_status_line_never_ends: Case {
        cmd: HTTP,
        server: Server::Script(&[
            Step::ReadRequest,
            Step::Send(b"HTTP/1.1 200 OK"),
            Step::Hold,
        ]),
        timeout: 1,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtDeadline,
            causes: TIMED_OUT,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_interim_100_then_silence: Case {
        cmd: HTTP,
        server: Server::Script(&[Step::ReadRequest, Step::Send(HTTP_100), Step::Hold]),
        timeout: 1,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtDeadline,
            causes: TIMED_OUT,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    // ---- SMTP servers that fail the probe at once
    smtp_closes_at_once: Case {
        cmd: SMTP,
        server: Server::Script(&[]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: CLOSED,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_resets_at_once: Case {
        cmd: SMTP,
        server: Server::Script(&[Step::Reset]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: RESET,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_half_a_greeting_then_close: Case {
        cmd: SMTP,
        server: Server::Script(&[Step::Send(b"220 mail.te")]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: CLOSED,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_resets_after_noop: Case {
        cmd: SMTP,
        server: Server::Script(&[Step::Send(SMTP_220), Step::ReadLine, Step::Reset]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: RESET,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_greeting_421: Case {
        cmd: SMTP,
        server: Server::Script(smtp_refusal!(b"421 4.3.2 mail.test too busy\r\n")),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: status!("421"),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_greeting_554: Case {
        cmd: SMTP,
        server: Server::Script(smtp_refusal!(b"554 5.7.1 no service for you\r\n")),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: status!("554"),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_noop_answered_500: Case {
        cmd: SMTP,
        server: Server::Script(smtp_dialogue!(SMTP_220, b"500 5.5.1 unrecognized\r\n")),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: status!("500"),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_endless_continuation_lines_fill_the_buffer: Case {
        cmd: SMTP,
        server: Server::Script(&[Step::Repeat {
            unit: b"220-spam spam spam\r\n",
            gap_ms: 0,
            total: TEN_MB,
        }]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: &[cause(
                82,
                "",
                Shown::StartsWith("invalid response \"220-spam spam spam\\x0d\\x0a220-spam"),
            )],
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_10mb_greeting_without_newline: Case {
        cmd: SMTP,
        server: Server::Script(&[
            Step::Send(b"220 "),
            Step::Repeat {
                unit: XS,
                gap_ms: 0,
                total: TEN_MB,
            },
        ]),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: &[cause(
                82,
                "",
                Shown::StartsWith("invalid response \"220 xxxxxxxxxxxxxxxx"),
            )],
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_ssh_banner: Case {
        cmd: SMTP,
        server: Server::Script(smtp_refusal!(SSH_BANNER)),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: invalid_response!(SSH_BANNER),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_greeting_with_a_1xx_code: Case {
        // Reply codes start with 2 to 5.
        cmd: SMTP,
        server: Server::Script(smtp_refusal!(SMTP_1XX)),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: invalid_response!(SMTP_1XX),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_multi_line_greeting_changes_code: Case {
        cmd: SMTP,
        server: Server::Script(smtp_refusal!(CODE_CHANGES)),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: invalid_response!(CODE_CHANGES),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_nul_and_escape_bytes_in_the_greeting: Case {
        cmd: SMTP,
        server: Server::Script(smtp_refusal!(NUL_ESC_GREETING)),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: invalid_response!(NUL_ESC_GREETING),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_binary_noop_reply: Case {
        // The excerpt is of the reply judged invalid: the NOOP reply.
        cmd: SMTP,
        server: Server::Script(smtp_dialogue!(SMTP_220, BINARY_NOOP_REPLY)),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: invalid_response!(BINARY_NOOP_REPLY),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_crlf_injected_fake_log_line: Case {
        cmd: SMTP,
        server: Server::Script(smtp_refusal!(FORGED_SMTP_LINE)),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: invalid_response!(FORGED_SMTP_LINE),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_crlf_injected_fake_log_line_after_a_554: Case {
        cmd: SMTP,
        server: Server::Script(smtp_refusal!(FORGED_AFTER_554)),
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: status!("554"),
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    // ---- SMTP servers that fail the probe at the deadline
    smtp_silent_after_accept: Case {
        cmd: SMTP,
        server: Server::Script(&[Step::Hold]),
        timeout: 1,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtDeadline,
            causes: TIMED_OUT,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_trickles_the_greeting: Case {
        cmd: SMTP,
        server: Server::Script(&[Step::Trickle(SMTP_220, 1000)]),
        timeout: 2,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtDeadline,
            causes: TIMED_OUT,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_silent_after_noop: Case {
        cmd: SMTP,
        server: Server::Script(&[Step::Send(SMTP_220), Step::ReadLine, Step::Hold]),
        timeout: 1,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtDeadline,
            causes: TIMED_OUT,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_slow_endless_continuation_lines: Case {
        cmd: SMTP,
        server: Server::Script(&[Step::Repeat {
            unit: b"220-still going\r\n",
            gap_ms: 200,
            total: usize::MAX,
        }]),
        timeout: 1,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtDeadline,
            causes: TIMED_OUT,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    // ---- networks in front of the server
    http_full_listen_backlog: Case {
        cmd: HTTP,
        server: Server::FullBacklog,
        timeout: 1,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtDeadline,
            causes: CONNECT_TIMED_OUT,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_full_listen_backlog: Case {
        cmd: SMTP,
        server: Server::FullBacklog,
        timeout: 1,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtDeadline,
            causes: CONNECT_TIMED_OUT,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_nothing_listening: Case {
        cmd: HTTP,
        server: Server::NothingListening,
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: REFUSED,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_nothing_listening: Case {
        cmd: SMTP,
        server: Server::NothingListening,
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: REFUSED,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    http_unresolvable_host_name: Case {
        cmd: HTTP,
        server: Server::Unresolvable,
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: NO_SUCH_NAME,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
    smtp_unresolvable_host_name: Case {
        cmd: SMTP,
        server: Server::Unresolvable,
        timeout: 5,
        extra: &[],
        expect: Expect::Fails {
            when: When::AtOnce,
            causes: NO_SUCH_NAME,
        },
        max_rss_kib: MAX_RSS_KIB,
    },
}

// ---------------------------------------------------------------------------
// Outcome classes, and one #[test] per case

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Healthy,
    FailsAtOnce,
    FailsAtDeadline,
    Network,
}

const CLASSES: [Class; 4] = [
    Class::Healthy,
    Class::FailsAtOnce,
    Class::FailsAtDeadline,
    Class::Network,
];

impl Case {
    fn class(&self) -> Class {
        match (self.server, self.expect) {
            (Server::FullBacklog | Server::NothingListening | Server::Unresolvable, _) => {
                Class::Network
            }
            (_, Expect::Healthy { .. }) => Class::Healthy,
            (
                _,
                Expect::Fails {
                    when: When::AtOnce, ..
                },
            ) => Class::FailsAtOnce,
            (
                _,
                Expect::Fails {
                    when: When::AtDeadline,
                    ..
                },
            ) => Class::FailsAtDeadline,
        }
    }

    fn timing(&self) -> Timing {
        Timing::new(1, 1, self.timeout)
    }

    /// Whether the monitor calls the resolver, which loads libraries of
    /// its own and so has a peak memory of its own.
    fn uses_resolver(&self) -> bool {
        matches!(
            self.server,
            Server::Unresolvable | Server::DualStackName(..)
        )
    }
}

#[test]
fn the_catalogue_is_well_formed() {
    assert!(CASES.len() >= 30, "only {} cases", CASES.len());
    for (i, case) in CASES.iter().enumerate() {
        assert!(
            !case.name.is_empty()
                && case.name.len() <= 255
                && case
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{}: a case name is the monitor's ID",
            case.name
        );
        assert!(
            CASES[..i].iter().all(|other| other.name != case.name),
            "{}: two cases of that name",
            case.name
        );
        assert!(case.max_rss_kib <= MAX_RSS_KIB, "{}", case.name);
        match case.expect {
            Expect::Healthy { probes } => assert!(probes >= 2, "{}", case.name),
            Expect::Fails { when, causes } => {
                assert!(!causes.is_empty(), "{}: no cause", case.name);
                if when == When::AtOnce {
                    assert!(
                        secs(case.timeout) >= AT_ONCE * 2,
                        "{}: a failure at once must be told from one at the deadline",
                        case.name
                    );
                }
            }
        }
        if case.cmd == SMTP {
            assert!(
                !case.extra.iter().any(|a| *a == "-h" || *a == "-v"),
                "{}: -h and -v are clp_httpmon's",
                case.name
            );
        }
    }
    for class in CLASSES {
        assert!(
            CASES.iter().any(|c| c.class() == class),
            "no case in {class:?}"
        );
    }
}

/// What one case did.
struct Report {
    name: &'static str,
    uses_resolver: bool,
    outcome: String,
    peak_kib: u64,
}

enum Ran {
    Done(Report),
    Skipped(String),
    /// It panicked with this text.
    Misbehaved(String),
}

/// How many cases run at the same time at the most: about what ran at once
/// when each outcome class was one test of concurrent cases and the
/// harness ran two of them (the two largest classes hold 49 cases).
const AT_A_TIME: usize = 48;

/// The longest a test waits for a case (its own, or one it compares its
/// memory with) to end; a case ends by its own deadlines well before.
const CASE_LIMIT: Duration = Duration::from_secs(300);

/// The cases of this test process. A case takes seconds, nearly all of it
/// spent waiting for the monitor, and the harness runs only as many tests
/// at once as it has threads (as many as cores unless `--test-threads`
/// says otherwise): 61 cases in turn would take minutes. So the first case
/// test to run starts every case the command line selects (`selected`),
/// each on a thread of its own, `AT_A_TIME` at the most; each test waits
/// for its own case's result and reports it.
struct Runs {
    /// Indexes in `CASES` of the cases started together.
    selected: Mutex<Vec<usize>>,
    /// Per entry of `CASES`: `None` until started, then its result once it
    /// has ended.
    started: Mutex<Vec<Option<Option<Arc<Ran>>>>>,
    ended: Condvar,
    running: Mutex<usize>,
    room: Condvar,
}

static RUNS: Runs = Runs {
    selected: Mutex::new(Vec::new()),
    started: Mutex::new(Vec::new()),
    ended: Condvar::new(),
    running: Mutex::new(0),
    room: Condvar::new(),
};

impl Runs {
    /// The runs, the selected cases started at the first call.
    fn get() -> &'static Runs {
        static FIRST: Once = Once::new();
        FIRST.call_once(|| {
            *RUNS.started.lock().unwrap() = vec![None; CASES.len()];
            let selected = selected_cases();
            for &index in &selected {
                RUNS.start(index);
            }
            *RUNS.selected.lock().unwrap() = selected;
        });
        &RUNS
    }

    /// Starts case `index` on a thread of its own, unless it was started.
    fn start(&'static self, index: usize) {
        let mut started = self.started.lock().unwrap();
        if started[index].is_some() {
            return;
        }
        started[index] = Some(None);
        let case = &CASES[index];
        thread::Builder::new()
            .name(case.name.to_string())
            .spawn(move || {
                self.take_a_place();
                let ran = match panic::catch_unwind(|| run_case(case)) {
                    Ok(ran) => ran,
                    Err(panic) => Ran::Misbehaved(panic_text(&*panic)),
                };
                *self.running.lock().unwrap() -= 1;
                self.room.notify_one();
                self.started.lock().unwrap()[index] = Some(Some(Arc::new(ran)));
                self.ended.notify_all();
            })
            .expect("spawn a thread for a case");
    }

    /// Waits until fewer than `AT_A_TIME` cases run, and counts this one.
    fn take_a_place(&self) {
        let running = self.running.lock().unwrap();
        let (mut running, _) = self
            .room
            .wait_timeout_while(running, CASE_LIMIT, |n| *n >= AT_A_TIME)
            .unwrap();
        *running += 1;
    }

    /// The result of case `index`, started before.
    fn result(&self, index: usize) -> Arc<Ran> {
        let started = self.started.lock().unwrap();
        let (started, _) = self
            .ended
            .wait_timeout_while(started, CASE_LIMIT, |s| !matches!(s[index], Some(Some(_))))
            .unwrap();
        match &started[index] {
            Some(Some(ran)) => Arc::clone(ran),
            _ => panic!("{}: did not end within {CASE_LIMIT:?}", CASES[index].name),
        }
    }
}

/// The indexes in `CASES` of the cases whose tests this process will run,
/// read from its command line as the harness reads it: with filters, the
/// tests whose names contain one (equal one, with `--exact`), less those a
/// `--skip` names. Which cases start early is a matter of time only (one
/// that is not listed starts when its test runs), so on an argument it does
/// not know this lists none, and where no case test runs, none.
fn selected_cases() -> Vec<usize> {
    let (mut filters, mut skips, mut exact) = (Vec::new(), Vec::new(), false);
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        let (option, value) = match arg.split_once('=') {
            Some((option, value)) if option.starts_with("--") => (option, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        match option {
            "--exact" => exact = true,
            "--nocapture" | "--no-capture" | "--show-output" | "--include-ignored" | "-q"
            | "--quiet" | "--test" | "--report-time" | "--ensure-time" | "--shuffle" => {}
            "--skip" => match value.or_else(|| args.next()) {
                Some(skip) => skips.push(skip),
                None => return Vec::new(),
            },
            "--test-threads" | "--color" | "--format" | "--logfile" | "--shuffle-seed" => {
                if value.is_none() && args.next().is_none() {
                    return Vec::new();
                }
            }
            // --ignored, --list, --bench, … and anything unknown.
            option if option.starts_with('-') => return Vec::new(),
            filter => filters.push(filter.to_string()),
        }
    }
    let matches = |name: &str, pattern: &String| {
        if exact {
            name == pattern
        } else {
            name.contains(pattern.as_str())
        }
    };
    (0..CASES.len())
        .filter(|&i| {
            let name = CASES[i].name;
            (filters.is_empty() || filters.iter().any(|f| matches(name, f)))
                && !skips.iter().any(|s| matches(name, s))
        })
        .collect()
}

/// The test of one case: its result, and its memory against the cases of
/// its class started with it.
fn test_case(name: &str) {
    let index = CASES
        .iter()
        .position(|c| c.name == name)
        .expect("a test of each case in CASES");
    let runs = Runs::get();
    runs.start(index);
    let ran = runs.result(index);
    let report = match &*ran {
        Ran::Done(report) => report,
        Ran::Skipped(why) => return skip(name, why),
        Ran::Misbehaved(complaint) => panic!("{name}: {complaint}"),
    };
    println!(
        "{:?}: {:<56} {:<44} peak {} KiB",
        CASES[index].class(),
        report.name,
        report.outcome,
        report.peak_kib
    );
    if let Some(complaint) = memory_growth(index, report, runs) {
        panic!("{complaint}");
    }
}

fn panic_text(panic: &(dyn Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else if let Some(text) = panic.downcast_ref::<&str>() {
        text.to_string()
    } else {
        "panicked".to_string()
    }
}

/// A complaint when the peak memory of case `index` is far above the
/// leanest case of the same command and class started with it: what the
/// server sends must not be kept. Cases that call the resolver, which has
/// a peak of its own, are left out on both sides.
fn memory_growth(index: usize, report: &Report, runs: &Runs) -> Option<String> {
    if report.uses_resolver {
        return None;
    }
    let case = &CASES[index];
    let selected = runs.selected.lock().unwrap().clone();
    let peers: Vec<Arc<Ran>> = selected
        .iter()
        .filter(|&&i| i != index)
        .filter(|&&i| {
            let peer = &CASES[i];
            peer.cmd == case.cmd && peer.class() == case.class() && !peer.uses_resolver()
        })
        .map(|&i| runs.result(i))
        .collect();
    let leanest = peers
        .iter()
        .filter_map(|ran| match &**ran {
            Ran::Done(peer) => Some(peer),
            _ => None,
        })
        .min_by_key(|peer| peer.peak_kib)?;
    (report.peak_kib > leanest.peak_kib + GROWTH_KIB).then(|| {
        format!(
            "{}: peak RSS {} KiB, more than {GROWTH_KIB} KiB above {} ({} KiB): \
             memory grows with what the server sends",
            report.name, report.peak_kib, leanest.name, leanest.peak_kib
        )
    })
}

fn run_case(case: &'static Case) -> Ran {
    let dir = TestDir::new(case.name);
    let target = match Target::set_up(case, &dir) {
        Ok(target) => target,
        Err(why) => return Ran::Skipped(why),
    };
    let mut monitor = target.start(case, &dir);
    let mut peak = Peak::new(monitor.pid());
    let outcome = match case.expect {
        Expect::Healthy { probes } => {
            expect_healthy(case, &dir, &target, &mut monitor, &mut peak, probes)
        }
        Expect::Fails { when, causes } => {
            expect_failure(case, &dir, &target, &mut monitor, &mut peak, when, causes)
        }
    };
    assert_own_lines_only(case, &monitor);
    assert_disp_is_clean(case, &dir);
    target.assert_server_did_its_part();
    let peak_kib = peak
        .kib
        .unwrap_or_else(|| panic!("VmHWM of pid {} was never read while it ran", monitor.pid()));
    assert!(
        peak_kib <= case.max_rss_kib,
        "peak RSS (VmHWM) {peak_kib} KiB, over the bound of {} KiB",
        case.max_rss_kib
    );
    Ran::Done(Report {
        name: case.name,
        uses_resolver: case.uses_resolver(),
        outcome,
        peak_kib,
    })
}

// ---------------------------------------------------------------------------
// Expectations

/// The server passes probe after probe; `--stop` ends the monitor.
fn expect_healthy(
    case: &Case,
    dir: &TestDir,
    target: &Target,
    monitor: &mut Monitor,
    peak: &mut Peak,
    probes: u64,
) -> String {
    let server = target
        .server
        .as_ref()
        .expect("a case that passes has a server");
    let start = first_probe_started(case, monitor, peak);
    let bound = secs((probes - 1) * case.timeout.max(1) + case.timeout) + MARGIN;
    // Probes never overlap and each makes one connection: once connection
    // `probes + 1` is accepted, `probes` probes have ended.
    let enough = |m: &mut Monitor| {
        server.connections() as u64 > probes || !m.is_running() || !failure_lines(m).is_empty()
    };
    wait_sampling(monitor, peak, left_of(start + bound), enough);
    let elapsed = start.elapsed();
    assert!(
        failure_lines(monitor).is_empty(),
        "a server that should pass failed a probe; stderr:\n{}",
        monitor.stderr_text()
    );
    monitor.assert_running("the server should pass");
    assert!(
        server.connections() as u64 > probes,
        "{} probe(s) started within {bound:?}, want {} ({probes} done); stderr:\n{}",
        server.connections(),
        probes + 1,
        monitor.stderr_text()
    );
    let shown = wait_disp(
        case.cmd,
        dir,
        case.name,
        &format!("{probes} probes done"),
        QUICK,
        |d| d.is_live() && d.num("probes").unwrap_or(0) >= probes,
    );
    assert_eq!(shown.num("failures"), Some(0), "{}", shown.stdout);
    assert_eq!(shown.get("state"), Some("monitoring"), "{}", shown.stdout);
    assert_eq!(shown.get("last_result"), Some("ok"), "{}", shown.stdout);
    assert!(
        peak.sample(monitor),
        "could not read VmHWM of the running monitor"
    );
    run_expect(case.cmd, dir, &[case.name, "--stop"], 0);
    monitor.expect_exit(0, QUICK);
    monitor.wait_body(&event_body(case.cmd, 3, case.name, ""), QUICK);
    assert!(
        monitor.event_lines(6).is_empty(),
        "event 6 from a server that passes; stderr:\n{}",
        monitor.stderr_text()
    );
    format!("healthy, {probes} probes in {:.1} s", elapsed.as_secs_f64())
}

/// The first probe and its retry fail with one of `causes`; the monitor
/// logs event 6 and exits 1 within the SPEC's detection bound.
fn expect_failure(
    case: &Case,
    dir: &TestDir,
    target: &Target,
    monitor: &mut Monitor,
    peak: &mut Peak,
    when: When,
    causes: &[Cause],
) -> String {
    let (cmd, id) = (case.cmd, case.name);
    let timeout = secs(case.timeout);
    let start = first_probe_started(case, monitor, peak);
    let first_limit = match when {
        When::AtOnce => AT_ONCE,
        When::AtDeadline => timeout + DEADLINE_LATE,
    } + target.resolver_time;
    wait_sampling(monitor, peak, left_of(start + first_limit + MARGIN), |m| {
        !failure_lines(m).is_empty() || !m.is_running()
    });
    // With -c 1 the retry is still to come: the peak read now covers the
    // whole first probe.
    peak.sample(monitor);
    let lines = failure_lines(monitor);
    let first = lines.first().unwrap_or_else(|| {
        panic!(
            "no failure event within {:?}; stderr:\n{}",
            first_limit + MARGIN,
            monitor.stderr_text()
        )
    });
    // From the start of the first probe; from the spawn, which is earlier
    // still, for the lower bound.
    let first_at = first.at.saturating_duration_since(start);
    let first_since_spawn = first.at - monitor.spawned_at;
    let first_cause = matching_cause(cmd, id, &first.text(), causes);
    assert!(
        first_cause.is_some(),
        "the first failure is {:?}, want one of {}",
        first.text(),
        describe_causes(cmd, id, causes)
    );
    match when {
        When::AtOnce => assert!(
            first_at <= first_limit,
            "the first probe failed after {first_at:?}, want at once (within {first_limit:?}), \
             TIMEOUT is {timeout:?}; stderr:\n{}",
            monitor.stderr_text()
        ),
        When::AtDeadline => assert!(
            first_since_spawn + DEADLINE_EARLY >= timeout && first_at <= first_limit,
            "the first probe failed after {first_at:?}, want at TIMEOUT {timeout:?} \
             (by {first_limit:?}); stderr:\n{}",
            monitor.stderr_text()
        ),
    }
    // The SPEC counts detection from the start of the first failed probe.
    let bound = case.timing().bound() + target.resolver_time * 2;
    wait_sampling(monitor, peak, left_of(start + bound), |m| !m.is_running());
    monitor.expect_exit(1, POLL);
    let took = start.elapsed();
    assert!(
        took <= bound + POLL,
        "exited {took:?} after its first probe started, over the detection bound {bound:?}"
    );
    monitor.wait_body(&event_body(cmd, 6, id, ""), QUICK);
    let lines = failure_lines(monitor);
    assert_eq!(
        lines.len(),
        2,
        "-c 1: the first probe and one retry fail, then event 6; stderr:\n{}",
        monitor.stderr_text()
    );
    let mut last_cause = first_cause;
    for line in &lines {
        last_cause = matching_cause(cmd, id, &line.text(), causes);
        assert!(
            last_cause.is_some(),
            "failure {:?} is none of {}",
            line.text(),
            describe_causes(cmd, id, causes)
        );
    }
    let last_cause = last_cause.expect("checked in the loop");
    monitor.assert_logged(&event_body(cmd, 1, id, ""));
    monitor.assert_logged(&event_body(cmd, 2, id, ""));
    let sixes = monitor.event_lines(6);
    assert_eq!(
        sixes.len(),
        1,
        "exactly one event 6, the monitor's own; stderr:\n{}",
        monitor.stderr_text()
    );
    let all = monitor.stderr_lines();
    let position = |text: &str| all.iter().position(|l| l.text() == text);
    assert!(
        position(&sixes[0].text()) > position(&lines[1].text()),
        "event 6 comes after the last failure; stderr:\n{}",
        monitor.stderr_text()
    );
    let shown = disp(cmd, dir, id);
    assert_eq!(
        shown.code,
        Some(3),
        "--disp of a failed monitor:\n{}",
        shown.stdout
    );
    assert_eq!(shown.get("status"), Some("stale"), "{}", shown.stdout);
    assert_eq!(shown.get("state"), Some("failed"), "{}", shown.stdout);
    let last = shown.get("last_result").unwrap_or("");
    assert!(
        shown_matches(last_cause.shown, last),
        "last_result {last:?}, want {}; --disp:\n{}",
        describe_shown(last_cause.shown),
        shown.stdout
    );
    format!(
        "event {}{} at {:.2} s, exit 1 at {:.2} s",
        last_cause.event,
        if last_cause.nn.is_empty() {
            String::new()
        } else {
            format!(" [{}]", last_cause.nn)
        },
        first_at.as_secs_f64(),
        took.as_secs_f64()
    )
}

/// When the test read event 2, which the monitor logs right before its
/// first probe.
fn first_probe_started(case: &Case, monitor: &mut Monitor, peak: &mut Peak) -> Instant {
    let body = event_body(case.cmd, 2, case.name, "");
    let mut at = None;
    wait_sampling(monitor, peak, QUICK, |m| {
        at = m.lines_with_body(&body).first().map(|l| l.at);
        at.is_some() || !m.is_running()
    });
    at.unwrap_or_else(|| {
        panic!(
            "no event 2 within {QUICK:?} of the start; stderr:\n{}",
            monitor.stderr_text()
        )
    })
}

/// The time left until `deadline`.
fn left_of(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// The message of a failure event as the man page words it.
fn failure_body(cmd: Cmd, event: u32, id: &str, nn: &str) -> String {
    match event {
        81 => format!(
            "<type: {}><event: 81> Failed to obtain the IP address.(error[{nn}]). [ID:{id}]",
            cmd.kind()
        ),
        _ => event_body(cmd, event, id, nn),
    }
}

fn matching_cause<'a>(cmd: Cmd, id: &str, line: &str, causes: &'a [Cause]) -> Option<&'a Cause> {
    let body = parse_log_line(line)?.body;
    causes
        .iter()
        .find(|c| body == failure_body(cmd, c.event, id, c.nn))
}

fn describe_causes(cmd: Cmd, id: &str, causes: &[Cause]) -> String {
    causes
        .iter()
        .map(|c| format!("{:?}", failure_body(cmd, c.event, id, c.nn)))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The event number of a stderr line of `cmd`, if it carries one.
fn event_number(cmd: Cmd, line: &str) -> Option<u32> {
    let body = parse_log_line(line)?.body;
    let rest = body.strip_prefix(&format!("<type: {}><event: ", cmd.kind()))?;
    rest[..rest.find('>')?].parse().ok()
}

/// Stderr lines that report a failed probe: events 71 to 83, and 42.
fn failure_lines(monitor: &Monitor) -> Vec<StderrLine> {
    monitor
        .stderr_lines()
        .into_iter()
        .filter(|l| {
            event_number(monitor.cmd, &l.text())
                .map_or(false, |n| n == 42 || (71..=83).contains(&n))
        })
        .collect()
}

/// Bytes escaped as the man page says `last_result` shows them.
fn escaped(bytes: &[u8]) -> String {
    let mut text = String::new();
    for &b in bytes {
        match b {
            b'"' => text.push_str("\\\""),
            b'\\' => text.push_str("\\\\"),
            0x20..=0x7e => text.push(char::from(b)),
            _ => text.push_str(&format!("\\x{b:02x}")),
        }
    }
    text
}

fn shown_matches(shown: Shown, last_result: &str) -> bool {
    match shown {
        Shown::Is(text) => last_result == text,
        Shown::StartsWith(prefix) => last_result.starts_with(prefix),
        Shown::Excerpt(reply) => {
            last_result
                == format!(
                    "invalid response \"{}\"",
                    escaped(&reply[..reply.len().min(64)])
                )
        }
    }
}

fn describe_shown(shown: Shown) -> String {
    match shown {
        Shown::Is(text) => format!("{text:?}"),
        Shown::StartsWith(prefix) => format!("{prefix:?}…"),
        Shown::Excerpt(reply) => format!(
            "{:?}",
            format!(
                "invalid response \"{}\"",
                escaped(&reply[..reply.len().min(64)])
            )
        ),
    }
}

/// Stderr holds only the monitor's own lines: printable ASCII, each line
/// in the `Mmm dd hh:mm:ss ident[pid]: ` layout with this monitor's pid,
/// nothing the server sent.
fn assert_own_lines_only(case: &Case, monitor: &Monitor) {
    let raw = monitor.stderr_raw();
    if let Some(at) = raw
        .iter()
        .position(|&b| b != b'\n' && !(0x20..0x7f).contains(&b))
    {
        panic!(
            "byte {:#04x} at offset {at} of stderr, where only printable ASCII lines may go; \
             stderr, escaped: {}",
            raw[at],
            escaped(&raw)
        );
    }
    for line in monitor.stderr_lines() {
        let text = line.text();
        let own = parse_log_line(&text).map_or(false, |p| {
            p.ident == case.cmd.name() && p.pid == monitor.pid()
        });
        assert!(
            own && line.bytes.ends_with(b"\n"),
            "a stderr line that is not the monitor's own `Mmm dd hh:mm:ss {}[{}]: ` line: {text:?}",
            case.cmd.name(),
            monitor.pid()
        );
    }
    let text = monitor.stderr_text();
    for marker in ["FORGED", "HTTP/1.", "SSH-2.0", "ESMTP", "spam", "xxxx"] {
        assert!(
            !text.contains(marker),
            "{marker:?}, sent by the server, reached stderr:\n{text}"
        );
    }
}

/// `--disp` prints `key: value` lines only, each key once, no control byte.
fn assert_disp_is_clean(case: &Case, dir: &TestDir) {
    let shown = disp(case.cmd, dir, case.name);
    let out = shown.stdout.as_bytes();
    if let Some(at) = out
        .iter()
        .position(|&b| b != b'\n' && !(0x20..0x7f).contains(&b))
    {
        panic!(
            "byte {:#04x} at offset {at} of --disp; escaped: {}",
            out[at],
            escaped(out)
        );
    }
    let mut keys: Vec<&str> = Vec::new();
    for line in shown.stdout.lines() {
        let key = line.split_once(": ").map(|(k, _)| k).unwrap_or("");
        assert!(
            // A key is a lowercase word with `_`, maybe numbered
            // (`recent_1`..`recent_8`); a line a server could have made
            // (a CR or LF let through) would not start with one.
            !key.is_empty()
                && key.starts_with(|c: char| c.is_ascii_lowercase())
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "--disp line {line:?} is not `key: value`; --disp:\n{}",
            shown.stdout
        );
        assert!(
            !keys.contains(&key),
            "--disp shows {key:?} twice:\n{}",
            shown.stdout
        );
        keys.push(key);
    }
    assert_eq!(keys.first(), Some(&"pid"), "--disp:\n{}", shown.stdout);
}

// ---------------------------------------------------------------------------
// Peak memory

/// The peak resident memory (VmHWM) of a monitor, read from /proc while it
/// runs.
struct Peak {
    pid: u32,
    kib: Option<u64>,
}

impl Peak {
    fn new(pid: u32) -> Peak {
        Peak { pid, kib: None }
    }

    /// Reads VmHWM now; false when the monitor has ended (a zombie has no
    /// memory left to report) or is not yet the monitor.
    fn sample(&mut self, monitor: &mut Monitor) -> bool {
        // Until the test reaps it, the PID cannot name another process.
        if !monitor.is_running() {
            return false;
        }
        match vm_hwm_kib(self.pid, monitor.cmd.name()) {
            Some(kib) => {
                self.kib = Some(self.kib.map_or(kib, |k| k.max(kib)));
                true
            }
            None => false,
        }
    }
}

/// VmHWM of `pid` once it runs `command`. Command::spawn can return while
/// the child is still inside execve, with the name of the test thread that
/// spawned it and, for a moment, the test's own memory (measured: 55 MB);
/// the kernel gives it the command's name only once the new image is in
/// place, and with it a fresh VmHWM. Under `unshare`, `sh` comes first.
fn vm_hwm_kib(pid: u32, command: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    if field("Name:")? != command {
        return None;
    }
    field("VmHWM:")?.strip_suffix("kB")?.trim().parse().ok()
}

/// Polls `cond` every `POLL` until it holds or `limit` passes, reading the
/// monitor's peak memory on every turn.
fn wait_sampling(
    monitor: &mut Monitor,
    peak: &mut Peak,
    limit: Duration,
    mut cond: impl FnMut(&mut Monitor) -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        peak.sample(monitor);
        if cond(monitor) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}

// ---------------------------------------------------------------------------
// What the monitor probes

const UNRESOLVABLE: &str = "no-such-host.invalid";

/// The name given to ::1 and 127.0.0.1 in a private /etc/hosts, when the
/// host's own does not map `localhost` to both.
const DUAL_NAME: &str = "ismon-dual-stack.test";

struct Target {
    /// `-s`.
    host: String,
    port: u16,
    server: Option<FakeServer>,
    backlog: Option<FullBacklog>,
    /// An /etc/hosts the monitor sees in a mount namespace of its own.
    private_hosts: Option<PathBuf>,
    /// How long the resolver took to give up on `UNRESOLVABLE`: the time
    /// each probe may spend on top of TIMEOUT.
    resolver_time: Duration,
}

impl Target {
    /// Sets up what `case` probes; `Err` says why it cannot run here.
    fn set_up(case: &Case, dir: &TestDir) -> Result<Target, String> {
        let mut target = Target {
            host: "127.0.0.1".to_string(),
            port: 0,
            server: None,
            backlog: None,
            private_hosts: None,
            resolver_time: Duration::ZERO,
        };
        match case.server {
            Server::Script(script) => {
                let server = scripted_server("127.0.0.1:0", script).expect("bind 127.0.0.1:0");
                target.port = server.port();
                target.server = Some(server);
            }
            Server::FullBacklog => {
                let backlog = FullBacklog::at(([127, 0, 0, 1], 0).into()).expect("a full backlog");
                target.port = backlog.port();
                target.backlog = Some(backlog);
            }
            Server::NothingListening => target.port = closed_port(),
            Server::Unresolvable => {
                target.host = UNRESOLVABLE.to_string();
                target.port = closed_port();
                target.resolver_time = resolver_gives_up_in()?;
            }
            Server::DualStackName(family, script) => {
                let (host, private_hosts) = dual_stack_name(dir)?;
                let bind = match family {
                    Family::V4 => "127.0.0.1:0",
                    Family::V6 => "[::1]:0",
                };
                let server = scripted_server(bind, script).expect("bind a loopback port");
                target.host = host;
                target.port = server.port();
                target.server = Some(server);
                target.private_hosts = private_hosts;
                resolves_to_both(&target.host, target.private_hosts.as_deref())?;
            }
        }
        Ok(target)
    }

    /// Starts `cmd ID -s HOST -n PORT -i 1 -c 1 -r TIMEOUT extra…`.
    fn start(&self, case: &Case, dir: &TestDir) -> Monitor {
        let port = self.port.to_string();
        let timeout = case.timeout.to_string();
        let mut args: Vec<&str> = vec![
            case.name, "-s", &self.host, "-n", &port, "-i", "1", "-c", "1", "-r", &timeout,
        ];
        args.extend_from_slice(case.extra);
        match &self.private_hosts {
            None => Monitor::start(case.cmd, dir, &args),
            Some(hosts) => {
                let mut command = with_private_hosts(hosts, case.cmd.exe());
                command.args(&args).env("ISMON_STATE_DIR", dir.state());
                Monitor::spawn(case.cmd, command)
            }
        }
    }

    fn assert_server_did_its_part(&self) {
        if let Some(server) = &self.server {
            let errors = server.errors();
            assert!(errors.is_empty(), "the test server failed: {errors:?}");
        }
        if let Some(backlog) = &self.backlog {
            backlog.assert_still_full();
        }
    }
}

/// How long the resolver takes to give up on `UNRESOLVABLE`; `Err` when it
/// takes longer than `RESOLVER_LIMIT` or answers.
fn resolver_gives_up_in() -> Result<Duration, String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let started = Instant::now();
    // Left behind if the resolver hangs: it holds nothing of the test's.
    thread::spawn(move || {
        let answer = (UNRESOLVABLE, 80)
            .to_socket_addrs()
            .map(|addrs| addrs.collect::<Vec<_>>());
        let _ = sender.send(answer);
    });
    match receiver.recv_timeout(RESOLVER_LIMIT) {
        Ok(Err(_)) => Ok(started.elapsed()),
        Ok(Ok(addrs)) => Err(format!(
            "the resolver here answers for {UNRESOLVABLE}: {addrs:?}"
        )),
        Err(_) => Err(format!(
            "the resolver did not give up on {UNRESOLVABLE} within {RESOLVER_LIMIT:?}"
        )),
    }
}

/// `localhost` when /etc/hosts maps it to both ::1 and 127.0.0.1; else
/// `DUAL_NAME` in a private /etc/hosts, when a mount namespace can be made.
fn dual_stack_name(dir: &TestDir) -> Result<(String, Option<PathBuf>), String> {
    if !ipv6_loopback_available() {
        return Err("cannot bind [::1]".to_string());
    }
    let hosts = fs::read_to_string("/etc/hosts").unwrap_or_default();
    let maps = |addr: &str| {
        hosts.lines().any(|line| {
            let line = line.split('#').next().unwrap_or("");
            let mut fields = line.split_whitespace();
            fields.next() == Some(addr) && fields.any(|name| name == "localhost")
        })
    };
    if maps("::1") && maps("127.0.0.1") {
        return Ok(("localhost".to_string(), None));
    }
    let private = dir.root().join("hosts");
    fs::write(
        &private,
        format!("::1 {DUAL_NAME}\n127.0.0.1 {DUAL_NAME}\n"),
    )
    .expect("write a private hosts file");
    let mut probe = with_private_hosts(&private, "true");
    probe.env_remove("ISMON_STATE_DIR");
    let outcome = run_command(probe, QUICK);
    if outcome.code != Some(0) {
        return Err(format!(
            "/etc/hosts does not map localhost to both ::1 and 127.0.0.1, and no mount \
             namespace with a private /etc/hosts can be made here: {}",
            outcome.stderr.trim()
        ));
    }
    Ok((DUAL_NAME.to_string(), Some(private)))
}

/// `program` run in a mount namespace of its own where `hosts` is bind
/// mounted over /etc/hosts. unshare and sh exec into it: same PID.
fn with_private_hosts(hosts: &Path, program: &str) -> Command {
    in_private_mount_namespace("mount --bind \"$1\" /etc/hosts", hosts, program)
}

/// Checks that getaddrinfo, asked as the monitor asks (AF_UNSPEC,
/// AI_ADDRCONFIG, as `getent ahosts` does), gives `name` both loopback
/// addresses here.
fn resolves_to_both(name: &str, private_hosts: Option<&Path>) -> Result<(), String> {
    let mut command = match private_hosts {
        Some(hosts) => with_private_hosts(hosts, "getent"),
        None => Command::new("getent"),
    };
    command.args(["ahosts", name]).stdin(Stdio::null());
    let outcome = run_command(command, QUICK);
    let addrs: Vec<&str> = outcome
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if addrs.contains(&"::1") && addrs.contains(&"127.0.0.1") {
        Ok(())
    } else {
        Err(format!(
            "getaddrinfo (AI_ADDRCONFIG) gives {name} the addresses {addrs:?} here, \
             not both ::1 and 127.0.0.1 (getent exit {:?})",
            outcome.code
        ))
    }
}

// ---------------------------------------------------------------------------
// Scripted servers

/// The longest a scripted server spends on one step.
const STEP_LIMIT: Duration = Duration::from_secs(30);

/// A server on a kernel-chosen port that plays `script` on every
/// connection, each on a thread of its own. Dropping it stops them all.
fn scripted_server(bind: &str, script: &'static [Step]) -> io::Result<FakeServer> {
    FakeServer::start(bind, move |conn| play(conn, script))
}

/// Plays `script`, then closes the connection in order (or resets it, if
/// the script says so). Stops early when the monitor is gone.
fn play(conn: &mut Conn, script: &[Step]) {
    // Closed as a dropped socket is: with something unread, RST alone.
    conn.close_without_shutdown();
    for step in script {
        let go_on = match *step {
            Step::ReadRequest => conn.read_until(b"\r\n\r\n", QUICK).is_some(),
            Step::ReadLine => conn.read_until(b"\n", QUICK).is_some(),
            Step::Send(bytes) => conn.send_within(bytes, STEP_LIMIT),
            Step::Trickle(bytes, gap_ms) => bytes.iter().all(|b| {
                conn.send_within(std::slice::from_ref(b), STEP_LIMIT) && conn.linger(ms(gap_ms))
            }),
            Step::Repeat {
                unit,
                gap_ms,
                total,
            } => repeat(conn, unit, gap_ms, total),
            Step::Pause(n) => conn.linger(ms(n)),
            Step::Hold => {
                conn.hold(STEP_LIMIT);
                false
            }
            Step::Reset => return conn.reset(),
        };
        if !go_on {
            return;
        }
    }
}

fn repeat(conn: &mut Conn, unit: &[u8], gap_ms: u64, total: usize) -> bool {
    let mut sent = 0;
    if gap_ms == 0 {
        // Whole units, about 64 KiB a write.
        let chunk: Vec<u8> = unit
            .iter()
            .copied()
            .cycle()
            .take(unit.len() * (65_536 / unit.len()).max(1))
            .collect();
        while sent < total {
            let n = chunk.len().min(total - sent);
            if !conn.send_within(&chunk[..n], STEP_LIMIT) {
                return false;
            }
            sent += n;
        }
    } else {
        while sent < total {
            let n = unit.len().min(total - sent);
            if !conn.send_within(&unit[..n], STEP_LIMIT) || !conn.linger(ms(gap_ms)) {
                return false;
            }
            sent += n;
        }
    }
    true
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
