//! The absolute URLs the service hands out (`Azure-AsyncOperation`, `nextLink`): on the host of ARM's `Referer`
//! when ARM sends one, else on the host the request came to. Both carry the api-version.

use axum::http::HeaderMap;
use axum::http::header::{HOST, REFERER};
use base64::Engine;

use clusterconfig_model::api_version::ApiVersion;
use clusterconfig_model::error::{ArmError, codes};

pub struct Links {
    /// `scheme://authority`
    base: String,
}

impl Links {
    pub fn from_headers(headers: &HeaderMap, public_scheme: &str) -> Self {
        let from_referer = headers
            .get(REFERER)
            .and_then(|v| v.to_str().ok())
            .and_then(|referer| {
                let (scheme, rest) = referer.split_once("://")?;
                let authority = rest.split(['/', '?', '#']).next()?;
                (!authority.is_empty() && (scheme == "http" || scheme == "https"))
                    .then(|| format!("{scheme}://{authority}"))
            });
        let base = from_referer.unwrap_or_else(|| {
            let scheme = headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .filter(|p| *p == "http" || *p == "https")
                .unwrap_or(public_scheme);
            let host = headers
                .get(HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("localhost");
            format!("{scheme}://{host}")
        });
        Self { base }
    }

    /// `{base}{path}?api-version={version}`
    pub fn absolute(&self, path: &str, api_version: ApiVersion) -> String {
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

    #[test]
    fn referer_host_wins() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, "internal:8080".parse().unwrap());
        assert_eq!(
            Links::from_headers(&headers, "http").absolute("/x", ApiVersion::V2025_04_01),
            "http://internal:8080/x?api-version=2025-04-01"
        );
        headers.insert(
            REFERER,
            "https://management.azure.com/subscriptions/s?api-version=1"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            Links::from_headers(&headers, "http").absolute("/x", ApiVersion::V2025_04_01),
            "https://management.azure.com/x?api-version=2025-04-01"
        );
    }

    #[test]
    fn skip_tokens_round_trip_and_refuse_others() {
        assert_eq!(decode_skip_token(&encode_skip_token("abc")).unwrap(), "abc");
        assert!(decode_skip_token("garbage!").is_err());
    }
}
