//! Small checks shared by the resource rules. Each returns an ARM error that names its target.

use base64::Engine;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ArmError;
use crate::ids::{check_dns_name, printable};

/// Deserializes a request value, reporting the JSON path of a type error as the error's target.
/// Messages about write-only fields never quote the value.
pub fn deserialize<T: DeserializeOwned>(value: &Value, prefix: &str) -> Result<T, ArmError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let target = if path == "." {
            prefix.to_owned()
        } else {
            format!("{prefix}.{path}")
        };
        let message = if is_write_only_path(&target) {
            format!("The value of '{target}' has the wrong type.")
        } else {
            let inner: String = err.inner().to_string().chars().take(300).collect();
            format!("The value of '{target}' is invalid: {inner}.")
        };
        ArmError::invalid_content(message).with_target(target)
    })
}

/// Whether a property path holds write-only values whose text must never appear in a message.
pub fn is_write_only_path(path: &str) -> bool {
    const WRITE_ONLY: [&str; 7] = [
        "configurationProtectedSettings",
        "accountKey",
        "sasToken",
        "clientSecret",
        "clientCertificate",
        "tlsConfig",
        "privateKey",
    ];
    WRITE_ONLY.iter().any(|field| path.contains(field))
}

/// A required property, named by its full target path.
pub struct Field<'a> {
    target: &'a str,
}

impl<'a> Field<'a> {
    pub fn new(target: &'a str) -> Self {
        Self { target }
    }

    /// The value, which must be present and non-empty.
    pub fn required<'v>(&self, value: Option<&'v str>) -> Result<&'v str, ArmError> {
        match value {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(ArmError::validation(
                self.target,
                format!("'{}' is required.", self.target),
            )),
        }
    }
}

/// Intervals and timeouts in seconds: at least one second, at most what Flux's durations hold comfortably.
pub fn positive_seconds(value: i64, target: &str) -> Result<u64, ArmError> {
    const MAX: i64 = i32::MAX as i64;
    if (1..=MAX).contains(&value) {
        Ok(value as u64)
    } else {
        Err(ArmError::validation(
            target,
            format!("'{target}' must be between 1 and {MAX} seconds; it is {value}."),
        ))
    }
}

/// An ISO 8601 duration such as `PT1H`, `P1D` or `PT30M`.
pub fn iso8601_duration(text: &str, target: &str) -> Result<(), ArmError> {
    let invalid = || {
        ArmError::validation(
            target,
            format!(
                "'{}' is not an ISO 8601 duration such as 'PT30M', 'PT1H' or 'P1D'.",
                printable(text)
            ),
        )
    };
    let rest = text.strip_prefix('P').ok_or_else(invalid)?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return Err(invalid()),
        None => (rest, None),
    };
    let mut components = 0;
    let mut check = |part: &str, units: &[char]| -> Result<(), ArmError> {
        let mut number = String::new();
        let mut last_unit = None;
        for c in part.chars() {
            if c.is_ascii_digit() || (c == '.' && units.contains(&'S')) {
                number.push(c);
            } else {
                let position = units.iter().position(|u| *u == c).ok_or_else(invalid)?;
                if number.is_empty()
                    || number.parse::<f64>().is_err()
                    || last_unit.is_some_and(|l| l >= position)
                {
                    return Err(invalid());
                }
                last_unit = Some(position);
                number.clear();
                components += 1;
            }
        }
        if number.is_empty() { Ok(()) } else { Err(invalid()) }
    };
    check(date, &['Y', 'M', 'W', 'D'])?;
    if let Some(time) = time {
        check(time, &['H', 'M', 'S'])?;
    }
    if components == 0 {
        return Err(invalid());
    }
    Ok(())
}

pub fn base64_bytes(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()
}

pub fn base64_text(text: &str) -> Option<String> {
    base64_bytes(text).and_then(|bytes| String::from_utf8(bytes).ok())
}

/// `sshKnownHosts`: base64 of known_hosts lines (`host keytype key`), comments and blank lines allowed.
pub fn known_hosts(encoded: &str, target: &str) -> Result<(), ArmError> {
    let text = base64_text(encoded).ok_or_else(|| {
        ArmError::validation(
            target,
            "'sshKnownHosts' must be the base64 encoding of known_hosts lines.",
        )
    })?;
    let mut entries = 0;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        // A marker such as @cert-authority may lead the line.
        let fields = if fields.first().is_some_and(|f| f.starts_with('@')) {
            &fields[1..]
        } else {
            &fields[..]
        };
        let key_type_ok = fields
            .get(1)
            .is_some_and(|t| t.starts_with("ssh-") || t.starts_with("ecdsa-sha2-") || t.starts_with("sk-"));
        if fields.len() < 3 || !key_type_ok || base64_bytes(fields[2]).is_none() {
            return Err(ArmError::validation(
                target,
                format!(
                    "Line {} of 'sshKnownHosts' is not a known_hosts entry ('host key-type base64-key').",
                    index + 1
                ),
            ));
        }
        entries += 1;
    }
    if entries == 0 {
        return Err(ArmError::validation(
            target,
            "'sshKnownHosts' holds no known_hosts entry.",
        ));
    }
    Ok(())
}

