-- meta: what was delivered, what was loaded, what was rejected and why.
create schema if not exists meta;

-- The glossary (utfall.dictionary): what a column means wherever it has no comment of its own.
-- column delivery_id: the delivery (meta.delivery) the row came from
-- column kommun_kod: SCB's four-digit municipality code, as text (leading zero kept); ALLA in the KPI tables for all municipalities of the run together
-- column system: the source system, as the inbox folder names it: procapita, skapa or excel
-- column sheet: the spreadsheet sheet the row came from; null for a text file
-- column path: the file's path relative to the inbox, '/' separated
-- column row_number: 1-based line or spreadsheet row as the user sees it
-- column person_key: pseudonym: HMAC-SHA256 of the normalised 12-digit personnummer with the installation key, 64 lowercase hex (docs/method.md, "Pseudonymisation")
-- column birth_year: year of birth, from the personnummer
-- column birth_month: month of birth (1-12), from the personnummer; ages use the birth month only
-- column sex: K / M, from the personnummer
-- column born_abroad: born outside Sweden; null where no source says
-- column {field}_local: the {field} text as delivered, before it is mapped to the code list
-- column created_at: when the row was written

-- One row per file met in the inbox, in any run. A file's identity is its path relative to the
-- inbox; a new hash at a known path is a corrected re-delivery (the earlier row gets replaced_by).
create table if not exists meta.delivery (
    delivery_id      varchar primary key,  -- sha256(path || file_hash), first 16 hex
    file_hash        varchar not null,     -- sha256 of the file's bytes
    path             varchar not null,     -- relative to the inbox, '/' separated
    kommun_kod       varchar,
    system           varchar,
    kind             varchar,              -- extract kind, e.g. procapita_fs, excel_participants
    status           varchar not null,     -- LOADED, REJECTED, DUPLICATE, REPLACED, WITHDRAWN
    message          varchar,              -- why rejected / duplicate of what / why withdrawn
    period_start     date,                 -- first month (or date) the file covers
    period_end       date,                 -- last month (or date) the file covers
    rows_read        integer,              -- data rows met in the file
    rows_loaded      integer,              -- rows that reached staging
    rows_quarantined integer,              -- rows rejected into meta.quarantine, each with a reason
    rows_skipped     integer,              -- rows left out on purpose (blank, totals, notes), not errors
    loaded_at        timestamp,            -- when the file was read
    replaced_by      varchar,              -- delivery_id of the corrected re-delivery
    duplicate_of     varchar               -- delivery_id with the same content at another path
);
-- The cache key of a loaded file's rows, and what decides whether they still hold (utfall.ingest).
-- Added by alter so that a database built before them is brought up to date in place.
alter table meta.delivery add column if not exists load_key varchar;     -- sha256 of path, content, configuration, adapter code, key and year
alter table meta.delivery add column if not exists read_on date;         -- the run date the file was read on
alter table meta.delivery add column if not exists latest_date date;     -- latest date checked for DATE_FUTURE (docs/method.md, "Quarantine and reconciliation")
alter table meta.delivery add column if not exists change varchar;       -- ADDED, CORRECTED, REVERTED, RESTORED, MOVED, REREAD

-- What in the inbox could not be used as of the latest run (utfall.inbox): a file outside
-- <kommunkod>/<system>/, a folder that is not a municipality or a system, an unreadable entry.
create table if not exists meta.inbox_problem (
    path     varchar not null,             -- relative to the inbox; U+FFFD where the name is not UTF-8
    message  varchar not null              -- what is wrong and what to do
);

-- What the database was built with: one row. A run with another key is refused (the fingerprint
-- names the key without revealing it); another adapter version re-reads every file.
create table if not exists meta.installation (
    key_fingerprint  varchar not null,     -- HMAC of a fixed text with the installation key
    key_label        varchar not null,     -- DEMO or INSTALLATION
    adapter_version  varchar not null,     -- sha256 of the code and data that turn files into staging rows
    created_at       timestamp not null
);

-- One row per source row that could not be loaded. Never a personnummer or a name.
create table if not exists meta.quarantine (
    delivery_id  varchar not null,
    path         varchar not null,
    kommun_kod   varchar,
    sheet        varchar,
    row_number   integer,                  -- 1-based line / spreadsheet row as the user sees it
    reason       varchar not null,         -- reason code, see adapters.base.Reason
    column_name  varchar,                  -- the offending column (canonical name), if one
    message      varchar not null          -- what was wrong, in words (never the value of a personnummer or name)
);

-- Values no mapping covers, per delivery and field: the analyst's to-do list.
create table if not exists meta.unmapped_value (
    delivery_id varchar not null,
    kommun_kod  varchar,
    system      varchar,
    field       varchar not null,          -- status, insats_typ, end_reason, hinder, ...
    value_local varchar not null,          -- the value as delivered
    n           integer not null           -- how many rows of the delivery carry it
);

-- One row per successful run (utfall run or a Dagster build): when, with what as_of, key,
-- inbox, version and min_cell.
create table if not exists meta.run (
    run_id      varchar primary key,       -- one id per utfall run (or Dagster build)
    started_at  timestamp,                 -- when the run began
    finished_at timestamp,                 -- when the run succeeded (a failed run leaves no row)
    as_of       date,                      -- the date the data is complete up to (docs/method.md, "as_of")
    key_label   varchar,                   -- DEMO or INSTALLATION: outputs built with the demo key say so
    inbox       varchar,                   -- the inbox the run read
    utfall_version varchar,                -- the version of utfall that built the database
    min_cell    integer                    -- smallest published cell of this run
);

