//! ARM's subscription lifecycle notification: `PUT /subscriptions/{subscriptionId}?api-version=2.0`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;

use clusterconfig_model::api_version::SUBSCRIPTION_NOTIFICATION_VERSION;
use clusterconfig_model::error::{ArmError, codes};
use clusterconfig_model::ids::SubscriptionId;

use crate::app::SubscriptionState;
use crate::http::AppState;
use crate::http::error::HttpResult;
use crate::http::extract::{ArmQuery, Caller, RawBody};

// For the description only: the handler reads the body as a JSON object.
/// ARM's subscription lifecycle notification.
#[derive(utoipa::ToSchema)]
#[schema(as = SubscriptionNotification)]
#[allow(dead_code)]
struct SubscriptionNotification {
    /// Registered, Unregistered, Warned, Suspended or Deleted.
    state: String,
    #[schema(rename = "registrationDate")]
    registration_date: Option<String>,
    properties: Option<serde_json::Map<String, serde_json::Value>>,
}

#[utoipa::path(
    put,
    path = "/subscriptions/{subscriptionId}",
    operation_id = "Subscriptions_Notify",
    summary = "ARM's subscription lifecycle notification (api-version 2.0).",
    request_body(content = SubscriptionNotification, example = json!({"state": "Registered", "properties": {"tenantId": "t"}})),
    responses((status = 200, body = SubscriptionNotification, description = "Recorded; the body is echoed.")),
)]
pub async fn notify(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(subscription): Path<String>,
    body: RawBody,
) -> HttpResult {
    match query.get("api-version") {
        Some(SUBSCRIPTION_NOTIFICATION_VERSION) => {}
        None => {
            return Err(ArmError::new(400, codes::MISSING_API_VERSION, "The api-version query parameter (?api-version=) is required for all requests. The supported versions are '2.0'.").into());
        }
        Some(other) => {
            return Err(ArmError::new(
                400,
                codes::INVALID_API_VERSION,
                format!(
                    "The api-version '{}' is invalid. The supported versions are '2.0'.",
                    clusterconfig_model::ids::printable(other)
                ),
            )
            .into());
        }
    }
    let subscription = SubscriptionId::parse(&subscription)?;
    let (echoed, recorded) = state
        .app
        .notify_subscription(&subscription, &body.json_object()?)
        .await?;
    if recorded == SubscriptionState::Deleted {
        // Started now, finished in the background; the subscription-purge task completes it if this stops.
        let (app, key) = (state.app.clone(), subscription.key());
        tokio::spawn(async move {
            if let Err(err) = app.purge_subscription(&key).await {
                tracing::warn!(subscription = %key, error = %err.message, "purge interrupted; the purge task resumes it");
            }
        });
    }
    Ok(Json(echoed).into_response())
}
