//! The absolute URLs the service hands out (`Azure-AsyncOperation`, `Location`, `nextLink`): on the host of
//! ARM's `Referer` when ARM sends one, else on the host the request came to; both carry the api-version. Only
//! hosts on the allow-list (`arm.link_hosts`) are used, so a caller cannot make the service hand out links to
//! another host: anything else falls back to the address the service itself serves on.

use axum::http::HeaderMap;
use axum::http::header::{HOST, REFERER};
use base64::Engine;

use clusterconfig_model::error::{ArmError, codes};

/// Where links may point.
#[derive(Debug, Clone)]
pub struct LinkHosts {
    /// Hosts (`management.azure.com`, `*.management.azure.com`, `localhost`), matched case-insensitively on
    /// the host part; an entry with a port (`host:8443`) also pins the port.
    pub allowed: Vec<String>,
    /// `scheme://authority` used when no allowed host is given: the service's own address.
    pub fallback: String,
}

impl LinkHosts {
    fn allows(&self, authority: &str) -> bool {
        let authority = authority.to_ascii_lowercase();
        let host = host_of(&authority);
        self.allowed.iter().any(|entry| {
            let entry = entry.to_ascii_lowercase();
            if entry.contains(':') && !entry.starts_with('[') || entry.contains("]:") {
                return entry == authority;
            }
            match entry.strip_prefix("*.") {
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => host == entry.trim_start_matches('[').trim_end_matches(']'),
            }
        })
    }
}

/// The host part of `host[:port]` or `[v6]:port`.
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.rsplit_once(':').map_or(authority, |(host, _)| host)
}

pub struct Links {
    /// `scheme://authority`
    base: String,
}

impl Links {
    pub fn from_headers(headers: &HeaderMap, public_scheme: &str, hosts: &LinkHosts) -> Self {
        let from_referer = headers
            .get(REFERER)
            .and_then(|v| v.to_str().ok())
            .and_then(|referer| {
                let (scheme, rest) = referer.split_once("://")?;
                let authority = rest.split(['/', '?', '#']).next()?;
                (!authority.is_empty() && (scheme == "http" || scheme == "https") && hosts.allows(authority))
                    .then(|| format!("{scheme}://{authority}"))
            });
        let from_host = || {
            let host = headers.get(HOST).and_then(|v| v.to_str().ok())?;
            if !hosts.allows(host) {
                return None;
            }
            let scheme = headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .filter(|p| *p == "http" || *p == "https")
                .unwrap_or(public_scheme);
            Some(format!("{scheme}://{host}"))
        };
        let base = from_referer
            .or_else(from_host)
            .unwrap_or_else(|| hosts.fallback.clone());
        Self { base }
    }

    /// `{base}{path}?api-version={version}`
    pub fn absolute(&self, path: &str, api_version: impl std::fmt::Display) -> String {
        format!("{}{path}?api-version={api_version}", self.base)
    }

    pub fn next_page(&self, path: &str, api_version: &str, skip_token: &str) -> String {
        format!(
            "{}{path}?api-version={api_version}&$skipToken={skip_token}",
            self.base
        )
    }
}

/// `$skipToken`s are opaque to clients: the position where the previous page ended.
pub fn encode_skip_token(position: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{position}"))
}

pub fn decode_skip_token(token: &str) -> Result<String, ArmError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("v1:").map(str::to_owned))
        .ok_or_else(|| {
            ArmError::new(
                400,
                codes::INVALID_SKIP_TOKEN,
                "The $skipToken is not one this service issued.",
            )
            .with_target("$skipToken")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterconfig_model::api_version::ApiVersion;

    fn hosts() -> LinkHosts {
        LinkHosts {
            allowed: vec![
                "*.management.azure.com".into(),
                "management.azure.com".into(),
                "internal".into(),
            ],
            fallback: "http://127.0.0.1:8080".into(),
        }
    }

    #[test]
    fn referer_host_wins() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, "internal:8080".parse().unwrap());
        assert_eq!(
            Links::from_headers(&headers, "http", &hosts()).absolute("/x", ApiVersion::V2025_04_01),
            "http://internal:8080/x?api-version=2025-04-01"
        );
        headers.insert(
            REFERER,
            "https://management.azure.com/subscriptions/s?api-version=1"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            Links::from_headers(&headers, "http", &hosts()).absolute("/x", ApiVersion::V2025_04_01),
            "https://management.azure.com/x?api-version=2025-04-01"
        );
        headers.insert(
            REFERER,
            "https://westeurope.management.azure.com/s".parse().unwrap(),
        );
        assert_eq!(
            Links::from_headers(&headers, "http", &hosts()).absolute("/x", ApiVersion::V2025_04_01),
            "https://westeurope.management.azure.com/x?api-version=2025-04-01"
        );
    }

    #[test]
    fn hosts_off_the_list_are_never_linked_to() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, "evil.example:8080".parse().unwrap());
        headers.insert(
            REFERER,
            "https://management.azure.com.evil.example/s".parse().unwrap(),
        );
        assert_eq!(
            Links::from_headers(&headers, "https", &hosts()).absolute("/x", ApiVersion::V2025_04_01),
            "http://127.0.0.1:8080/x?api-version=2025-04-01"
        );
        // An allowed Referer still wins over a foreign Host, and a foreign Referer falls back to an allowed Host.
        headers.insert(HOST, "internal".parse().unwrap());
        assert!(
            Links::from_headers(&headers, "https", &hosts())
                .absolute("/x", ApiVersion::V2025_04_01)
                .starts_with("https://internal/")
        );
    }

    #[test]
    fn skip_tokens_round_trip_and_refuse_others() {
        assert_eq!(decode_skip_token(&encode_skip_token("abc")).unwrap(), "abc");
        assert!(decode_skip_token("garbage!").is_err());
    }
}
