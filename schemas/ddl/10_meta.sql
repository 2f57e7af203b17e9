-- meta: what was delivered, what was loaded, what was rejected and why.
create schema if not exists meta;

-- One row per file met in the inbox, in any run. A file's identity is its path relative to the
-- inbox; a new hash at a known path is a corrected re-delivery (the earlier row gets replaced_by).
create table if not exists meta.delivery (
    delivery_id      varchar primary key,  -- sha256(path || file_hash), first 16 hex
    file_hash        varchar not null,     -- sha256 of the file's bytes
    path             varchar not null,     -- relative to the inbox, '/' separated
    kommun_kod       varchar,
    system           varchar,
    kind             varchar,              -- extract kind, e.g. procapita_fs, excel_participants
    status           varchar not null,     -- LOADED, REJECTED, DUPLICATE, REPLACED
    message          varchar,              -- why rejected / duplicate of what
    period_start     date,                 -- first month (or date) the file covers
    period_end       date,
    rows_read        integer,
    rows_loaded      integer,
    rows_quarantined integer,
    rows_skipped     integer,
    loaded_at        timestamp,
    replaced_by      varchar,              -- delivery_id of the corrected re-delivery
    duplicate_of     varchar               -- delivery_id with the same content at another path
);

-- One row per source row that could not be loaded. Never a personnummer or a name.
create table if not exists meta.quarantine (
    delivery_id  varchar not null,
    path         varchar not null,
    kommun_kod   varchar,
    sheet        varchar,
    row_number   integer,                  -- 1-based line / spreadsheet row as the user sees it
    reason       varchar not null,         -- reason code, see adapters.base.Reason
    column_name  varchar,
    message      varchar not null
);

-- Values no mapping covers, per delivery and field: the analyst's to-do list.
create table if not exists meta.unmapped_value (
    delivery_id varchar not null,
    kommun_kod  varchar,
    system      varchar,
    field       varchar not null,          -- status, insats_typ, end_reason, hinder, ...
    value_local varchar not null,
    n           integer not null
);

create table if not exists meta.run (
    run_id      varchar primary key,
    started_at  timestamp,
    finished_at timestamp,
    as_of       date,
    key_label   varchar,                   -- DEMO or INSTALLATION: outputs built with the demo key say so
    inbox       varchar,
    utfall_version varchar,
    min_cell    integer                    -- smallest published cell of this run
);

-- Data-quality results of the latest build, per check and municipality (utfall.quality).
create table if not exists meta.quality_check (
    check_name      varchar not null,      -- e.g. insats_episode_end_before_start
    table_name      varchar not null,      -- e.g. core.insats_episode
    kommun_kod      varchar,               -- null for checks of the whole table
    delivery_id     varchar,               -- set where a row can be traced to one delivery
    description     varchar not null,      -- what the check wants, in words
    severity        varchar not null,      -- ERROR (blocks what is downstream) or WARNING
    rows_checked    bigint,
    unexpected      bigint,                -- rows breaking the check; null when the check itself failed
    passed          boolean not null,
    error           varchar                -- why the check could not run, if it could not
);

-- The disclosure audit of the latest build's marts.kpi_published (utfall.audit): one row. The
-- report and the run summary state it; `utfall audit` gives every figure.
create table if not exists meta.disclosure_audit (
    audited         boolean not null,      -- false: not run in the build (too large: run utfall audit)
    published_rows  bigint,
    cells_checked   bigint,                -- suppressed counts, and published ones that may be below min_cell
    pinned          bigint,                -- of those, pinned to one value by the published relations
    safe            boolean,               -- nothing pinned, and every relation consistent
    seconds         double,
    summary_sv      varchar not null       -- one Swedish sentence for the report
);
