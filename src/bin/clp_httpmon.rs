//! clp_httpmon: monitors an HTTP server and exits when it has failed.
//! See clp_httpmon(8).

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(ismon::main(ismon::Protocol::Http, &args));
}
