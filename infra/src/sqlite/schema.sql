-- Embedded storage schema, version 1. Each row keeps the full record in
-- `body`: its JSON, deflated against a preset dictionary (a BLOB; see
-- infra/src/compact.rs), or JSON text in rows written before that (both are
-- read). The other columns exist only for keys, indexes and conditions.
-- Tables keyed by their primary key alone are WITHOUT ROWID: the key is the
-- table, not a second index beside it (in databases created since; an older
-- file keeps its layout, and every statement works on both).
-- Timestamps are RFC 3339 UTC with nanoseconds, so text order is time order.

CREATE TABLE IF NOT EXISTS policies (
    id   TEXT PRIMARY KEY,
    body TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS companies (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL UNIQUE,
    credit_code TEXT NOT NULL UNIQUE,
    version     INTEGER NOT NULL,
    body        TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS projects (
    id        TEXT PRIMARY KEY,
    owner     TEXT NOT NULL,
    community TEXT NOT NULL,
    name      TEXT NOT NULL,
    version   INTEGER NOT NULL,
    body      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS projects_by_owner ON projects (owner, id);
CREATE INDEX IF NOT EXISTS projects_by_name ON projects (community, name);

CREATE TABLE IF NOT EXISTS applications (
    id            TEXT PRIMARY KEY,
    policy_id     TEXT NOT NULL,
    project_id    TEXT NOT NULL,
    owner         TEXT NOT NULL,
    manager_phone TEXT NOT NULL,
    city          TEXT NOT NULL,
    district      TEXT NOT NULL,
    subdistrict   TEXT NOT NULL,
    community     TEXT NOT NULL,
    state         TEXT NOT NULL,
    state_since   TEXT NOT NULL,
    version       INTEGER NOT NULL,
    body          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS apps_by_owner ON applications (owner, id);
CREATE INDEX IF NOT EXISTS apps_by_manager ON applications (manager_phone, state, state_since);
CREATE INDEX IF NOT EXISTS apps_by_community ON applications (community, state, state_since);
CREATE INDEX IF NOT EXISTS apps_by_subdistrict ON applications (subdistrict, state, state_since);
CREATE INDEX IF NOT EXISTS apps_by_district ON applications (district, state, state_since);
CREATE INDEX IF NOT EXISTS apps_by_state ON applications (state, state_since);
CREATE INDEX IF NOT EXISTS apps_by_project ON applications (project_id);
-- Lists of a unit, newest first, a page at a time from the cursor.
CREATE INDEX IF NOT EXISTS apps_list_city ON applications (city, id);
CREATE INDEX IF NOT EXISTS apps_list_district ON applications (district, id);
CREATE INDEX IF NOT EXISTS apps_list_subdistrict ON applications (subdistrict, id);
CREATE INDEX IF NOT EXISTS apps_list_community ON applications (community, id);

-- One live application per (policy, project): the claim row is the lock.
-- `project_id` holds the project's claim key (community#name, compared
-- without spaces, case or full-width forms: another company's registration
-- of the same estate is the same project), or the project's id in rows from
-- before claims were by name.
CREATE TABLE IF NOT EXISTS claims (
    policy_id      TEXT NOT NULL,
    project_id     TEXT NOT NULL,
    application_id TEXT NOT NULL,
    PRIMARY KEY (policy_id, project_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS audit (
    application_id TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    body           TEXT NOT NULL,
    PRIMARY KEY (application_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS documents (
    application_id TEXT NOT NULL,
    id             TEXT NOT NULL,
    body           TEXT NOT NULL,
    PRIMARY KEY (application_id, id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS prechecks (
    application_id TEXT NOT NULL,
    tier           TEXT NOT NULL,
    body           TEXT NOT NULL,
    PRIMARY KEY (application_id, tier)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS idempotency (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    running     INTEGER NOT NULL,
    lease_until TEXT NOT NULL,
    status      INTEGER,
    body        TEXT
);

-- The outbox plays the DynamoDB stream: one row per committed change to an
-- application, written in the same transaction as the change, deleted once
-- delivered. `delivered_at` is only set by databases from before rows were
-- deleted on delivery; the DELETE below clears what they kept.
CREATE TABLE IF NOT EXISTS outbox (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id TEXT NOT NULL,
    body           TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    delivered_at   TEXT,
    dead           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (delivered_at, dead, seq);
DELETE FROM outbox WHERE delivered_at IS NOT NULL;

-- Live totals: counters per (policy, unit), reference counts per (policy,
-- unit, company) for distinct companies, and the log of counted changes
-- (what makes aggregation exactly once).
CREATE TABLE IF NOT EXISTS stats_units (
    policy_id  TEXT NOT NULL,
    unit       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at TEXT,
    totals     TEXT NOT NULL,
    PRIMARY KEY (policy_id, unit)
);

CREATE TABLE IF NOT EXISTS stats_refs (
    policy_id  TEXT NOT NULL,
    unit       TEXT NOT NULL,
    company_id TEXT NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (policy_id, unit, company_id)
) WITHOUT ROWID;

-- What each aggregation commit counted: one row per change, with the
-- commit (`run`) it was counted in, so that a redelivery finds the run from
-- any of its changes. Kept 48 hours, pruned by the nightly recount.
CREATE TABLE IF NOT EXISTS stats_log (
    application_id TEXT NOT NULL,
    version        INTEGER NOT NULL,
    run            INTEGER NOT NULL,
    at             INTEGER NOT NULL,
    PRIMARY KEY (application_id, version)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS stats_log_run ON stats_log (run);
-- Per-application markers, before counted changes were logged.
DROP TABLE IF EXISTS stats_applied;

-- Disbursement: payment batches, their lines, and each district's budget.
CREATE TABLE IF NOT EXISTS batches (
    id         TEXT PRIMARY KEY,
    policy_id  TEXT NOT NULL,
    district   TEXT NOT NULL,
    version    INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_by_district ON batches (policy_id, district, id);

CREATE TABLE IF NOT EXISTS payment_lines (
    batch_id       TEXT NOT NULL,
    id             TEXT NOT NULL,
    application_id TEXT NOT NULL,
    status         TEXT NOT NULL,
    body           TEXT NOT NULL,
    PRIMARY KEY (batch_id, id)
);
CREATE INDEX IF NOT EXISTS lines_by_application ON payment_lines (application_id);

CREATE TABLE IF NOT EXISTS budgets (
    policy_id TEXT NOT NULL,
    district  TEXT NOT NULL,
    allocated INTEGER NOT NULL,
    committed INTEGER NOT NULL,
    paid      INTEGER NOT NULL,
    remaining INTEGER NOT NULL,
    PRIMARY KEY (policy_id, district)
);

-- The staff directory: who may act as staff, and where. Its members'
-- audit entries are in `audit` under `staff:{sub}`.
CREATE TABLE IF NOT EXISTS staff (
    sub     TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    body    TEXT NOT NULL
);

-- In-app notices, per recipient (`c:{user}` a company account, `m:{phone}`
-- a project manager, `s:{sub}` staff). Ids sort by time, so a reader's
-- newest are the primary key read backwards; `read` keeps the unread count
-- an index count.
CREATE TABLE IF NOT EXISTS notices (
    recipient TEXT NOT NULL,
    id        TEXT NOT NULL,
    read      INTEGER NOT NULL DEFAULT 0,
    body      BLOB NOT NULL,
    PRIMARY KEY (recipient, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS notices_unread ON notices (recipient) WHERE read = 0;

-- SMS jobs: the standalone SMS queue and the sender's ledger. A job is
-- queued at least once (`INSERT OR IGNORE` by notice), waits until
-- `due_at` (quiet hours, backoff), is claimed (`sending` until
-- `lease_until`) while it is sent, and ends `sent` or `dead`.
CREATE TABLE IF NOT EXISTS sms_jobs (
    recipient   TEXT NOT NULL,
    id          TEXT NOT NULL,
    body        BLOB NOT NULL,
    due_at      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL DEFAULT 'pending',
    lease_until TEXT,
    last_error  TEXT,
    PRIMARY KEY (recipient, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sms_jobs_due ON sms_jobs (due_at) WHERE state IN ('pending', 'sending');

-- The payment batches' changes that tell finance something (a batch ready
-- for a second person, failed payments in a results file): written in the
-- batch's own transaction, read and deleted by the dispatcher, which
-- records their notices (idempotent by notice id). The standalone stand-in
-- for the table's stream carrying `BATCH#` items to the dispatch function.
CREATE TABLE IF NOT EXISTS batch_outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    body       BLOB NOT NULL,
    created_at TEXT NOT NULL
);

-- How long each step took (core::eta): one sample per change that ended a
-- timed step, kept once however often the change is delivered. Read as a
-- range of one unit's step by day, or city-wide by step and day.
CREATE TABLE IF NOT EXISTS eta_samples (
    unit  TEXT NOT NULL,
    step  TEXT NOT NULL,
    cause TEXT NOT NULL,
    day   TEXT NOT NULL,
    days  INTEGER NOT NULL,
    PRIMARY KEY (unit, step, cause)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS eta_samples_unit_day ON eta_samples (unit, step, day);
CREATE INDEX IF NOT EXISTS eta_samples_city_day ON eta_samples (step, day);

-- Bulk approval's spot checks: when each reviewer last opened each
-- application in detail (while it waited at their tier).
CREATE TABLE IF NOT EXISTS detail_views (
    reviewer       TEXT NOT NULL,
    application_id TEXT NOT NULL,
    at             TEXT NOT NULL,
    PRIMARY KEY (reviewer, application_id)
) WITHOUT ROWID;
