//! The service's metrics, one instrument each, named after OpenTelemetry's semantic conventions where one
//! applies. They go out over OTLP when configured and as Prometheus text on `/metrics` always. Attributes
//! name routes, operations and outcomes, never a value a caller sent: no secret can reach a metric.

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};

/// Buckets of request and call latencies, in seconds (1 ms to 60 s; a long-poll waits up to 300 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

pub struct Metrics {
    requests: Histogram<f64>,
    store_calls: Histogram<f64>,
    key_provider_calls: Histogram<f64>,
    change_delivery: Histogram<f64>,
    task_runs: Histogram<f64>,
    operations: Counter<u64>,
    data_key_lookups: Counter<u64>,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The instruments, made on first use from the meter provider in force (set by `telemetry::init`; without
/// it, as in tests that run the app in process, they record nothing).
pub fn metrics() -> &'static Metrics {
    METRICS.get_or_init(|| Metrics::new(&opentelemetry::global::meter("clusterconfig")))
}

fn seconds(meter: &Meter, name: &'static str, description: &'static str) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("s")
        .with_description(description)
        .with_boundaries(LATENCY_BUCKETS.to_vec())
        .build()
}

fn outcome<E>(result: Result<(), E>) -> &'static str {
    if result.is_ok() { "ok" } else { "error" }
}

impl Metrics {
    fn new(meter: &Meter) -> Self {
        Self {
            requests: seconds(meter, "http.server.request.duration", "HTTP requests by route, method and status."),
            store_calls: seconds(meter, "clusterconfig.store.call.duration", "Store calls by backend, operation and outcome."),
            key_provider_calls: seconds(
                meter,
                "clusterconfig.key_provider.call.duration",
                "Key provider (Key Vault or local key file) calls by operation and outcome.",
            ),
            change_delivery: seconds(
                meter,
                "clusterconfig.change.delivery.duration",
                "From a committed change of a cluster's desired state to a waiting long-poll of that cluster answered.",
            ),
            task_runs: seconds(meter, "clusterconfig.task.run.duration", "Background task runs by task and outcome."),
            operations: meter
                .u64_counter("clusterconfig.operations")
                .with_description("Asynchronous operations by resource kind and state reached (started, Succeeded, Failed).")
                .build(),
            data_key_lookups: meter
                .u64_counter("clusterconfig.data_key.lookups")
                .with_description("Data-key lookups of the key cache by outcome (hit, or unwrapped by the key provider).")
                .build(),
        }
    }

    pub fn request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.requests.record(
            elapsed.as_secs_f64(),
            &[
                KeyValue::new("http.route", route.to_owned()),
                KeyValue::new("http.request.method", method.to_owned()),
                KeyValue::new("http.response.status_code", i64::from(status)),
            ],
        );
    }

    pub fn store_call<E>(
        &self,
        backend: &'static str,
        operation: &'static str,
        elapsed: Duration,
        result: Result<(), E>,
    ) {
        self.store_calls.record(
            elapsed.as_secs_f64(),
            &[
                KeyValue::new("db.system", backend),
                KeyValue::new("db.operation", operation),
                KeyValue::new("outcome", outcome(result)),
            ],
        );
    }

    pub fn key_provider_call<E>(
        &self,
        provider: &'static str,
        operation: &'static str,
        elapsed: Duration,
        result: Result<(), E>,
    ) {
        self.key_provider_calls.record(
            elapsed.as_secs_f64(),
            &[
                KeyValue::new("provider", provider),
                KeyValue::new("operation", operation),
                KeyValue::new("outcome", outcome(result)),
            ],
        );
    }

    pub fn change_delivered(&self, elapsed: Duration) {
        self.change_delivery.record(elapsed.as_secs_f64(), &[]);
    }

    pub fn task_run(&self, task: &'static str, elapsed: Duration, ok: bool) {
        self.task_runs.record(
            elapsed.as_secs_f64(),
            &[
                KeyValue::new("task", task),
                KeyValue::new("outcome", if ok { "ok" } else { "error" }),
            ],
        );
    }

    pub fn operation(&self, kind: &'static str, state: &'static str) {
        self.operations
            .add(1, &[KeyValue::new("kind", kind), KeyValue::new("state", state)]);
    }

    pub fn data_key_lookups(&self, hit: bool, count: u64) {
        self.data_key_lookups.add(
            count,
            &[KeyValue::new("outcome", if hit { "hit" } else { "unwrapped" })],
        );
    }
}

#[cfg(test)]
mod tests {
    /// Every series the Grafana dashboard in `infra/` queries is one this service exports, under the name
    /// Prometheus gives it (dots to underscores, the unit and `_total` appended).
    #[test]
    fn the_dashboard_queries_only_exported_metrics() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../../../infra/grafana/clusterconfig.json")).unwrap();
        let sources = [
            include_str!("metrics.rs"),
            include_str!("mod.rs"),
            include_str!("../../../store/src/cosmos/metrics.rs"),
        ]
        .concat();
        let instruments: Vec<String> = regex::Regex::new(r#""((?:http|clusterconfig)\.[a-z_.]+)""#)
            .unwrap()
            .captures_iter(&sources)
            .map(|c| c[1].replace('.', "_"))
            .collect();
        let series = regex::Regex::new(r"\b((?:http|clusterconfig)_[a-z_]+)").unwrap();
        let queries = dashboard["panels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["targets"].as_array().unwrap())
            .map(|t| t["expr"].as_str().unwrap().to_owned());
        let mut checked = 0;
        for query in queries {
            for name in series.captures_iter(&query).map(|c| c[1].to_owned()) {
                let base = ["_bucket", "_count", "_sum", "_total"]
                    .iter()
                    .fold(name.clone(), |n, suffix| {
                        n.strip_suffix(suffix).map(str::to_owned).unwrap_or(n)
                    });
                let base = base.strip_suffix("_seconds").unwrap_or(&base);
                assert!(
                    instruments.iter().any(|i| i == base),
                    "{name} ({base}) is not exported: {instruments:?}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 12, "the dashboard has queries");
    }
}
