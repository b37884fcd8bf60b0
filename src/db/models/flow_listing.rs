//! The operators' listing of flows (`GET /mgmt/flows`): every flow, or those of one target,
//! status, kind, owner node or project, oldest first, a page at a time.

use super::flow::Flow;
use crate::db::schema::{backups, flows, instances};
use crate::db::{DbConn, DbError};
use diesel::prelude::*;

/// What narrows the listing; `None` everywhere lists every flow.
#[derive(Debug, Clone, Default)]
pub struct FlowFilter {
    pub target_id: Option<String>,
    pub status: Option<String>,
    pub kind: Option<String>,
    /// The node whose task manager holds the flow's lease.
    pub owner: Option<String>,
    /// The project of the flow's instance or backup.
    pub project: Option<String>,
}

/// At most `limit + 1` flows after the flow `marker` (the extra one says more follow); `None`
/// when the marker names no flow.
pub fn page(
    conn: &mut DbConn,
    filter: &FlowFilter,
    limit: i64,
    marker: Option<&str>,
) -> Result<Option<Vec<Flow>>, DbError> {
    let mut select = flows::table.into_boxed();
    if let Some(marker) = marker {
        let Some(created) = flows::table
            .find(marker)
            .select(flows::created)
            .first::<i64>(conn)
            .optional()?
        else {
            return Ok(None);
        };
        select = select.filter(
            flows::created
                .gt(created)
                .or(flows::created.eq(created).and(flows::id.gt(marker.to_string()))),
        );
    }
    if let Some(target) = &filter.target_id {
        select = select.filter(flows::target_id.eq(target.clone()));
    }
    if let Some(status) = &filter.status {
        select = select.filter(flows::status.eq(status.clone()));
    }
    if let Some(kind) = &filter.kind {
        select = select.filter(flows::kind.eq(kind.clone()));
    }
    if let Some(owner) = &filter.owner {
        select = select.filter(flows::owner.eq(owner.clone()));
    }
    if let Some(project) = &filter.project {
        let project_instances = instances::table
            .filter(instances::tenant_id.eq(project.clone()))
            .select(instances::id);
        let project_backups = backups::table
            .filter(backups::tenant_id.eq(project.clone()))
            .select(backups::id);
        select = select.filter(
            flows::target_id
                .eq_any(project_instances)
                .or(flows::target_id.eq_any(project_backups)),
        );
    }
    Ok(Some(
        select
            .order((flows::created.asc(), flows::id.asc()))
            .limit(limit + 1)
            .select(Flow::as_select())
            .load(conn)?,
    ))
}
