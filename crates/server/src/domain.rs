//! Validated domain values, built only by `parse`. Handlers parse wire strings into these at
//! the edge and collect every failure as a [`FieldError`], so a client learns all that is
//! wrong with a request at once.

use versus_protocol::FieldError;

fn field_error(field: &str, reason: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        reason: reason.into(),
        message: message.into(),
    }
}

/// 3–24 characters of ASCII letters, digits, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const MIN: usize = 3;
    pub const MAX: usize = 24;

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        let n = s.chars().count();
        if n < Self::MIN {
            return Err(field_error(
                field,
                "too_short",
                "a username has at least 3 characters",
            ));
        }
        if n > Self::MAX {
            return Err(field_error(
                field,
                "too_long",
                "a username has at most 24 characters",
            ));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(field_error(
                field,
                "invalid_characters",
                "a username may contain only letters, digits, _ and -",
            ));
        }
        Ok(Username(s.to_string()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A plausible email address: one `@`, a non-empty local part, a dotted domain, no spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        let bad = || field_error(field, "invalid_email", "this is not a valid email address");
        let s = s.trim();
        if s.len() > 254 {
            return Err(field_error(
                field,
                "too_long",
                "an email address has at most 254 characters",
            ));
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != '@' && c != '<' && c != '>');
        if !domain_ok || !local_ok {
            return Err(bad());
        }
        Ok(Email(s.to_string()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A password: 8–256 characters (the upper bound keeps hashing cost bounded).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    pub const MIN: usize = 8;
    pub const MAX: usize = 256;

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        let n = s.chars().count();
        if n < Self::MIN {
            return Err(field_error(
                field,
                "too_short",
                "a password has at least 8 characters",
            ));
        }
        if n > Self::MAX {
            return Err(field_error(
                field,
                "too_long",
                "a password has at most 256 characters",
            ));
        }
        Ok(Password(s.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Free text shown to others (display name, bio): bounded, no control characters except
/// newlines in multi-line fields, trimmed; empty means "clear".
pub fn profile_text(
    field: &str,
    s: &str,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, FieldError> {
    let s = s.trim();
    if s.chars().count() > max {
        return Err(field_error(
            field,
            "too_long",
            format!("at most {max} characters"),
        ));
    }
    if s.chars()
        .any(|c| c.is_control() && !(multiline && c == '\n'))
    {
        return Err(field_error(
            field,
            "invalid_characters",
            "control characters are not allowed",
        ));
    }
    Ok(if s.is_empty() {
        None
    } else {
        Some(s.to_string())
    })
}

/// An avatar URL: `http://` or `https://`, at most 500 characters, no spaces or quotes.
pub fn avatar_url(field: &str, s: &str) -> Result<Option<String>, FieldError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() > 500 {
        return Err(field_error(field, "too_long", "at most 500 characters"));
    }
    let ok_scheme = s.starts_with("https://") || s.starts_with("http://");
    let ok_chars = s
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '"' && c != '\'' && c != '<' && c != '>');
    if !ok_scheme || !ok_chars || s.len() <= "https://".len() {
        return Err(field_error(
            field,
            "invalid_url",
            "an http:// or https:// URL is required",
        ));
    }
    Ok(Some(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rules() {
        for ok in ["abc", "Alice_99", "a-b-c", "x".repeat(24).as_str()] {
            assert!(Username::parse("username", ok).is_ok(), "{ok}");
        }
        for (bad, reason) in [
            ("ab", "too_short"),
            (&"x".repeat(25)[..], "too_long"),
            ("al ice", "invalid_characters"),
            ("ålice", "invalid_characters"),
            ("a.b", "invalid_characters"),
        ] {
            assert_eq!(
                Username::parse("username", bad).unwrap_err().reason,
                reason,
                "{bad}"
            );
        }
    }

    #[test]
    fn emails_are_checked() {
        for ok in ["a@example.com", "first.last+tag@sub.example.org"] {
            assert!(Email::parse("email", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@example",
            "a b@example.com",
            "a@exa mple.com",
            "a@.example.com",
            "a@example..com",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_have_bounds_and_hide_in_debug() {
        assert_eq!(
            Password::parse("password", "short").unwrap_err().reason,
            "too_short"
        );
        let p = Password::parse("password", "long enough").unwrap();
        assert!(!format!("{p:?}").contains("long enough"));
    }

    #[test]
    fn profile_text_and_urls() {
        assert_eq!(
            profile_text("bio", "  hi  ", 10, true).unwrap().as_deref(),
            Some("hi")
        );
        assert_eq!(profile_text("bio", "", 10, true).unwrap(), None);
        assert!(profile_text("display_name", "a\u{7}b", 40, false).is_err());
        assert!(avatar_url("avatar_url", "javascript:alert(1)").is_err());
        assert!(
            avatar_url("avatar_url", "https://example.com/a.png")
                .unwrap()
                .is_some()
        );
    }
}
