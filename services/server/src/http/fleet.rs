//! The fleet page (`GET /fleet`): a read-only HTML view of every cluster, for operators who would rather look
//! than write curl loops. Served beside the ARM API and behind the same authentication: an ARM token (the
//! service's own or Entra ID) as `Authorization: Bearer` (an authenticating proxy in front sends it), or in the
//! `clusterconfig_token` cookie that `/fleet/login` sets. Paged and filtered on the server (by name and by
//! state) over the in-memory fleet index, so it stays fast at 10,000 clusters. Not an API: it is not in
//! `api-specs/`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::AppState;
use super::error::HttpError;
use super::extract::Caller;
use crate::app::fleet::{ClusterSummary, FleetFilter, FleetPage};

const COOKIE: &str = "clusterconfig_token";
const PAGE_SIZE: usize = 50;

pub fn router() -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route("/fleet", get(page))
        .route("/fleet/login", get(login_form).post(login))
        .layer(axum::middleware::from_fn(cookie_as_bearer))
}

/// The browser's cookie stands in for the header a proxy or a client would send.
async fn cookie_as_bearer(mut request: Request, next: Next) -> Response {
    if !request.headers().contains_key(header::AUTHORIZATION) {
        let token = request
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE)
            .map(|(_, value)| value.to_owned());
        if let Some(bearer) = token.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok()) {
            request.headers_mut().insert(header::AUTHORIZATION, bearer);
        }
    }
    next.run(request).await
}

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    name: Option<String>,
    state: Option<String>,
    after: Option<String>,
}

async fn page(
    State(state): State<Arc<AppState>>,
    caller: Result<Caller, HttpError>,
    Query(query): Query<PageQuery>,
) -> Response {
    if let Err(refused) = caller {
        let body = shell(
            "Sign in",
            &format!(
                "<p role=\"alert\">{}</p><p><a href=\"/fleet/login\">Sign in with an ARM token</a></p>",
                escape(&refused.0.message)
            ),
        );
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Html(body),
        )
            .into_response();
    }
    let filter = FleetFilter {
        name: query.name.clone().filter(|n| !n.trim().is_empty()),
        state: query.state.clone().filter(|s| !s.is_empty()),
    };
    let fleet = state.app.fleet().page(&filter, query.after.as_deref(), PAGE_SIZE);
    Html(shell("Fleet", &render(&fleet, &filter, state.app.now()))).into_response()
}