-- What each successful run was built from (utfall.run), one row per run in meta.run. A run whose
-- inputs give the fingerprint of the latest run, with that run's report in place, changes
-- nothing and says so (README, "What a run does with your files"); a database without the
-- latest run's row here is always built again. Digests and settings only: no file name, key
-- or content can be read back from them (the settings name the inbox folder, as meta.run does).
create table if not exists meta.run_fingerprint (
    run_id        varchar primary key,     -- the run (meta.run)
    fingerprint   varchar not null,        -- sha256 of the four columns below
    inbox         varchar not null,        -- sha256 of every usable file's path (relative to the inbox) and content hash, and of what in the inbox could not be used
    configuration varchar not null,        -- sha256 of the validated configuration: the defaults and each municipality's file, with its path
    code          varchar not null,        -- sha256 of utfall's code and data (adapters, utfall, marts, schemas) and the versions of Python and of the libraries that read, compute and render
    settings      varchar not null         -- JSON: as_of (the one used), the inbox folder, the key's fingerprint and label, min_cell, whether a report and the audit were made, and the run date's year (it decides the century of 10-digit personnummer)
);

-- Warnings of the latest build about its as_of (before every insats, every horizon immature):
-- the run summary and the report state them.
create table if not exists meta.run_warning (
    message varchar not null,              -- one sentence, in the user's terms (the run summary)
    message_sv varchar                     -- the same in Swedish (the report)
);
alter table meta.run_warning add column if not exists message_sv varchar;  -- the warning in Swedish, for the report

-- Data-quality results of the latest build, per check and municipality (utfall.quality).
create table if not exists meta.quality_check (
    check_name      varchar not null,      -- e.g. insats_episode_end_before_start
    table_name      varchar not null,      -- e.g. core.insats_episode
    kommun_kod      varchar,               -- null for checks of the whole table
    delivery_id     varchar,               -- set where a row can be traced to one delivery
    description     varchar not null,      -- what the check wants, in words
    severity        varchar not null,      -- ERROR (blocks what is downstream) or WARNING
    rows_checked    bigint,                -- rows the check looked at
    unexpected      bigint,                -- rows breaking the check; null when the check itself failed
    passed          boolean not null,      -- true: no row breaks it and the check ran
    error           varchar                -- why the check could not run, if it could not
);

-- The disclosure audit of the latest build's marts.kpi_published (marts.audit): one row. The
-- report and the run summary state it; `utfall audit` gives every figure.
create table if not exists meta.disclosure_audit (
    audited         boolean not null,      -- false: not run in the build (run utfall audit)
    published_rows  bigint,                -- rows of marts.kpi_published
    cells_checked   bigint,                -- suppressed counts, and published ones that may be below min_cell
    pinned          bigint,                -- of those, pinned to one value by the published relations
    safe            boolean,               -- nothing pinned, and every relation consistent
    seconds         double,                -- how long the audit took
    summary_sv      varchar not null,      -- one Swedish sentence for the report
    content_key     varchar                -- digest of the published table, min_cell and the audit's code: a later run whose key is the same keeps this row instead of auditing again
);

-- The canonical columns each delivered sheet's header named (AdapterResult.columns_found), one row
-- per delivery, sheet and column: what utfall.completeness measures a delivery against.
create table if not exists meta.source_column (
    delivery_id varchar not null,
    kommun_kod  varchar,
    system      varchar,
    sheet       varchar,                   -- null for a text file
    column_name varchar not null           -- canonical (config header_aliases); SKAPA 'dimension:<CODE>'
);

-- Headers present in a delivery but not understood: the analyst's list of aliases to add.
create table if not exists meta.unknown_header (
    delivery_id   varchar not null,
    kommun_kod    varchar,
    system        varchar,
    sheet         varchar,                 -- null for a text file
    header        varchar not null,        -- as delivered (never a header line holding data)
    nearest_alias varchar                  -- the known header it nearly matches, if any
);

-- Completeness per loaded delivery, sheet and field (utfall.completeness, rebuilt every run from
-- staging and meta.source_column): did the source have the column, and how often is it usable.
create table if not exists meta.field_completeness (
    delivery_id    varchar not null,
    kommun_kod     varchar,
    system         varchar,
    sheet          varchar,                -- null for a text file
    field          varchar not null,       -- e.g. end_reason, status_6, fs_amount, score_motivation
    column_present boolean,                -- the header named the field's column; null: not recorded (loaded before columns were)
    rows           bigint not null,        -- staging rows the field applies to (end reason: ended episodes; status N mån: ended N months before as_of)
    rows_known     bigint not null,        -- of them, rows with a usable value (the code is not null)
    share_known    double                  -- rows_known / rows; null when rows = 0
);

-- What each municipality's rows of core.fs_month were computed from (utfall.transform.build_core):
-- a digest of utfall's code and of the municipality's loaded deliveries (each one's id, load key,
-- day read and rows loaded). A run keeps the rows of a municipality whose digest is unchanged and
-- computes the others': the payment lines are most of the core's work, and a new month from one
-- municipality changes no other's.
create table if not exists meta.core_part (
    kommun_kod varchar primary key,        -- SCB municipality code
    part_key   varchar not null            -- sha256 of the code's digest and the municipality's loaded deliveries
);
