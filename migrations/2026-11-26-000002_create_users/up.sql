-- Accounts. Emails are unique whatever their case: the unique index is on lower(email),
-- and lookups go through lower() too so they use it. The role is a CHECK'd text rather
-- than an enum type so adding a role later is a one-line migration.
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    -- An argon2id PHC string: algorithm, parameters, salt and hash together.
    password_hash TEXT        NOT NULL,
    role          TEXT        NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

SELECT diesel_manage_updated_at('users');
