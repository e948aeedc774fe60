//! Logs, traces and metrics: the one place that decides where they go.
//! - Logs: text or JSON on stderr, at `log_level`. Request logs carry ids and outcomes, never bodies.
//! - Traces: a span per request (route, ARM operation id, status, correlation and request ids) with W3C
//!   `traceparent` propagation, child spans for store and key-provider calls and for background task runs;
//!   exported over OTLP/HTTP when `telemetry.otlp_endpoint` is set.
//! - Metrics (`metrics`): over OTLP/HTTP beside the traces, and as Prometheus text on `GET /metrics` always.
//!
//! Nothing recorded holds a request body, a resource's settings or a key: attributes are routes, ids and
//! outcomes, so secrets cannot reach a span or a metric.

mod keys;
mod metrics;
mod store;

use std::sync::{Arc, OnceLock, Weak};

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_prometheus_text_exporter::PrometheusExporter;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

pub use keys::InstrumentedKeyProvider;
pub use metrics::{Metrics, metrics};
pub use store::InstrumentedStore;

use crate::app::App;
use crate::config::Config;

static PROMETHEUS: OnceLock<PrometheusExporter> = OnceLock::new();

/// The providers to flush when the process stops.
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Sends what is still buffered (the last spans and metrics) before the process exits.
    pub fn shutdown(self) {
        if let Some(tracer) = self.tracer
            && let Err(err) = tracer.shutdown()
        {
            eprintln!("traces not flushed: {err}");
        }
        if let Some(meter) = self.meter
            && let Err(err) = meter.shutdown()
        {
            eprintln!("metrics not flushed: {err}");
        }
    }
}

fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // PostgreSQL's notices ("relation ... already exists, skipping") are routine on every start.
        EnvFilter::new(format!("{level},sqlx::postgres::notice=warn"))
    })
}

fn log_layer<S>(format: &str) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    if format == "json" {
        Box::new(layer.json())
    } else {
        Box::new(layer)
    }
}

/// Logs, traces and metrics for a serving process.
pub fn init(config: &Config) -> anyhow::Result<Telemetry> {
    let settings = &config.telemetry;
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let prometheus = PrometheusExporter::builder().without_scope_info().build();
    let mut meters = SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_reader(prometheus.clone());
    let mut tracer = None;
    if let Some(endpoint) = &settings.otlp_endpoint {
        let endpoint = endpoint.trim_end_matches('/');
        let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_endpoint(format!("{endpoint}/v1/metrics"))
            .build()?;
        meters = meters.with_reader(
            PeriodicReader::builder(metric_exporter)
                .with_interval(settings.metrics_export_interval)
                .build(),
        );
        let span_exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{endpoint}/v1/traces"))
            .build()?;
        let batches = BatchConfigBuilder::default()
            .with_scheduled_delay(settings.trace_export_delay)
            .build();
        tracer = Some(
            SdkTracerProvider::builder()
                .with_resource(resource)
                .with_span_processor(
                    BatchSpanProcessor::builder(span_exporter)
                        .with_batch_config(batches)
                        .build(),
                )
                .build(),
        );
    }
    let meter = meters.build();
    opentelemetry::global::set_meter_provider(meter.clone());
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let _ = PROMETHEUS.set(prometheus);
    let traces = tracer
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("clusterconfig")));
    tracing_subscriber::registry()
        .with(filter(&config.log_level))
        .with(log_layer(&config.log_format))
        .with(traces)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the log and trace subscriber: {e}"))?;
    Ok(Telemetry {
        tracer,
        meter: Some(meter),
    })
}

/// The metrics in Prometheus' text format (empty before `init`, as in tests that run the app in process).
pub fn prometheus_text() -> String {
    let mut text = Vec::new();
    if let Some(exporter) = PROMETHEUS.get()
        && let Err(err) = exporter.export(&mut text)
    {
        tracing::warn!(error = %err, "cannot render the metrics");
    }
    String::from_utf8(text).unwrap_or_default()
}

/// Gauges read from the running service when metrics are collected: waiting long-polls, and from the fleet
/// index, agents by last-contact age and resources by state.
pub fn observe(app: &Arc<App>) {
    let meter = opentelemetry::global::meter("clusterconfig");
    let weak: Weak<App> = Arc::downgrade(app);
    meter
        .u64_observable_gauge("clusterconfig.longpolls.waiting")
        .with_description("Agents' long-polls waiting for a change of their cluster.")
        .with_callback(move |observer| {
            if let Some(app) = weak.upgrade() {
                observer.observe(app.hub().waiting() as u64, &[]);
            }
        })
        .build();
    let weak: Weak<App> = Arc::downgrade(app);
    meter
        .u64_observable_gauge("clusterconfig.agents")
        .with_description(
            "Clusters by how long ago their agent was last in contact (never, 5m, 1h, 24h, older).",
        )
        .with_callback(move |observer| {
            if let Some(app) = weak.upgrade() {
                for (age, count) in app.fleet().agents_by_contact_age(app.now()) {
                    observer.observe(count, &[KeyValue::new("last_contact", age)]);
                }
            }
        })
        .build();
    let weak: Weak<App> = Arc::downgrade(app);
    meter
        .u64_observable_gauge("clusterconfig.resources")
        .with_description("Resources by type, provisioning state and compliance state.")
        .with_callback(move |observer| {
            if let Some(app) = weak.upgrade() {
                for ((kind, provisioning, compliance), count) in app.fleet().resources_by_state() {
                    observer.observe(
                        count,
                        &[
                            KeyValue::new("resource_type", kind),
                            KeyValue::new("provisioning_state", provisioning),
                            KeyValue::new("compliance_state", compliance),
                        ],
                    );
                }
            }
        })
        .build();
}
