-- Products: the source of truth behind every cache tier.
-- Prices are integer cents so no float arithmetic ever touches money; the API shows them
-- as numbers with two decimals. The CHECKs repeat the API's validation so no other
-- writer (a script, psql) can store what the API would refuse.
CREATE TABLE products (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description TEXT        NOT NULL DEFAULT '' CHECK (char_length(description) <= 10000),
    category    TEXT        NOT NULL CHECK (char_length(category) BETWEEN 1 AND 100),
    price_cents BIGINT      NOT NULL CHECK (price_cents BETWEEN 0 AND 999999999999),
    stock       INTEGER     NOT NULL DEFAULT 0 CHECK (stock >= 0),
    is_active   BOOLEAN     NOT NULL DEFAULT TRUE,
    -- Bumped on every update; the cache uses it for ETags.
    version     BIGINT      NOT NULL DEFAULT 1,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Serves both `WHERE category = $1` and `WHERE category = $1 AND price_cents BETWEEN ...`.
CREATE INDEX products_category_price_idx ON products (category, price_cents);

SELECT diesel_manage_updated_at('products');
