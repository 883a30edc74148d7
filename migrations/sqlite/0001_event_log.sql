-- The event log. Never modify an applied migration; add a new one.

-- Streams get a compact integer key so the (stream, version) index stays
-- small: fewer WAL bytes per appended event.
CREATE TABLE streams (
    stream_key INTEGER PRIMARY KEY,
    stream_id  TEXT NOT NULL UNIQUE
);

CREATE TABLE events (
    position        INTEGER PRIMARY KEY,  -- global, strictly increasing, gapless
    stream_key      INTEGER NOT NULL REFERENCES streams (stream_key),
    stream_version  INTEGER NOT NULL,     -- 1, 2, 3, ... within the stream
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    payload         TEXT    NOT NULL,     -- JSON, exactly as appended
    actor           TEXT    NOT NULL,     -- kind:id
    command_id      TEXT,
    correlation_id  TEXT,
    causation_id    TEXT,
    recorded_at     INTEGER NOT NULL,     -- microseconds since the Unix epoch
    occurred_at     INTEGER               -- when it happened, if not when recorded
);

-- The concurrency guard: one event per stream version.
CREATE UNIQUE INDEX events_stream_version ON events (stream_key, stream_version);

-- The first outcome of every append made with a command id, so a retry is
-- answered without writing.
CREATE TABLE commands (
    command_id      TEXT    PRIMARY KEY,
    stream_version  INTEGER NOT NULL,
    first_position  INTEGER NOT NULL,
    last_position   INTEGER NOT NULL
) WITHOUT ROWID;
