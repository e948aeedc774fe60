//! The key provider as the service calls it: each call a child span (`key_provider.<operation>`: Azure Key
//! Vault's wrapKey / unwrapKey, or the local key file), timed into `clusterconfig.key_provider.call.duration`,
//! failures counted there by outcome. Keys, wrapped or not, are never recorded.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use tracing::Instrument;

use clusterconfig_crypto::{DataKey, KeyProvider, ProviderError, WrappedKey};

use super::metrics::metrics;

#[derive(Debug)]
pub struct InstrumentedKeyProvider {
    inner: Arc<dyn KeyProvider>,
}

impl InstrumentedKeyProvider {
    pub fn wrap(inner: Arc<dyn KeyProvider>) -> Arc<dyn KeyProvider> {
        Arc::new(Self { inner })
    }
}

macro_rules! call {
    ($self:ident, $operation:literal, $call:expr) => {{
        let provider = $self.inner.kind();
        let span = tracing::info_span!(
            "key_provider",
            otel.name = concat!("key_provider.", $operation),
            otel.kind = "client",
            provider = provider,
        );
        let started = Instant::now();
        let result = $call.instrument(span).await;
        metrics().key_provider_call(
            provider,
            $operation,
            started.elapsed(),
            result.as_ref().map(|_| ()),
        );
        result
    }};
}

#[async_trait]
impl KeyProvider for InstrumentedKeyProvider {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn current_version(&self) -> Result<String, ProviderError> {
        call!(self, "current_version", self.inner.current_version())
    }

    async fn wrap(&self, key: &DataKey) -> Result<WrappedKey, ProviderError> {
        call!(self, "wrap", self.inner.wrap(key))
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<DataKey, ProviderError> {
        call!(self, "unwrap", self.inner.unwrap(wrapped))
    }

    async fn wrap_destroyable(&self, name: &str, key: &DataKey) -> Result<WrappedKey, ProviderError> {
        call!(self, "wrap_destroyable", self.inner.wrap_destroyable(name, key))
    }

    async fn unwrap_destroyable(&self, name: &str, wrapped: &WrappedKey) -> Result<DataKey, ProviderError> {
        call!(
            self,
            "unwrap_destroyable",
            self.inner.unwrap_destroyable(name, wrapped)
        )
    }

    async fn destroy(&self, name: &str) -> Result<(), ProviderError> {
        call!(self, "destroy", self.inner.destroy(name))
    }
}
