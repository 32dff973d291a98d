//! Names of namespaces, dots, branches and subdots, and the `[ns/]dot[@branch][.subdot]` syntax.
//!
//! Shared by the CLI (to refuse bad input before any request) and the daemon (which never trusts
//! the client). Names are safe as path segments, ZFS property values and URL segments, which is
//! why the alphabet is small.

use std::fmt;

/// The longest name accepted, in bytes.
pub const MAX_NAME: usize = 100;
/// The subdot used when none is named.
pub const DEFAULT_SUBDOT: &str = "__default__";
/// The subdot that means the branch's whole filesystem.
pub const ROOT_SUBDOT: &str = "__root__";
/// The branch every dot starts with.
pub const MASTER: &str = "master";

/// The admin user, whose namespace is the default one.
pub const ADMIN: &str = "admin";

/// What kind of name is being checked, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Namespace,
    Dot,
    Branch,
    Subdot,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Namespace => "namespace",
            Kind::Dot => "dot",
            Kind::Branch => "branch",
            Kind::Subdot => "subdot",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid {kind} name {shown}: {why}; use 1-{MAX_NAME} letters, digits, '-' or '_', starting with a letter or digit"
)]
pub struct NameError {
    pub kind: Kind,
    shown: String,
    why: &'static str,
}

/// Checks one name. Subdots additionally accept the two reserved names `__default__` and `__root__`.
pub fn validate(kind: Kind, name: &str) -> Result<(), NameError> {
    if kind == Kind::Subdot && (name == DEFAULT_SUBDOT || name == ROOT_SUBDOT) {
        return Ok(());
    }
    let err = |why| {
        Err(NameError {
            kind,
            shown: format!("{:?}", truncate(name)),
            why,
        })
    };
    if name.is_empty() {
        return err("it is empty");
    }
    if name.len() > MAX_NAME {
        return err("it is longer than 100 bytes");
    }
    if name.starts_with('_') {
        return err("names starting with '_' are reserved");
    }
    if name.chars().any(char::is_control) {
        return err("it contains a control character");
    }
    if name.chars().any(char::is_whitespace) {
        return err("it contains a space");
    }
    if name.contains('/') || name.contains('.') || name.contains('@') {
        return err("'/', '.' and '@' separate namespace, branch and subdot");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return err("it contains a character other than letters, digits, '-' and '_'");
    }
    if name.starts_with('-') {
        return err("it starts with '-'");
    }
    Ok(())
}

/// The first 12 characters of an id, as `dm log` shows it. Ids from another cluster or from
/// Docker are outside input: shorter or non-ASCII ones are shown as they are, never sliced
/// through a character.
pub fn short_id(id: &str) -> &str {
    match id.char_indices().nth(12) {
        Some((end, _)) => &id[..end],
        None => id,
    }
}

fn truncate(s: &str) -> String {
    if s.len() <= 40 {
        return s.to_string();
    }
    let mut end = 40;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// How a dot is written for someone whose own namespace is `home`: `name` there, else `ns/name`.
pub fn short(ns: &str, dot: &str, home: &str) -> String {
    if ns == home {
        dot.to_string()
    } else {
        format!("{ns}/{dot}")
    }
}

/// A parsed `[ns/]dot[@branch][^commit][.subdot]` reference; missing parts are `None`.
/// `^commit` (an id, a unique prefix or a tag) names a commit to mount read-only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DotRef {
    pub namespace: Option<String>,
    pub dot: String,
    pub branch: Option<String>,
    pub subdot: Option<String>,
    pub commit: Option<String>,
}

impl DotRef {
    /// Parses and validates every part that is present.
    pub fn parse(s: &str) -> Result<DotRef, NameError> {
        let (namespace, rest) = match s.split_once('/') {
            Some((ns, rest)) => (Some(ns.to_string()), rest),
            None => (None, s),
        };
        let (rest, subdot) = match rest.split_once('.') {
            Some((r, sub)) => (r, Some(sub.to_string())),
            None => (rest, None),
        };
        let (rest, commit) = match rest.split_once('^') {
            Some((r, c)) => (r, Some(c.to_string())),
            None => (rest, None),
        };
        let (dot, branch) = match rest.split_once('@') {
            Some((d, b)) => (d.to_string(), Some(b.to_string())),
            None => (rest.to_string(), None),
        };
        if let Some(ns) = &namespace {
            validate(Kind::Namespace, ns)?;
        }
        validate(Kind::Dot, &dot)?;
        if let Some(b) = &branch {
            validate(Kind::Branch, b)?;
        }
        if let Some(sd) = &subdot {
            validate(Kind::Subdot, sd)?;
        }
        // Commit ids are hex, tags are named as branches are.
        if let Some(c) = &commit {
            validate(Kind::Branch, c)?;
        }
        Ok(DotRef {
            namespace,
            dot,
            branch,
            subdot,
            commit,
        })
    }
}

/// Whether `s` is a commit id: 32 lowercase hex digits (128 random bits).
pub fn is_commit_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks a commit id from outside.
pub fn check_commit_id(what: &str, s: &str) -> Result<(), String> {
    if is_commit_id(s) {
        Ok(())
    } else {
        Err(format!(
            "{what} {:?} is not a commit id (32 hex digits, as `dm log` shows them)",
            truncate(s)
        ))
    }
}

/// Checks a host name or IP address from outside: letters, digits, '.', '-', ':' (IPv6), at
/// most 253 bytes; nothing that could end a line or start a path.
pub fn check_host(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a host name or IP address",
            truncate(s)
        ))
    }
}

