//! diesel's view of the tables in `migrations/` (the same on both backends).

diesel::table! {
    datastores (id) {
        id -> Text,
        name -> Text,
        manager -> Text,
        default_version_id -> Nullable<Text>,
    }
}

diesel::table! {
    datastore_versions (id) {
        id -> Text,
        datastore_id -> Text,
        name -> Text,
        manager -> Text,
        version -> Text,
        active -> Bool,
        packages -> Text,
        image_id -> Nullable<Text>,
    }
}

diesel::table! {
    flavors (id) {
        id -> Text,
        name -> Text,
        ram -> Integer,
        vcpus -> Integer,
        disk -> Integer,
        ephemeral -> Integer,
    }
}

diesel::table! {
    instances (id) {
        id -> Text,
        created -> BigInt,
        updated -> BigInt,
        name -> Text,
        tenant_id -> Text,
        flavor_id -> Text,
        volume_size -> Nullable<Integer>,
        datastore_version_id -> Text,
        task_id -> Integer,
        task_description -> Text,
        task_start_time -> Nullable<BigInt>,
        server_status -> Nullable<Text>,
        compute_instance_id -> Nullable<Text>,
        address -> Nullable<Text>,
        access -> Nullable<Text>,
        deleted -> Bool,
        deleted_at -> Nullable<BigInt>,
        network_id -> Nullable<Text>,
        server_version -> Nullable<Text>,
        image_id -> Nullable<Text>,
        configuration_id -> Nullable<Text>,
        restart_pending -> Bool,
        slave_of_id -> Nullable<Text>,
        replication_secret -> Nullable<Text>,
    }
}

diesel::table! {
    service_statuses (id) {
        id -> Text,
        instance_id -> Text,
        status_id -> Integer,
        status_description -> Text,
        updated_at -> BigInt,
        heartbeat_sent -> Double,
    }
}

diesel::table! {
    instance_faults (id) {
        id -> Text,
        instance_id -> Text,
        message -> Text,
        details -> Text,
        created -> BigInt,
        deleted -> Bool,
    }
}

diesel::table! {
    guest_keys (instance_id) {
        instance_id -> Text,
        sealed_key -> Text,
        created -> BigInt,
    }
}

diesel::table! {
    flows (id) {
        id -> Text,
        kind -> Text,
        target_id -> Text,
        step -> Integer,
        state -> Text,
        status -> Text,
        owner -> Nullable<Text>,
        lease_until -> BigInt,
        deadline -> BigInt,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        created -> BigInt,
        updated -> BigInt,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    backups (id) {
        id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        tenant_id -> Text,
        instance_id -> Text,
        datastore_version_id -> Text,
        parent_id -> Nullable<Text>,
        backup_type -> Text,
        state -> Text,
        object_key -> Nullable<Text>,
        location -> Nullable<Text>,
        size_bytes -> Nullable<BigInt>,
        checksum -> Nullable<Text>,
        meta -> Nullable<Text>,
        attempt -> Integer,
        attempt_failed -> Bool,
        fail_reason -> Nullable<Text>,
        last_sent -> Double,
        progress_at -> BigInt,
        schedule_run -> Bool,
        created -> BigInt,
        updated -> BigInt,
        deleted -> Bool,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    backup_schedules (instance_id) {
        instance_id -> Text,
        tenant_id -> Text,
        full_every_s -> BigInt,
        full_at -> Nullable<Text>,
        incremental_every_s -> Nullable<BigInt>,
        retention_count -> Nullable<Integer>,
        retention_days -> Nullable<Integer>,
        next_full_at -> BigInt,
        next_incremental_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created -> BigInt,
        updated -> BigInt,
    }
}

diesel::table! {
    datastore_configuration_parameters (id) {
        id -> Text,
        name -> Text,
        datastore_version_id -> Text,
        restart_required -> Bool,
        data_type -> Text,
        min_size -> Nullable<Text>,
        max_size -> Nullable<Text>,
        enum_values -> Nullable<Text>,
        pattern -> Nullable<Text>,
        unit -> Nullable<Text>,
        source -> Text,
        deleted -> Bool,
        created -> BigInt,
        updated -> BigInt,
    }
}

diesel::table! {
    configurations (id) {
        id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        tenant_id -> Text,
        datastore_version_id -> Text,
        deleted -> Bool,
        deleted_at -> Nullable<BigInt>,
        created -> BigInt,
        updated -> BigInt,
    }
}

diesel::table! {
    configuration_parameters (configuration_id, configuration_key) {
        configuration_id -> Text,
        configuration_key -> Text,
        configuration_value -> Text,
    }
}

diesel::joinable!(configuration_parameters -> configurations (configuration_id));
diesel::joinable!(configurations -> datastore_versions (datastore_version_id));
diesel::joinable!(datastore_configuration_parameters -> datastore_versions (datastore_version_id));
diesel::joinable!(backups -> datastore_versions (datastore_version_id));
diesel::joinable!(datastore_versions -> datastores (datastore_id));
diesel::joinable!(instances -> datastore_versions (datastore_version_id));
diesel::joinable!(instances -> flavors (flavor_id));
diesel::joinable!(service_statuses -> instances (instance_id));

diesel::allow_tables_to_appear_in_same_query!(
    datastores,
    datastore_versions,
    flavors,
    instances,
    service_statuses,
    instance_faults,
    guest_keys,
    flows,
    backups,
    backup_schedules,
    configurations,
    configuration_parameters,
    datastore_configuration_parameters,
);

diesel::table! {
    projects (id) {
        id -> Text,
        name -> Text,
        domain_id -> Text,
        enabled -> Bool,
        created -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        name -> Text,
        domain_id -> Text,
        password_hash -> Text,
        enabled -> Bool,
        created -> BigInt,
    }
}

diesel::table! {
    role_assignments (user_id, project_id, role) {
        user_id -> Text,
        project_id -> Text,
        role -> Text,
    }
}

diesel::table! {
    tokens (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        project_id -> Text,
        issued_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    quotas (tenant_id, resource) {
        tenant_id -> Text,
        resource -> Text,
        hard_limit -> Integer,
    }
}

diesel::table! {
    quota_usages (tenant_id, resource) {
        tenant_id -> Text,
        resource -> Text,
        in_use -> Integer,
    }
}

diesel::allow_tables_to_appear_in_same_query!(projects, users, role_assignments, tokens, quotas, quota_usages);

diesel::table! {
    services (id) {
        id -> Text,
        role -> Text,
        node_id -> Text,
        host -> Text,
        pid -> BigInt,
        version -> Text,
        started -> BigInt,
        last_seen -> BigInt,
        telemetry_url -> Nullable<Text>,
        capacity -> Nullable<BigInt>,
        hosted -> Nullable<BigInt>,
        actors -> Nullable<Text>,
    }
}

diesel::table! {
    supervision_events (id) {
        id -> BigInt,
        at -> BigInt,
        service_id -> Text,
        node_id -> Text,
        kind -> Text,
        actor_id -> Text,
        event -> Text,
        reason -> Text,
    }
}

diesel::table! {
    cluster_leases (name) {
        name -> Text,
        owner -> Text,
        lease_until -> BigInt,
    }
}

diesel::table! {
    deployment_facts (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    cache_generations (kind) {
        kind -> Text,
        generation -> BigInt,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        at -> BigInt,
        project_id -> Nullable<Text>,
        kind -> Text,
        target_id -> Text,
        facts -> Text,
    }
}
