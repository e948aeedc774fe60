//! Operation status: `.../{resource}/operations/{operationId}` and the cluster's running operations.

use uuid::Uuid;

use clusterconfig_model::error::{ArmError, codes};
use clusterconfig_model::ids::ClusterId;

use super::views::{self, OperationView};
use super::{App, Page, Target, store_error};

impl App {
    pub async fn operation(&self, target: &Target, operation_id: &str) -> Result<OperationView, ArmError> {
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
        Ok(views::operation(&target.cluster, &op, target.name.as_given()))
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