/// Checks an API key or token from outside: 1-256 visible ASCII characters (no space, no
/// control character), as HTTP basic auth carries them.
pub fn check_key(s: &str) -> Result<(), String> {
    if !s.is_empty() && s.len() <= 256 && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err("the API key must be 1-256 visible ASCII characters".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_never_split_a_character() {
        assert_eq!(short_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(short_id(""), "");
        assert_eq!(short_id("ééééééééééééé"), "éééééééééééé");
    }

    #[test]
    fn accepts_ordinary_names() {
        for n in ["a", "my-dot", "db_1", "X9", &"a".repeat(100)] {
            validate(Kind::Dot, n).unwrap();
        }
        validate(Kind::Subdot, "__default__").unwrap();
        validate(Kind::Subdot, "__root__").unwrap();
    }

    #[test]
    fn ids_hosts_and_keys_from_outside() {
        assert!(is_commit_id("0123456789abcdef0123456789abcdef"));
        for bad in [
            "",
            "0123456789abcdef0123456789abcde",
            "0123456789ABCDEF0123456789ABCDEF",
            "0123456789abcdef0123456789abcde\n",
            "0123456789abcdef\r\nGET / HTTP/1.1\r\n",
        ] {
            assert!(check_commit_id("to", bad).is_err(), "{bad:?}");
        }
        for good in ["hub.example.org", "10.0.0.1", "::1", "fe80::1"] {
            assert!(check_host(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "x\r\ny", "a/b", "-x", "a@b", "h?x"] {
            assert!(check_host(bad).is_err(), "{bad:?}");
        }
        assert!(check_key("abc123").is_ok());
        for bad in ["", "a b", "a\r\nb", "é"] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refuses_bad_names() {
        for n in [
            "",
            "..",
            "a/b",
            "a b",
            "a\tb",
            "a\u{1}",
            "_x",
            "-x",
            "a.b",
            "a@b",
            "ü",
            &"a".repeat(101),
        ] {
            assert!(validate(Kind::Dot, n).is_err(), "{n:?} accepted");
        }
        assert!(validate(Kind::Subdot, "__other__").is_err());
        assert!(validate(Kind::Branch, "__default__").is_err());
    }

    #[test]
    fn message_says_what_to_do() {
        let e = validate(Kind::Branch, "a b").unwrap_err().to_string();
        assert!(e.contains("invalid branch name \"a b\""), "{e}");
        assert!(e.contains("use 1-100 letters"), "{e}");
    }

    #[test]
    fn short_names_drop_the_own_namespace() {
        assert_eq!(short("admin", "d", "admin"), "d");
        assert_eq!(short("alice", "d", "admin"), "alice/d");
    }

    #[test]
    fn parses_references() {
        let r = DotRef::parse("alice/db@dev.logs").unwrap();
        assert_eq!(r.namespace.as_deref(), Some("alice"));
        assert_eq!(r.dot, "db");
        assert_eq!(r.branch.as_deref(), Some("dev"));
        assert_eq!(r.subdot.as_deref(), Some("logs"));
        let r = DotRef::parse("db.__root__").unwrap();
        assert_eq!(r.subdot.as_deref(), Some("__root__"));
        assert!(r.branch.is_none());
        assert!(DotRef::parse("db@").is_err());
        assert!(DotRef::parse("a/b/c").is_err());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Strings made mostly of the characters that matter to the syntax.
        fn tricky() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                "[a-zA-Z0-9_./@:\\-]{0,120}",
                "[a-z]{1,8}(/[a-z_]{0,8})?(@[a-z.]{0,8})?(\\.[a-z_]{0,12})?",
                "[ -~\r\n\t\u{0}\u{7f}é]{0,40}",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(100_000))]

            #[test]
            fn names_accepted_are_safe_everywhere(kind in 0..4u8, s in tricky()) {
                let kind = [Kind::Namespace, Kind::Dot, Kind::Branch, Kind::Subdot][kind as usize];
                if validate(kind, &s).is_ok() {
                    prop_assert!(!s.is_empty() && s.len() <= MAX_NAME);
                    prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
                    prop_assert!(!s.starts_with('_') || s == DEFAULT_SUBDOT || s == ROOT_SUBDOT);
                }
            }

            #[test]
            fn references_parse_into_valid_parts_or_refuse(s in tricky()) {
                if let Ok(r) = DotRef::parse(&s) {
                    prop_assert!(validate(Kind::Dot, &r.dot).is_ok());
                    if let Some(ns) = &r.namespace { prop_assert!(validate(Kind::Namespace, ns).is_ok()); }
                    if let Some(b) = &r.branch { prop_assert!(validate(Kind::Branch, b).is_ok()); }
                    if let Some(sd) = &r.subdot { prop_assert!(validate(Kind::Subdot, sd).is_ok()); }
                }
            }

            #[test]
            fn ids_hosts_and_keys_accepted_carry_no_line_breaks(s in tricky()) {
                if check_commit_id("to", &s).is_ok() {
                    prop_assert!(s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()));
                }
                if check_host(&s).is_ok() {
                    prop_assert!(!s.is_empty() && !s.contains(['\r', '\n', ' ', '/', '?', '@']));
                }
                if check_key(&s).is_ok() {
                    prop_assert!(!s.is_empty() && !s.contains(['\r', '\n', ' ']));
                }
            }
        }
    }
}
