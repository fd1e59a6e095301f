//! The man pages are the reference: every event, option, verb and exit
//! status the code has must appear in them, and they must pass mandoc's
//! lint. The lists come from the code, so the pages cannot drift from it.
//! Both pages are made from one source, man/ismon.8.in, by scripts/man.sh
//! (`make man`); the committed pages must be what it makes.

use std::path::Path;
use std::process::Command;

use ismon::event::{Event, Level};
use ismon::{cli, Protocol};

fn page(proto: Protocol) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("man")
        .join(format!("{}.8", proto.command()));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // mdoc's zero-width escape only keeps a line from reading as a macro.
    text.replace("\\&", "")
}

const BOTH: [Protocol; 2] = [Protocol::Http, Protocol::Smtp];

/// A number no event text otherwise contains, replaced by the guide's `nn`.
const SENTINEL: i32 = 987;

#[test]
fn every_event_is_in_both_man_pages_with_its_level_and_text() {
    for proto in BOTH {
        let man = page(proto);
        for event in Event::catalogue("FUNC", SENTINEL) {
            let level = match event.level() {
                Level::Err => "err",
                Level::Warning => "warning",
                Level::Info => "info",
            };
            let heading = format!(".It {} Pq {level}", event.number());
            assert!(
                man.contains(&heading),
                "{}.8 lacks `{heading}`",
                proto.command()
            );
            let mut text = String::new();
            event.write_text(&mut text, proto).unwrap();
            let mut text = text.replace(&SENTINEL.to_string(), "nn");
            if event != Event::NoIdentifier {
                text.push_str(" [ID:xx]");
            }
            let line = format!(".Dl {text}");
            assert!(
                man.lines().any(|l| l == line),
                "{}.8 lacks the line `{line}`",
                proto.command()
            );
        }
    }
}

#[test]
fn every_option_and_verb_of_the_usage_is_in_the_man_page() {
    for proto in BOTH {
        let man = page(proto);
        let usage = cli::usage(proto);
        let mut options: Vec<&str> = usage
            .split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == '|')
            .filter(|w| w.starts_with('-') && w.len() > 1)
            .collect();
        options.sort_unstable();
        options.dedup();
        assert!(
            options.len() >= 12,
            "usage lists too few options: {options:?}"
        );
        for opt in options {
            let macro_form = format!("Fl {}", &opt[1..]);
            assert!(
                man.contains(&macro_form),
                "{}.8 does not document {opt} (`{macro_form}`)",
                proto.command()
            );
        }
        // -t, the English guide's spelling of -r, is accepted; say so.
        assert!(
            man.contains("Fl t"),
            "{}.8 does not mention -t",
            proto.command()
        );
    }
}

#[test]
fn every_exit_status_is_in_the_man_page() {
    for proto in BOTH {
        let man = page(proto);
        let section = man
            .split(".Sh EXIT STATUS")
            .nth(1)
            .expect("an EXIT STATUS section");
        let section = section.split("\n.Sh ").next().unwrap_or(section);
        for status in [
            ismon::EXIT_STOPPED,
            ismon::EXIT_FAILED,
            ismon::EXIT_USAGE,
            ismon::EXIT_IN_USE,
            ismon::EXIT_SYSTEM,
        ] {
            let item = format!(".It {status}\n");
            assert!(
                section.contains(&item),
                "{}.8 EXIT STATUS lacks {status}",
                proto.command()
            );
        }
    }
}

#[test]
fn man_pages_pass_mandoc_lint() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let out = match Command::new("mandoc")
        .arg("-Tlint")
        .arg("-Wwarning")
        .arg(dir.join("clp_httpmon.8"))
        .arg(dir.join("clp_smtpmon.8"))
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "mandoc is required in CI: {e}"
            );
            eprintln!("SKIPPED: man_pages_pass_mandoc_lint: mandoc is not installed ({e})");
            return;
        }
    };
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && report.trim().is_empty(),
        "mandoc -Tlint:\n{report}"
    );
}

#[test]
fn man_pages_are_what_scripts_man_sh_makes_of_their_one_source() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = std::env::temp_dir().join(format!("ismon-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let out = Command::new("sh")
        .arg(repo.join("scripts").join("man.sh"))
        .arg(&scratch)
        .output()
        .expect("run sh scripts/man.sh");
    assert!(
        out.status.success(),
        "sh scripts/man.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for proto in BOTH {
        let name = format!("{}.8", proto.command());
        let made = std::fs::read(scratch.join(&name)).unwrap_or_default();
        let committed = std::fs::read(repo.join("man").join(&name)).unwrap_or_default();
        assert!(
            !made.is_empty() && made == committed,
            "man/{name} is not what scripts/man.sh makes of man/ismon.8.in: \
             edit man/ismon.8.in, not the page, then run `make man`"
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
