-- sandboxer State Hub, PostgreSQL store: the first schema.
-- Applied by `sandboxer hub serve --store postgres://...` or `sandboxer hub migrate`,
-- under an advisory lock, in one transaction with its row in sandboxer_migrations.

-- The lineage, set once when the store is made.
CREATE TABLE hub_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- One row per project: its serial (bumped on every write of its records), its
-- key for sensitive values. A write of the project locks this row, so writes of
-- one project go one at a time across every hub on the database.
CREATE TABLE projects (
    name          text PRIMARY KEY,
    serial        bigint NOT NULL DEFAULT 0 CHECK (serial >= 0),
    sensitive_key text
);

-- Records with their version: a write names the version it read and is a
-- conditional UPDATE (or an INSERT that must not conflict); a stale one is a 409.
CREATE TABLE resources (
    project text   NOT NULL REFERENCES projects (name),
    address text   NOT NULL,
    version bigint NOT NULL CHECK (version > 0),
    record  jsonb  NOT NULL,
    -- The VM the record's workspace is on, for GET /v1/sandboxes?vm=.
    vm      text,
    PRIMARY KEY (project, address)
);
CREATE INDEX resources_by_vm ON resources (vm) WHERE vm IS NOT NULL;

-- One lease per project: who holds it and until when (Unix milliseconds, by
-- the database's clock, so hubs whose clocks differ agree on expiry).
CREATE TABLE leases (
    project         text   PRIMARY KEY REFERENCES projects (name),
    lock_id         text   NOT NULL,
    holder          jsonb  NOT NULL,
    expires_unix_ms bigint NOT NULL
);

-- Per sandbox, the number of its newest note (its cursor) and how many of the
-- oldest are gone. A note takes `latest + 1` under this row's lock, in the
-- transaction that inserts it: no number is skipped or given twice, however
-- many hubs append at once.
CREATE TABLE note_logs (
    sandbox_id            text   PRIMARY KEY,
    latest                bigint NOT NULL DEFAULT 0 CHECK (latest >= 0),
    dropped               bigint NOT NULL DEFAULT 0 CHECK (dropped >= 0 AND dropped <= latest),
    last_received_unix_ms bigint NOT NULL DEFAULT 0
);

-- The notes, appended; only the retention policy removes the oldest.
CREATE TABLE notes (
    sandbox_id       text   NOT NULL REFERENCES note_logs (sandbox_id),
    n                bigint NOT NULL CHECK (n > 0),
    received_unix_ms bigint NOT NULL,
    note             jsonb  NOT NULL,
    PRIMARY KEY (sandbox_id, n)
);

-- The capability catalog: one entry per VM, the last write wins.
CREATE TABLE vms (
    name  text  PRIMARY KEY,
    entry jsonb NOT NULL
);
