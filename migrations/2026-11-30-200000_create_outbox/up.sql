-- Jobs written in the same transaction as the change that needs them (a product create
-- and its email), moved to the Redis queue by the relay, which deletes them: a job is
-- never lost when Redis is down, or the process dies, between the commit and the enqueue.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    queue TEXT NOT NULL,
    payload JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
