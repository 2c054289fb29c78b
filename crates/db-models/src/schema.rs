// @generated automatically by Diesel CLI.

diesel::table! {
    api_keys (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        public_id -> Text,
        secret_hash -> Binary,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        requests_per_minute -> Nullable<BigInt>,
        tokens_per_minute -> Nullable<BigInt>,
        token_budget -> Nullable<BigInt>,
        budget_period -> Nullable<Text>,
        allowed_models -> Nullable<Text>,
        minute_started_at -> Nullable<Timestamp>,
        minute_requests -> BigInt,
        minute_tokens -> BigInt,
        period_started_at -> Nullable<Timestamp>,
        period_used -> BigInt,
        period_reserved -> BigInt,
    }
}

diesel::table! {
    conversations (id) {
        id -> Text,
        user_id -> Text,
        model -> Text,
        title -> Nullable<Text>,
        system_prompt -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    login_failures (email) {
        email -> Text,
        failures -> Integer,
        window_started_at -> Timestamp,
    }
}

diesel::table! {
    messages (id) {
        id -> Text,
        conversation_id -> Text,
        role -> Text,
        content -> Text,
        prompt_tokens -> Integer,
        completion_tokens -> Integer,
        created_at -> Timestamp,
        tokens -> Integer,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        state -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        user_agent -> Nullable<Text>,
        public_id -> Text,
    }
}

diesel::table! {
    usage_records (id) {
        id -> Text,
        user_id -> Text,
        model -> Text,
        source -> Text,
        prompt_tokens -> Integer,
        completion_tokens -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        is_active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(api_keys -> users (user_id));
diesel::joinable!(conversations -> users (user_id));
diesel::joinable!(messages -> conversations (conversation_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(usage_records -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    conversations,
    login_failures,
    messages,
    sessions,
    usage_records,
    users,
);
