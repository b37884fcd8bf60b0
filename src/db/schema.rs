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
    }
}

diesel::table! {
    service_statuses (id) {
        id -> Text,
        instance_id -> Text,
        status_id -> Integer,
        status_description -> Text,
        updated_at -> BigInt,
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
    conductor_lastseen (instance_id, method_name) {
        instance_id -> Text,
        method_name -> Text,
        sent -> Double,
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
    }
}

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
    conductor_lastseen,
    flows,
);