async fn login_form() -> Html<String> {
    Html(shell(
        "Sign in",
        "<form method=\"post\" action=\"/fleet/login\">\
         <label for=\"token\">ARM access token (<code>clusterconfig token arm</code>, or an Entra ID token)</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required>\
         <button type=\"submit\">Sign in</button></form>",
    ))
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

/// Keeps the token in a cookie only this site's fleet pages receive, that scripts cannot read.
async fn login(State(state): State<Arc<AppState>>, Form(login): Form<Login>) -> Response {
    let token: String = login
        .token
        .trim()
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .collect();
    let secure = if state.http.public_scheme == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{COOKIE}={token}; Path=/fleet; HttpOnly; SameSite=Strict{secure}");
    let mut response = Redirect::to("/fleet").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn shell(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>clusterconfig · {title}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{STYLE}</style></head>\
         <body><header><h1>clusterconfig fleet</h1></header><main>{body}</main></body></html>"
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b}header{background:#0f3d6e;color:#fff;padding:.6rem 1.2rem}\
h1{font-size:1.2rem;margin:0}main{padding:1rem 1.2rem}table{border-collapse:collapse;width:100%}\
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}\
.counts{display:flex;gap:2rem;flex-wrap:wrap;margin-bottom:1rem}.counts a{margin-right:.6rem}\
.Failed,.Non-Compliant,.NonCompliant{color:#b00020;font-weight:600}.Succeeded,.Compliant{color:#1b6e20}\
.muted{color:#666}form.filter{margin:1rem 0;display:flex;gap:.6rem;align-items:center}ul{margin:0;padding-left:1rem}";

/// Text for HTML: every value shown comes from callers and agents.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A query string for the page with these values (empty ones left out).
fn link(name: Option<&str>, state: Option<&str>, after: Option<&str>) -> String {
    let pairs: Vec<(&str, &str)> = [("name", name), ("state", state), ("after", after)]
        .into_iter()
        .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect();
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    escape(&format!("/fleet?{query}"))
}

fn age(now: DateTime<Utc>, then: Option<DateTime<Utc>>) -> String {
    let Some(then) = then else {
        return "never".to_owned();
    };
    let seconds = (now - then).num_seconds().max(0);
    match seconds {
        0..60 => format!("{seconds} s ago"),
        60..3600 => format!("{} min ago", seconds / 60),
        3600..86400 => format!("{} h ago", seconds / 3600),
        _ => format!("{} d ago", seconds / 86400),
    }
}

fn render(fleet: &FleetPage, filter: &FleetFilter, now: DateTime<Utc>) -> String {
    let name = filter.name.as_deref();
    let mut html = String::new();
    let _ = write!(
        html,
        "<section class=\"counts\" aria-label=\"Fleet-wide counts\"><div><strong data-testid=\"total-clusters\">{}</strong> clusters{}</div>",
        fleet.total_clusters,
        fleet
            .indexed_at
            .map(|at| format!(" <span class=\"muted\">(all read {})</span>", age(now, Some(at))))
            .unwrap_or_else(
                || " <span class=\"muted\">(first read of the fleet under way)</span>".to_owned()
            )
    );
    for (label, counts) in [
        ("Provisioning", &fleet.by_provisioning_state),
        ("Compliance", &fleet.by_compliance_state),
    ] {
        let _ = write!(html, "<div>{label}: ");
        for (state, count) in counts {
            let _ = write!(
                html,
                "<a href=\"{}\" class=\"{s}\" data-testid=\"count-{s}\">{s} {count}</a>",
                link(name, Some(state), None),
                s = escape(state)
            );
        }
        html.push_str("</div>");
    }
    html.push_str("</section>");
    if !fleet.assignments.is_empty() {
        html.push_str("<h2>Policy assignments</h2><table data-testid=\"assignments\"><thead><tr><th>Assignment</th><th>Compliant</th><th>Non-compliant</th></tr></thead><tbody>");
        for (assignment, counts) in &fleet.assignments {
            let _ = write!(
                html,
                "<tr><td>{}</td><td class=\"Compliant\">{}</td><td class=\"NonCompliant\">{}</td></tr>",
                escape(assignment),
                counts.get("Compliant").copied().unwrap_or(0),
                counts.get("NonCompliant").copied().unwrap_or(0)
            );
        }
        html.push_str("</tbody></table>");
    }
    let states = [
        "Succeeded",
        "Failed",
        "Creating",
        "Updating",
        "Deleting",
        "Compliant",
        "Non-Compliant",
        "Pending",
        "Suspended",
        "Unknown",
    ];
    let _ = write!(
        html,
        "<form class=\"filter\" method=\"get\" action=\"/fleet\"><label for=\"name\">Name</label>\
         <input id=\"name\" name=\"name\" value=\"{}\"><label for=\"state\">State</label><select id=\"state\" name=\"state\"><option value=\"\">any</option>",
        escape(name.unwrap_or_default())
    );
    for state in states {
        let selected = if filter.state.as_deref() == Some(state) {
            " selected"
        } else {
            ""
        };
        let _ = write!(html, "<option{selected}>{state}</option>");
    }
    let _ = write!(
        html,
        "</select><button type=\"submit\">Filter</button></form><p data-testid=\"matching\">{} of {} clusters match; showing {}.</p>",
        fleet.matching,
        fleet.total_clusters,
        fleet.clusters.len()
    );
    html.push_str("<table data-testid=\"clusters\"><thead><tr><th>Cluster</th><th>Last contact</th><th>Agent</th><th>Kubernetes</th><th>Configurations and extensions</th></tr></thead><tbody>");
    for cluster in &fleet.clusters {
        render_cluster(&mut html, cluster, now);
    }
    html.push_str("</tbody></table>");
    if let Some(next) = &fleet.next {
        let _ = write!(
            html,
            "<p><a data-testid=\"next\" href=\"{}\">Next page</a></p>",
            link(name, filter.state.as_deref(), Some(next))
        );
    }
    html
}

fn render_cluster(html: &mut String, cluster: &ClusterSummary, now: DateTime<Utc>) {
    let _ = write!(
        html,
        "<tr data-testid=\"cluster\"><td title=\"{id}\">{name}</td><td>{contact}</td><td>{agent}</td><td>{kubernetes}</td><td><ul>",
        id = escape(&cluster.id),
        name = escape(&cluster.name),
        contact = age(now, cluster.last_contact),
        agent = escape(cluster.agent_version.as_deref().unwrap_or("—")),
        kubernetes = escape(cluster.kubernetes_version.as_deref().unwrap_or("—")),
    );
    for resource in &cluster.resources {
        let _ = write!(
            html,
            "<li data-testid=\"resource\">{kind}/<strong>{name}</strong>: <span class=\"{p}\">{p}</span>",
            kind = resource.resource_type,
            name = escape(&resource.name),
            p = escape(&resource.provisioning_state)
        );
        if let Some(compliance) = &resource.compliance_state {
            let _ = write!(html, ", <span class=\"{c}\">{c}</span>", c = escape(compliance));
        }
        if let Some(commit) = &resource.source_synced_commit_id {
            let _ = write!(html, " <span class=\"muted\">at {}</span>", escape(commit));
        }
        if let Some(version) = &resource.current_version {
            let _ = write!(html, " <span class=\"muted\">version {}</span>", escape(version));
        }
        if let Some(error) = &resource.error {
            let _ = write!(
                html,
                " <span class=\"Failed\" data-testid=\"error\">{}</span>",
                escape(error)
            );
        }
        html.push_str("</li>");
    }
    if cluster.resources.is_empty() {
        html.push_str("<li class=\"muted\">none</li>");
    }
    html.push_str("</ul></td></tr>");
}
