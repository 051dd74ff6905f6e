// Written to match migrations/{sqlite,postgres}; the tests apply both and use every table.

diesel::table! {
    key_checks (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    gateway_secrets (name) {
        name -> Text,
        value -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ledger_locks (name) {
        name -> Text,
        generation -> BigInt,
        catalog_generation -> BigInt,
        group_generation -> BigInt,
    }
}

diesel::table! {
    payers (code) {
        code -> Text,
        name -> Text,
        created_at -> Timestamp,
        voucher_required_since -> Nullable<Timestamp>,
    }
}

diesel::table! {
    targets (training_year, city_code) {
        training_year -> Integer,
        city_code -> Text,
        name -> Text,
        trainees -> BigInt,
        certificates -> BigInt,
    }
}

diesel::table! {
    vouchers (code) {
        code -> Text,
        payer_code -> Text,
        learner_hash -> Binary,
        learner_masked -> Text,
        valid_from -> Timestamp,
        valid_until -> Timestamp,
        level -> Nullable<Text>,
        course_code -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        created_by -> Text,
    }
}

diesel::table! {
    rate_schedules (id) {
        id -> Text,
        payer_code -> Text,
        effective_year -> Integer,
        junior_rate_fen -> BigInt,
        intermediate_rate_fen -> BigInt,
        senior_rate_fen -> BigInt,
        junior_saturation_fen -> BigInt,
        intermediate_saturation_fen -> BigInt,
        senior_saturation_fen -> BigInt,
        learner_annual_cap_fen -> BigInt,
        platform_annual_ceiling_fen -> BigInt,
        offline_ratio_threshold -> Text,
        offline_reduction_factor -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    platforms (code) {
        code -> Text,
        name -> Text,
        status -> Text,
        client_id -> Text,
        client_secret_hash -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        token_version -> BigInt,
    }
}

diesel::table! {
    staff_users (username) {
        username -> Text,
        role -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
        status -> Text,
        token_version -> BigInt,
        platform_code -> Nullable<Text>,
    }
}

diesel::table! {
    courses (id) {
        id -> Text,
        platform_code -> Text,
        code -> Text,
        title -> Text,
        level -> Text,
        class_hours -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        frozen -> Bool,
    }
}

diesel::table! {
    learners (id) {
        id -> BigInt,
        id_hash -> Binary,
        id_masked -> Text,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    completions (id) {
        id -> Text,
        platform_code -> Text,
        event_id -> Text,
        content_hash -> Binary,
        course_id -> Text,
        learner_id -> BigInt,
        payer_code -> Text,
        class_hours -> Integer,
        level -> Text,
        certificate_no -> Nullable<Text>,
        certified_at -> Nullable<Timestamp>,
        training_year -> Nullable<Integer>,
        status -> Text,
        gross_fen -> BigInt,
        granted_fen -> BigInt,
        limited_by -> Nullable<Text>,
        schedule_id -> Nullable<Text>,
        received_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoke_reason -> Nullable<Text>,
        generation -> BigInt,
        revoked_generation -> Nullable<BigInt>,
        voucher_code -> Nullable<Text>,
    }
}

diesel::table! {
    learner_year_usage (payer_code, learner_id, training_year) {
        payer_code -> Text,
        learner_id -> BigInt,
        training_year -> Integer,
        granted_fen -> BigInt,
    }
}

diesel::table! {
    platform_year_usage (payer_code, platform_code, training_year) {
        payer_code -> Text,
        platform_code -> Text,
        training_year -> Integer,
        granted_fen -> BigInt,
    }
}

diesel::table! {
    course_usage (payer_code, course_id) {
        payer_code -> Text,
        course_id -> Text,
        granted_fen -> BigInt,
        free_since -> Nullable<Timestamp>,
    }
}

diesel::table! {
    offline_followups (id) {
        id -> Text,
        platform_code -> Text,
        learner_id -> BigInt,
        attended_on -> Date,
        program -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    invoices (id) {
        id -> Text,
        number -> Nullable<Text>,
        platform_code -> Text,
        payer_code -> Text,
        training_year -> Integer,
        period -> Text,
        status -> Text,
        amount_fen -> BigInt,
        granted_ytd_fen -> BigInt,
        payable_ytd_fen -> BigInt,
        previously_invoiced_fen -> BigInt,
        learners -> BigInt,
        learners_with_followup -> BigInt,
        created_at -> Timestamp,
        created_by -> Text,
        issued_at -> Nullable<Timestamp>,
        issued_by -> Nullable<Text>,
        approved_at -> Nullable<Timestamp>,
        approved_by -> Nullable<Text>,
        rejected_at -> Nullable<Timestamp>,
        rejected_by -> Nullable<Text>,
        reject_reason -> Nullable<Text>,
        submitted_at -> Nullable<Timestamp>,
        paid_at -> Nullable<Timestamp>,
        paid_by -> Nullable<Text>,
        payment_reference -> Nullable<Text>,
        cutoff_generation -> BigInt,
        covered_until -> Nullable<Timestamp>,
        covered_generation -> Nullable<BigInt>,
        completions_total -> BigInt,
    }
}

diesel::table! {
    invoice_lines (invoice_id, position) {
        invoice_id -> Text,
        position -> Integer,
        kind -> Text,
        level -> Nullable<Text>,
        class_hours -> Nullable<BigInt>,
        amount_fen -> BigInt,
    }
}

diesel::table! {
    invoice_numbers (payer_code, training_year) {
        payer_code -> Text,
        training_year -> Integer,
        last_number -> BigInt,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        invoice_id -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
        kind -> Text,
        endpoint_id -> Nullable<Text>,
        message_id -> Nullable<Text>,
        event_type -> Nullable<Text>,
        payload -> Nullable<Text>,
        resent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        platform_code -> Text,
        url -> Text,
        event_types -> Text,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamp>,
        status -> Text,
        disabled_reason -> Nullable<Text>,
        failing_since -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Text,
        endpoint_id -> Text,
        outbox_id -> Text,
        message_id -> Text,
        event_type -> Text,
        attempted_at -> Timestamp,
        outcome -> Text,
        answer_code -> Nullable<Integer>,
        duration_ms -> BigInt,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        object_type -> Text,
        object_id -> Text,
        before_state -> Nullable<Text>,
        after_state -> Nullable<Text>,
    }
}

diesel::joinable!(completions -> courses (course_id));
diesel::joinable!(completions -> learners (learner_id));
diesel::joinable!(courses -> platforms (platform_code));

diesel::table! {
    console_sessions (id_hash) {
        id_hash -> Text,
        role -> Text,
        subject -> Text,
        display -> Text,
        platform_code -> Nullable<Text>,
        account_version -> BigInt,
        csrf_token -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    console_links (token_hash) {
        token_hash -> Text,
        role -> Text,
        subject -> Text,
        display -> Text,
        platform_code -> Nullable<Text>,
        expires_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    console_links,
    console_sessions,
    gateway_secrets,
    targets,
    vouchers,
    key_checks,
    ledger_locks,
    payers,
    rate_schedules,
    platforms,
    staff_users,
    courses,
    learners,
    completions,
    learner_year_usage,
    platform_year_usage,
    course_usage,
    offline_followups,
    invoices,
    invoice_lines,
    invoice_numbers,
    outbox,
    audit_events,
    webhook_endpoints,
    webhook_attempts,
);
