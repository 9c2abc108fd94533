-- The per-user session generation lives with the account, where nothing evicts or expires
-- it (it used to be the Redis key `{prefix}user:{id}:gen`, whose eviction revived every
-- session that logout-all had ended). `logout-all` adds one; a session made under an
-- older generation is over.
ALTER TABLE users ADD COLUMN session_generation BIGINT NOT NULL DEFAULT 0;
