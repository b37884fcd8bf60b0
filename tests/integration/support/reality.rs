//! What the database says against what is really there.

/// Checks that every project's quota usage is exactly what its live instances and backups hold:
/// instances, their flavors' memory, their volume sizes, their undeleted backups.
pub async fn assert_usage_is_reality(db: &coffer::db::Db) {
    use coffer::db::schema::{backups, flavors, instances, quota_usages};
    use diesel::prelude::*;
    let (usage, live, backup_rows) = db
        .run(|c| {
            let usage: Vec<(String, String, i32)> = quota_usages::table
                .select((quota_usages::tenant_id, quota_usages::resource, quota_usages::in_use))
                .load(c)?;
            let live: Vec<(String, i32, Option<i32>)> = instances::table
                .inner_join(flavors::table.on(flavors::id.eq(instances::flavor_id)))
                .filter(instances::deleted.eq(false))
                .select((instances::tenant_id, flavors::ram, instances::volume_size))
                .load(c)?;
            let backup_rows: Vec<String> = backups::table
                .filter(backups::deleted.eq(false))
                .select(backups::tenant_id)
                .load(c)?;
            Ok((usage, live, backup_rows))
        })
        .await
        .expect("read usage");
    let mut real: std::collections::BTreeMap<(String, String), i64> = Default::default();
    for (tenant, ram, volume) in &live {
        *real.entry((tenant.clone(), "instances".into())).or_default() += 1;
        *real.entry((tenant.clone(), "ram".into())).or_default() += i64::from(*ram);
        *real.entry((tenant.clone(), "volumes".into())).or_default() += i64::from(volume.unwrap_or(0));
    }
    for tenant in &backup_rows {
        *real.entry((tenant.clone(), "backups".into())).or_default() += 1;
    }
    let mut counted: std::collections::BTreeMap<(String, String), i64> = Default::default();
    for (tenant, resource, in_use) in usage {
        counted.insert((tenant, resource), i64::from(in_use));
    }
    for (key, value) in &real {
        assert_eq!(
            counted.get(key).copied().unwrap_or(0),
            *value,
            "usage of {key:?}: counted vs real"
        );
    }
    for (key, value) in &counted {
        assert_eq!(
            real.get(key).copied().unwrap_or(0),
            *value,
            "usage of {key:?}: counted vs real"
        );
    }
}
