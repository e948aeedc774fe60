//! Telemetry of the real binary: the spans of one PUT reach an OTLP/HTTP receiver (a test endpoint that
//! decodes the protobuf) in the caller's trace (`traceparent`), with store calls as child spans; `/metrics`
//! parses as Prometheus text and its counters move as requests are made; metrics go over OTLP too; a canary
//! secret appears in no span, attribute or metric.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use base64::Engine;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use reqwest::Method;

use clusterconfig_testkit::{ARC, ServerOptions};

use crate::{Env, git_config};

const CANARY: &str = "CANARY-telemetry-secret-3f9a";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// What the receiver got, as decoded.
#[derive(Default)]
struct Received {
    traces: Vec<ExportTraceServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
}

type Shared = Arc<Mutex<Received>>;

async fn traces(State(received): State<Shared>, body: Bytes) -> &'static str {
    let request = ExportTraceServiceRequest::decode(body).expect("OTLP traces decode");
    received.lock().unwrap().traces.push(request);
    ""
}

async fn metrics(State(received): State<Shared>, body: Bytes) -> &'static str {
    let request = ExportMetricsServiceRequest::decode(body).expect("OTLP metrics decode");
    received.lock().unwrap().metrics.push(request);
    ""
}

async fn receiver() -> (String, Shared) {
    let received = Shared::default();
    let app = axum::Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/metrics", post(metrics))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

fn spans(received: &Shared) -> Vec<Span> {
    received
        .lock()
        .unwrap()
        .traces
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.clone())
        .collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => Some(s.clone()),
            AnyValue::IntValue(i) => Some(i.to_string()),
            other => Some(format!("{other:?}")),
        }
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `/metrics` as samples: `name{labels}` to value.
async fn scrape(env: &Env) -> (String, BTreeMap<String, f64>) {
    let text = reqwest::get(format!("{}/metrics", env.server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("a sample: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        samples.insert(series.to_owned(), value);
    }
    (text, samples)
}

fn requests_of(samples: &BTreeMap<String, f64>, route_part: &str, status: &str) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            series.starts_with("http_server_request_duration_seconds_count{")
                && series.contains(route_part)
                && series.contains(&format!("http_response_status_code=\"{status}\""))
        })
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_put_is_traced_in_the_callers_trace_and_counted_in_the_metrics() {
    let (otlp, received) = receiver().await;
    let env = Env::start_with(
        ARC,
        ServerOptions::default()
            .env("CLUSTERCONFIG_TELEMETRY__OTLP_ENDPOINT", otlp)
            .env("CLUSTERCONFIG_TELEMETRY__TRACE_EXPORT_DELAY", "100ms")
            .env("CLUSTERCONFIG_TELEMETRY__METRICS_EXPORT_INTERVAL", "500ms"),
    );
    let mut body = git_config();
    body["properties"]["gitRepository"]["httpsUser"] = "git".into();
    body["properties"]["configurationProtectedSettings"] =
        serde_json::json!({"httpsKey": base64::engine::general_purpose::STANDARD.encode(CANARY)});
    let traceparent = format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01");
    let created = env
        .arm
        .send(
            Method::PUT,
            &env.flux("traced"),
            Some(&body),
            &[("traceparent", &traceparent)],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);

    // The request's span arrives in the caller's trace, as a child of the caller's span.
    let deadline = Instant::now() + Duration::from_secs(20);
    let server_span = loop {
        let found = spans(&received)
            .into_iter()
            .find(|s| hex(&s.trace_id) == TRACE_ID && hex(&s.parent_span_id) == PARENT_SPAN_ID);
        if let Some(span) = found {
            break span;
        }
        assert!(Instant::now() < deadline, "the PUT's span reached the receiver");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        server_span
            .name
            .starts_with("PUT /subscriptions/{subscriptionId}/"),
        "{}",
        server_span.name
    );
    assert!(
        attribute(&server_span, "http.route").is_some_and(|r| r.ends_with("/fluxConfigurations/{name}")),
        "{server_span:?}"
    );
    assert_eq!(
        attribute(&server_span, "http.response.status_code").as_deref(),
        Some("201")
    );
    let operation = created.header("azure-asyncoperation").unwrap();
    let operation_id = attribute(&server_span, "arm.operation_id").expect("the ARM operation id");
    assert!(
        operation.contains(&operation_id),
        "{operation} has {operation_id}"
    );
    assert!(attribute(&server_span, "correlation_id").is_some());

    // Store calls are spans of the same trace, under the request.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let children: Vec<Span> = spans(&received)
            .into_iter()
            .filter(|s| hex(&s.trace_id) == TRACE_ID && s.name.starts_with("store."))
            .collect();
        if children.iter().any(|s| s.name == "store.commit") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "store spans in the trace: {children:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The trace as it arrived, for the test's output.
    for span in spans(&received).iter().filter(|s| hex(&s.trace_id) == TRACE_ID) {
        let attributes: Vec<String> = span
            .attributes
            .iter()
            .map(|kv| format!("{}={}", kv.key, attribute(span, &kv.key).unwrap_or_default()))
            .collect();
        println!(
            "span {} parent {} {:>7} us  {}  [{}]",
            hex(&span.span_id),
            hex(&span.parent_span_id),
            (span.end_time_unix_nano - span.start_time_unix_nano) / 1000,
            span.name,
            attributes.join(", ")
        );
    }

    // /metrics: Prometheus text whose request counter moves with each request.
    let (_, before) = scrape(&env).await;
    let flux_get = |samples: &BTreeMap<String, f64>| requests_of(samples, "fluxConfigurations/{name}", "200");
    for _ in 0..3 {
        assert_eq!(env.arm.get(&env.flux("traced")).await.status, 200);
    }
    let (text, after) = scrape(&env).await;
    assert_eq!(
        flux_get(&after) - flux_get(&before),
        3.0,
        "three GETs counted:\n{text}"
    );
    assert!(requests_of(&after, "fluxConfigurations/{name}", "201") >= 1.0);
    println!("{text}");
    for family in [
        "# TYPE http_server_request_duration_seconds histogram",
        "clusterconfig_store_call_duration_seconds_count",
        "clusterconfig_longpolls_waiting",
        "clusterconfig_operations_total",
        "clusterconfig_key_provider_call_duration_seconds_count",
    ] {
        assert!(text.contains(family), "{family} in:\n{text}");
    }

    // On Cosmos DB, its own account of the calls: request units, and requests by status.
    if std::env::var("CLUSTERCONFIG_E2E_STORE").as_deref() == Ok("cosmos") {
        assert!(
            text.contains("clusterconfig_cosmos_request_units_total"),
            "RU charges:\n{text}"
        );
        assert!(
            text.contains("clusterconfig_cosmos_requests_total{http_response_status_code=\"200\"}")
                || text.contains("clusterconfig_cosmos_requests_total{http_response_status_code=\"201\"}"),
            "Cosmos requests by status:\n{text}"
        );
    }

    // Gauges from the fleet index: agents by last contact, resources by state (the index catches up with the
    // PUT within about a second).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (text, _) = scrape(&env).await;
        let fleet = text.lines().any(|l| {
            l.starts_with("clusterconfig_resources{")
                && l.contains("resource_type=\"fluxConfigurations\"")
                && l.contains("provisioning_state=\"Creating\"")
        });
        if fleet && text.contains("clusterconfig_agents{") {
            break;
        }
        assert!(Instant::now() < deadline, "fleet gauges in:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Metrics go over OTLP too.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let names: Vec<String> = received
            .lock()
            .unwrap()
            .metrics
            .iter()
            .flat_map(|r| &r.resource_metrics)
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| s.metrics.iter().map(|m| m.name.clone()))
            .collect();
        if names.iter().any(|n| n == "http.server.request.duration") {
            break;
        }
        assert!(Instant::now() < deadline, "request metrics over OTLP: {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The canary is nowhere: not in a span, an attribute, a metric or a log line.
    let encoded = base64::engine::general_purpose::STANDARD.encode(CANARY);
    let everything = {
        let received = received.lock().unwrap();
        format!("{:?}{:?}", received.traces, received.metrics)
    };
    for needle in [CANARY, encoded.as_str()] {
        assert!(
            !everything.contains(needle),
            "{needle} reached the exported telemetry"
        );
        assert!(!text.contains(needle), "{needle} reached /metrics");
        assert!(!env.server.logs().contains(needle), "{needle} reached the logs");
    }
}