/// Base64 of a PEM certificate, such as `httpsCACert`.
pub fn base64_pem_certificate(encoded: &str, target: &str) -> Result<(), ArmError> {
    match base64_text(encoded) {
        Some(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => Ok(()),
        _ => Err(ArmError::validation(
            target,
            format!("'{target}' must be the base64 encoding of a PEM certificate."),
        )),
    }
}

/// A value that becomes one field of a rendered object (a branch, a path): no control characters, newline and
/// NUL included, which would split or end the field where the cluster reads it.
pub fn single_line(value: &str, target: &str) -> Result<(), ArmError> {
    if value.chars().any(char::is_control) {
        return Err(ArmError::validation(
            target,
            format!("'{target}' must not contain control characters (such as newline or NUL)."),
        ));
    }
    Ok(())
}

/// A URL's text: no whitespace or control characters, at most 2048 characters.
pub fn url_text(url: &str, target: &str) -> Result<(), ArmError> {
    if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ArmError::validation(
            target,
            "The URL must be at most 2048 characters, without spaces or control characters.",
        ));
    }
    Ok(())
}

/// An `http://` or `https://` URL with a host.
pub fn http_url(url: &str, target: &str, what: &str) -> Result<(), ArmError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
        return Err(ArmError::validation(
            target,
            format!("Invalid URL for {what}: it must start with 'http://' or 'https://' and name a host."),
        ));
    }
    url_text(url, target)
}

/// S3-style bucket names: 3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit.
pub fn bucket_name(name: &str, target: &str) -> Result<(), ArmError> {
    if name.len() < 3 {
        return Err(ArmError::validation(
            target,
            "A bucket name must be at least 3 characters long.",
        ));
    }
    check_dns_name(name, 63, true).map_err(|why| {
        ArmError::validation(
            target,
            format!("Invalid bucket name '{}': {why}", printable(name)),
        )
    })
}

/// Azure Storage container names: 3-63 lowercase letters, digits and single '-', starting with a letter or digit.
pub fn container_name(name: &str, target: &str) -> Result<(), ArmError> {
    let why = if name.len() < 3 {
        Some("it must be at least 3 characters long.".to_owned())
    } else if name.contains("--") {
        Some("it must not contain consecutive '-'.".to_owned())
    } else {
        check_dns_name(name, 63, false).err()
    };
    match why {
        None => Ok(()),
        Some(why) => Err(ArmError::validation(
            target,
            format!("Invalid container name '{}': {why}", printable(name)),
        )),
    }
}

/// The name of a Kubernetes Secret (a DNS subdomain).
pub fn secret_name(name: &str, target: &str) -> Result<(), ArmError> {
    check_dns_name(name, 253, true).map_err(|why| {
        ArmError::validation(
            target,
            format!("Invalid Secret name '{}': {why}", printable(name)),
        )
    })
}

/// An OCI digest: `sha256:` and 64 hex digits (or sha384 / sha512).
pub fn oci_digest(digest: &str, target: &str) -> Result<(), ArmError> {
    let ok = digest.split_once(':').is_some_and(|(algorithm, hex)| {
        let len = match algorithm {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ => return false,
        };
        hex.len() == len
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    });
    if ok {
        Ok(())
    } else {
        Err(ArmError::validation(
            target,
            "The digest must look like 'sha256:' followed by 64 lowercase hex digits.",
        ))
    }
}

/// The envelope members of a PUT or PATCH body that name the resource (`id`, `name`, `type`) are read-only:
/// ARM takes them from the URL. When a caller sends them anyway, they must be strings (or null) that agree with
/// the URL (case-insensitively, as ARM matches ids); anything else is refused rather than ignored, so a body
/// meant for another resource is not applied to this one.
pub fn check_envelope(body: &Value, id: &str, name: &str, arm_type: &str) -> Result<(), ArmError> {
    for (member, expected) in [("id", id), ("name", name), ("type", arm_type)] {
        match body.get(member) {
            None | Some(Value::Null) => {}
            Some(Value::String(given)) if given.eq_ignore_ascii_case(expected) => {}
            Some(Value::String(given)) => {
                return Err(ArmError::invalid_content(format!(
                    "The body's '{member}' ('{}') does not match the request URL's ('{expected}'); leave it out or make it match.",
                    printable(given)
                ))
                .with_target(member));
            }
            Some(_) => {
                return Err(ArmError::invalid_content(format!(
                    "The body's '{member}' must be a string (it is read-only: the URL names the resource)."
                ))
                .with_target(member));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations() {
        for ok in ["PT1H", "P1D", "PT30M", "P1DT2H", "PT1.5S", "P1Y2M3W4DT5H6M7S"] {
            assert!(iso8601_duration(ok, "t").is_ok(), "{ok}");
        }
        for bad in ["", "P", "PT", "1H", "PT1X", "PTH", "PT1M1H", "P1H"] {
            assert!(iso8601_duration(bad, "t").is_err(), "{bad}");
        }
    }

    #[test]
    fn write_only_type_errors_do_not_quote_values() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        #[serde(rename_all = "camelCase")]
        struct Body {
            configuration_protected_settings: Option<std::collections::BTreeMap<String, String>>,
        }
        let err = deserialize::<Body>(
            &serde_json::json!({"configurationProtectedSettings": "CANARY-SECRET"}),
            "properties",
        )
        .unwrap_err();
        assert!(!err.message.contains("CANARY"), "{}", err.message);
        assert_eq!(
            err.target.as_deref(),
            Some("properties.configurationProtectedSettings")
        );
    }
}
