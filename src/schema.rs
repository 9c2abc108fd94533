// @generated automatically by Diesel CLI.

diesel::table! {
    outbox (id) {
        id -> Int8,
        queue -> Text,
        payload -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    products (id) {
        id -> Int8,
        name -> Text,
        description -> Text,
        category -> Text,
        price_cents -> Int8,
        stock -> Int4,
        is_active -> Bool,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        session_generation -> Int8,
    }
}

diesel::allow_tables_to_appear_in_same_query!(outbox, products, users);
