//! The data-plane API, as `api-specs/dataplane.yaml` describes it; nothing else of the server is known here.

use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, ETAG, IF_NONE_MATCH};
use serde::Serialize;

use clusterconfig_model::dataplane::{AgentFacts, DesiredState, ExtensionStatusReport, FluxStatusReport};
use clusterconfig_model::ids::ClusterId;

pub struct DataPlane {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// What became of a report.
#[derive(Debug, PartialEq, Eq)]
pub enum Reported {
    Accepted,
    /// The server holds newer state; this generation needs no report.
    Stale,
    /// The resource no longer exists.
    Gone,
}

impl DataPlane {
    pub fn new(server: &str, cluster: &ClusterId, token: String) -> anyhow::Result<Self> {
        Ok(Self::with_client(Self::http_client()?, server, cluster, token))
    }

    /// The HTTP client an agent uses; several agents in one process (the load mode) share one.
    pub fn http_client() -> anyhow::Result<reqwest::Client> {
        Ok(reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()?)
    }

    pub fn with_client(http: reqwest::Client, server: &str, cluster: &ClusterId, token: String) -> Self {
        Self {
            http,
            base: format!("{}/dataplane/v1{cluster}", server.trim_end_matches('/')),
            token,
        }
    }

    /// The desired state; with `known`, waits up to `wait` for a newer one (`None` when none came).
    pub async fn desired_state(
        &self,
        known: Option<u64>,
        wait: Duration,
    ) -> anyhow::Result<Option<DesiredState>> {
        let mut request = self
            .http
            .get(format!("{}/desiredState", self.base))
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
            .timeout(wait + Duration::from_secs(30));
        if let Some(version) = known {
            request = request
                .header(IF_NONE_MATCH, format!("\"{version}\""))
                .header("Prefer", format!("wait={}", wait.as_secs()));
        }
        let response = request.send().await.context("the server did not answer")?;
        match response.status() {
            StatusCode::NOT_MODIFIED => Ok(None),
            StatusCode::OK => {
                let etag = response
                    .headers()
                    .get(ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let state: DesiredState = response
                    .json()
                    .await
                    .context("the desired state does not parse")?;
                if let Some(etag) = etag
                    && etag.trim_matches('"') != state.version.to_string()
                {
                    bail!(
                        "the desired state's ETag {etag} does not match its version {}",
                        state.version
                    );
                }
                Ok(Some(state))
            }
            status => bail!(
                "desired state: {status}: {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }

    pub async fn report_flux(&self, name: &str, report: &FluxStatusReport) -> anyhow::Result<Reported> {
        self.post(&format!("fluxConfigurations/{name}/status"), report)
            .await
    }

    pub async fn report_extension(
        &self,
        name: &str,
        report: &ExtensionStatusReport,
    ) -> anyhow::Result<Reported> {
        self.post(&format!("extensions/{name}/status"), report).await
    }

    pub async fn report_facts(&self, facts: &AgentFacts) -> anyhow::Result<()> {
        self.post("agent", facts).await.map(|_| ())
    }

    async fn post(&self, path: &str, body: &impl Serialize) -> anyhow::Result<Reported> {
        let response = self
            .http
            .post(format!("{}/{path}", self.base))
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
            .timeout(Duration::from_secs(30))
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}: the server did not answer"))?;
        match response.status() {
            status if status.is_success() => Ok(Reported::Accepted),
            StatusCode::CONFLICT => Ok(Reported::Stale),
            StatusCode::NOT_FOUND => Ok(Reported::Gone),
            status => bail!(
                "POST {path}: {status}: {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }
}
