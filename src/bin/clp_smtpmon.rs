//! clp_smtpmon: monitors an SMTP server and exits when it has failed.
//! See clp_smtpmon(8).

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(ismon::main(ismon::Protocol::Smtp, &args));
}
