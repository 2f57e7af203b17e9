-- marts: the KPIs of docs/method.md. Built from core by marts/sql/*.sql.
create schema if not exists marts;

-- The per-spell outcomes (docs/method.md, "Status at a horizon", "Status after start"): r_h =
-- add_months(exit_date, h), t_h = add_months(start_date, h), h in months.
-- column mature_{h}m: true when r_h (exit date + {h} months) is on or before as_of: only mature exits enter the {h}-month figures; null while the spell has no exit
-- column status_{h}m: status at r_h (code list status): the closest observation within 45 days other than OKAND, else I_INSATS when an insats is active on r_h, else OKAND; null unless mature
-- column off_fs_{h}m: true when the person has no FS in month(r_h); null unless mature and month(r_h) is covered by the spell's municipality (AME_EJ_FS_{h}M counts those on FS at start)
-- column mature_start_{h}m: true when t_h (start date + {h} months) is on or before as_of, exited or not
-- column status_start_{h}m: status at t_h by the same three steps (a participant still in the spell is I_INSATS); null unless mature from start
-- column off_fs_start_{h}m: true when the person has no FS in month(t_h); null unless mature from start and month(t_h) is covered by the spell's municipality
-- The KPI tables' key (docs/method.md, "KPIs", "Breakdowns"):
-- column kpi_id: the KPI's id, as in marts.kpi and docs/method.md's table of KPIs
-- column period: 2023 (YEAR) or 2023-Q2 (QUARTER) of the KPI's cohort: start, exit, year or FS exit month
-- column period_type: YEAR / QUARTER
-- column dimension: the breakdown: TOTAL, KON, ALDER, INSATS, FODD_UTRIKES, FS_VID_START, LANGVARIGT_FS_FORE, REMITTERAD, AVSTAND
-- column dimension_value: the group within the breakdown (ALLA under TOTAL; K / M under KON; 16-24, 25-29, 30-49, 50+ under ALDER; ...)
-- column ci_high: upper end of the interval (as ci_low); null where ci_low is

-- One row per participation spell (pseudonymised microdata, not suppressed: researchers only).
create table if not exists marts.participation_spell (
    spell_id            varchar primary key,  -- first 16 hex of sha256(person_key|kommun_kod|start_date)
    person_key          varchar not null,
    kommun_kod          varchar not null,
    start_date          date not null,     -- the earliest start of its episodes
    exit_date           date,              -- the latest end of its episodes once all have ended; null while ongoing
    insats_typ          varchar,           -- the type of its episode with most days (ties: later start, then code)
    end_reason          varchar,           -- the end_reason of its episode with the latest end date
    age_at_start        integer,           -- whole years from the birth month to month(start_date)
    sex                 varchar,
    born_abroad         boolean,
    fs_at_start         varchar,           -- JA / NEJ / OKAND
    long_fs_before      varchar,           -- JA / NEJ / OKAND
    fs_months_before_12 integer,           -- null unless all 12 months are covered
    fs_months_after_12  integer,           -- null unless exited and all 12 months are covered
    referred_from       varchar,           -- the first non-null referral of its episodes; null = none says
    distance            varchar,           -- the first non-null distance of its episodes; null = none says
    mature_3m boolean, status_3m varchar, off_fs_3m boolean,
    mature_6m boolean, status_6m varchar, off_fs_6m boolean,
    mature_12m boolean, status_12m varchar, off_fs_12m boolean,
    -- from start: t_h = start_date + h months; off FS only when on FS at start and month(t_h) covered
    mature_start_6m boolean, status_start_6m varchar, off_fs_start_6m boolean,
    mature_start_12m boolean, status_start_12m varchar, off_fs_start_12m boolean,
    returned_12m        boolean,           -- a new spell (any municipality) within 12 months of exit; null while not mature
    prog_delta double,                     -- last minus first mean score_norm; null if not measurable
    fs_km_months integer,                  -- time on FS from month(start_date), for FS_MEDIAN_MAN
    fs_km_exit boolean                     -- true: an observed FS exit; false: censored
);

-- The KPI catalogue.
create table if not exists marts.kpi (
    kpi_id           varchar primary key,
    title_sv         varchar not null,     -- the title the report shows, in Swedish
    title_en         varchar not null,     -- the same in English
    description_sv   varchar not null,     -- what it counts, in plain Swedish
    description_en   varchar not null,     -- the same in English
    unit             varchar not null,     -- count, share, months
    higher_is_better boolean,              -- true: a higher value is better; false: lower is better (returns, unknown status); null: neither
    cohort_basis     varchar not null,     -- start, exit, year, fs_exit
    kind             varchar not null,     -- how the published table treats it: count, share, mean, median, expected (from the published share), derived (from its published neighbours)
    published_without varchar[] not null   -- breakdowns (dimensions) left out of the published table
);

-- The exact KPIs (docs/method.md, "The exact table and the published table"): every combination with
-- a denominator (a count: a count) of at least 1, nothing suppressed or perturbed. For the analysts
-- and for checking only: it never leaves them.
create table if not exists marts.kpi_value (
    kpi_id          varchar not null,
    kommun_kod      varchar not null,      -- or ALLA
    period          varchar not null,      -- 2023 or 2023-Q2
    period_type     varchar not null,      -- YEAR / QUARTER
    dimension       varchar not null,
    dimension_value varchar not null,
    numerator       double,                -- the exact count or sum
    denominator     double,                -- the exact number of units; null for a count
    value           double,                -- share, count, mean or median
    ci_low          double,                -- Wilson 95 % for shares, else null
    ci_high         double
);

-- What leaves the analysts (docs/method.md, "Disclosure control"): YEAR rows for every dimension,
-- QUARTER rows for TOTAL only, counts perturbed by the cell key method, decisions taken on the
-- perturbed counts, a row for every code-list value. The report, exports and charts read this.
create table if not exists marts.kpi_published (
    kpi_id          varchar not null,
    kommun_kod      varchar not null,
    period          varchar not null,
    period_type     varchar not null,
    dimension       varchar not null,
    dimension_value varchar not null,
    numerator       double,                -- perturbed count, capped at the denominator; null for a mean
    denominator     double,                -- perturbed count p(D); null for a count
    value           double,                -- from the perturbed counts; a mean rounded half up to one decimal; an expected value from the published share
    ci_low          double,                -- noise-aware Wilson 95 % of the published numerator and denominator (a share); shifted with the share (a difference from expected)
    ci_high         double,
    suppressed      boolean not null       -- true: p(D) below min_cell (or 0 %/100 % below twice it; a mean or median: below 2 * min_cell + 8; expected values: the share suppressed or p(D) below 15); every number null
);
