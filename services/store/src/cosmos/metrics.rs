//! Cosmos DB's own account of each operation, as metrics: request units charged, and the requests it took by
//! status (429s are the throttled ones, retried after the server's retry-after), from the SDK's per-operation
//! diagnostics. Through OpenTelemetry's global meter, so the service's telemetry decides where they go (nowhere
//! in a process that set none up).

use azure_core::http::Context;
use azure_data_cosmos::diagnostics::{DiagnosticsContext, DiagnosticsHandler};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;

pub(super) struct CosmosMetrics {
    request_units: Counter<f64>,
    requests: Counter<u64>,
}

impl CosmosMetrics {
    pub(super) fn new() -> Self {
        let meter = opentelemetry::global::meter("clusterconfig");
        Self {
            request_units: meter
                .f64_counter("clusterconfig.cosmos.request_units")
                .with_unit("{RU}")
                .with_description("Request units Cosmos DB charged, retries included.")
                .build(),
            requests: meter
                .u64_counter("clusterconfig.cosmos.requests")
                .with_description("Requests sent to Cosmos DB, retries included, by status (429: throttled).")
                .build(),
        }
    }
}

impl DiagnosticsHandler for CosmosMetrics {
    fn handle(&self, diagnostics: &DiagnosticsContext, _: &Context<'_>) {
        self.request_units
            .add(diagnostics.total_request_charge().value(), &[]);
        for request in diagnostics.requests().iter() {
            let code = u16::from(request.status().status_code());
            self.requests
                .add(1, &[KeyValue::new("http.response.status_code", i64::from(code))]);
        }
    }
}
