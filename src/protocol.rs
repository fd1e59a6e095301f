//! Which of the two commands is running, and the facts that name it: one
//! row per protocol.

/// Which of the two commands this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Smtp,
}

/// What names a protocol's command and its messages.
struct Facts {
    command: &'static str,
    /// The `<type: …>` tag of the product's log layout.
    tag: &'static str,
    /// The protocol's name as the messages spell it.
    name: &'static str,
    default_port: u16,
}

const HTTP: Facts = Facts {
    command: "clp_httpmon",
    tag: "httpmon",
    name: "HTTP",
    default_port: 80,
};

const SMTP: Facts = Facts {
    command: "clp_smtpmon",
    tag: "smtpmon",
    name: "SMTP",
    default_port: 25,
};

impl Protocol {
    /// Every protocol, for what must list them all (a record's owner).
    pub const ALL: [Protocol; 2] = [Protocol::Http, Protocol::Smtp];

    fn facts(self) -> &'static Facts {
        match self {
            Protocol::Http => &HTTP,
            Protocol::Smtp => &SMTP,
        }
    }

    pub fn command(self) -> &'static str {
        self.facts().command
    }

    /// The `<type: …>` tag of the product's log layout.
    pub fn tag(self) -> &'static str {
        self.facts().tag
    }

    /// The protocol's name as the messages spell it.
    pub fn name(self) -> &'static str {
        self.facts().name
    }

    pub fn default_port(self) -> u16 {
        self.facts().default_port
    }
}
