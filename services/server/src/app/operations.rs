//! Operation status: `.../{resource}/operations/{operationId}` (Azure-AsyncOperation), its Location twin
//! `.../{resource}/operationResults/{operationId}`, and the cluster's running operations.

use std::time::Duration;

use uuid::Uuid;

use clusterconfig_model::arm::ProvisioningState;
use clusterconfig_model::error::{ArmError, ErrorDetail, codes};
use clusterconfig_model::ids::ClusterId;
use clusterconfig_store::OperationRecord;

use super::views::{self, OperationView};
use super::{App, Page, ResourceView, Target, store_error};

/// The outcome an operation's Location URL reports.
#[derive(Debug)]
pub enum OperationResult {
    Running,
    /// A PUT or PATCH succeeded: the resource as it is now.
    Succeeded(ResourceView),
    Deleted,
    Failed(ErrorDetail),
}

impl App {
    pub async fn operation(&self, target: &Target, operation_id: &str) -> Result<OperationView, ArmError> {
        let op = self.operation_record(target, operation_id).await?;
        Ok(views::operation(&target.cluster, &op, target.name.as_given()))
    }

    /// The operation's status once it has ended, or after at most `wait` while it runs. A fast operation's
    /// first status poll thus gets its outcome: Microsoft's clients poll once at once, then only after
    /// Retry-After (10 s or more, as ARM's contract asks), so without this a 50 ms operation takes them 10 s.
    /// Ends are pushed by this process's hub; those made through another instance are seen within a tick.
    pub async fn operation_settled(
        &self,
        target: &Target,
        operation_id: &str,
        wait: Duration,
    ) -> Result<OperationView, ArmError> {
        const OTHER_INSTANCES_TICK: Duration = Duration::from_millis(250);
        let mut changes = self.hub.watch(&target.cluster.key());
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let op = self.operation_record(target, operation_id).await?;
            let now = tokio::time::Instant::now();
            if !op.is_running() || now >= deadline || self.hub.is_draining() {
                return Ok(views::operation(&target.cluster, &op, target.name.as_given()));
            }
            let _ = tokio::time::timeout_at(deadline.min(now + OTHER_INSTANCES_TICK), changes.next_change())
                .await;
        }
    }

    /// What the operation's Location URL answers: ARM's contract is 202 while it runs, then exactly what the
    /// synchronous request would have answered.
    pub async fn operation_result(
        &self,
        target: &Target,
        operation_id: &str,
    ) -> Result<OperationResult, ArmError> {
        let op = self.operation_record(target, operation_id).await?;
        if op.is_running() {
            return Ok(OperationResult::Running);
        }
        if op.status != ProvisioningState::Succeeded.as_str() {
            let detail: Option<ErrorDetail> = op
                .error
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok());
            let detail = detail.unwrap_or_else(|| ErrorDetail {
                code: op.status.clone(),
                message: format!("The operation ended {}.", op.status),
                target: None,
                details: vec![],
            });
            return Ok(OperationResult::Failed(detail));
        }
        if op.action == "delete" {
            return Ok(OperationResult::Deleted);
        }
        match self.get(target).await {
            Ok(view) => Ok(OperationResult::Succeeded(view)),
            // Deleted since: nothing left to show.
            Err(err) if err.status == 404 => Ok(OperationResult::Deleted),
            Err(err) => Err(err),
        }
    }

    async fn operation_record(
        &self,
        target: &Target,
        operation_id: &str,
    ) -> Result<OperationRecord, ArmError> {
        let not_found = || {
            ArmError::new(
                404,
                codes::OPERATION_NOT_FOUND,
                format!(
                    "Operation '{}' of {} '{}' was not found.",
                    clusterconfig_model::ids::printable(operation_id),
                    target.resource_type.as_str(),
                    target.name.as_given()
                ),
            )
        };
        let id: Uuid = operation_id.parse().map_err(|_| not_found())?;
        let op = self
            .store
            .operation(&target.cluster.key(), id)
            .await
            .map_err(store_error)?
            .ok_or_else(not_found)?;
        if op.kind != target.kind() || op.name != target.name.key() {
            return Err(not_found());
        }
        Ok(op)
    }

    /// The running operations of a cluster (`OperationStatus_List`), one page.
    pub async fn cluster_operations(
        &self,
        cluster: &ClusterId,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Page<OperationView>, ArmError> {
        let mut ops = self
            .store
            .list_running_operations(&cluster.key(), after, limit + 1)
            .await
            .map_err(store_error)?;
        let next = (ops.len() > limit).then(|| ops[limit - 1].id.to_string());
        ops.truncate(limit);
        Ok(Page {
            items: ops
                .iter()
                .map(|op| views::operation(cluster, op, &op.name))
                .collect(),
            next,
        })
    }
}
