//! A small ARM client: requests with an ARM token, and following long-running operations.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

pub struct Arm {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn error_target(&self) -> &str {
        self.body["error"]["target"].as_str().unwrap_or_default()
    }
}

impl Arm {
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        }
    }

    pub fn with_token(&self, token: &str) -> Self {
        Self::new(&self.base, token)
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Sends `method path_and_query` with an optional JSON body and extra headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        read(request.send().await.expect("the server answers")).await
    }

    /// Sends raw bytes (malformed bodies).
    pub async fn send_raw(&self, method: Method, path: &str, body: Vec<u8>, content_type: &str) -> Response {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body);
        read(request.send().await.expect("the server answers")).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.send(Method::PUT, path, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.send(Method::PATCH, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// Polls an `Azure-AsyncOperation` URL until its status is terminal; returns the last status document.
    pub async fn wait_operation(&self, url: &str, timeout: Duration) -> Value {
        let start = std::time::Instant::now();
        loop {
            let status = self.get(url).await;
            assert_eq!(status.status, 200, "operation status: {}", status.text);
            let state = status.body["status"].as_str().unwrap_or_default().to_owned();
            if ["Succeeded", "Failed", "Canceled"].contains(&state.as_str()) {
                return status.body;
            }
            assert!(
                start.elapsed() < timeout,
                "operation {url} still '{state}' after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn read(response: reqwest::Response) -> Response {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Response {
        status,
        headers,
        body,
        text,
    }
}
