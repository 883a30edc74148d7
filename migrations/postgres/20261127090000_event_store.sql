-- The event store: one append-only table of events, the current version of
-- every stream, the outcome of every command that carried an id, and the one
-- counter that hands out global positions.
--
-- Never edit this file once applied anywhere; add a new migration instead.

-- Stream ids compare bytewise (COLLATE "C"): cheaper than a locale collation
-- in the (stream_id, stream_version) index every append touches, and the same
-- on every server whatever its locale.
--
-- The payload is TEXT, not JSONB: the store hands back exactly the bytes it
-- was given (JSONB reorders keys, drops duplicates and rewrites numbers), and
-- appending skips JSONB's parse and binary conversion. Ad-hoc queries can still
-- cast `payload::jsonb`; projections read payloads in Rust.
CREATE TABLE events (
    position        BIGINT      NOT NULL PRIMARY KEY,
    stream_id       TEXT        COLLATE "C" NOT NULL,
    stream_version  BIGINT      NOT NULL,
    event_type      TEXT        NOT NULL,
    schema_version  INT         NOT NULL,
    payload         TEXT        NOT NULL,
    actor           TEXT        NOT NULL,
    command_id      UUID        NULL,
    correlation_id  UUID        NULL,
    causation_id    UUID        NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    occurred_at     TIMESTAMPTZ NULL,
    CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version),
    CONSTRAINT events_position_positive CHECK (position > 0),
    CONSTRAINT events_stream_version_positive CHECK (stream_version > 0)
);

-- The newest version of each stream, so an expected-version check reads one
-- small row instead of the events index.
CREATE TABLE streams (
    stream_id  TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    version    BIGINT NOT NULL CHECK (version > 0)
);

-- The first outcome of every append that carried a command id: a retry is
-- answered from here and writes nothing.
CREATE TABLE commands (
    command_id      UUID   NOT NULL PRIMARY KEY,
    stream_version  BIGINT NOT NULL,
    first_position  BIGINT NOT NULL,
    last_position   BIGINT NOT NULL
);

-- The last position handed out. Its single row is also the global append
-- lock: every appending transaction locks it, assigns the positions after
-- `last_position`, and holds the lock until it commits, so transactions
-- become visible in position order (see the crate documentation).
CREATE TABLE position_counter (
    singleton      BOOLEAN NOT NULL PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    last_position  BIGINT  NOT NULL CHECK (last_position >= 0)
);

INSERT INTO position_counter (singleton, last_position) VALUES (TRUE, 0);
