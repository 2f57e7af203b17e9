-- staging: one table per source extract, typed and pseudonymised, still at the source's grain.
-- Every row carries the delivery it came from, so a re-delivery replaces exactly its rows.
create schema if not exists staging;

-- column insats_typ: code list insats_typ (docs/method.md, "Code lists"); null = unmapped local value
-- column end_reason: code list end_reason (avslutsorsak); null = none given or unmapped
-- column start_date: the insats's first day, as delivered
-- column end_date: the insats's last day; null while ongoing (a date after as_of is still ongoing)
-- column referred_from: who referred the participant, code list referred_from (IFO, AF, FK, EGEN, OVRIGT); null = not said or unmapped
-- column distance: distance to the labour market at entry, code list distance (NARA, OSAKER, LANGT); null = not said or unmapped
-- column hinder: försörjningshinder, code list hinder; null = none or unmapped
-- column score: the assessment as delivered, on the local scale
-- column scale_min: the local scale's lowest value
-- column scale_max: the local scale's highest value
-- column household_ref: Hushållsnummer / Ärendenr, as text: links a payment line to its household's members
-- column role: SOKANDE (applicant) or MEDSOKANDE (co-applicant) in the household
-- column participant_ref: the local participant number (Deltagarnr), trimmed text

create table if not exists staging.procapita_fs_line (
    delivery_id varchar not null, kommun_kod varchar not null, row_number integer,
    person_key varchar not null, birth_year integer, birth_month integer, sex varchar,
    household_ref varchar not null,        -- Hushållsnummer / Ärendenr, as text
    role varchar,                          -- SOKANDE, MEDSOKANDE
    month date not null,                   -- Avser månad, first day
    paid_on date,                          -- Utbetalningsdatum
    amount decimal(14, 2) not null,        -- the line's amount in kronor (negative: paid back)
    bistandstyp_local varchar,             -- Biståndstyp as delivered
    bistand_class varchar,                 -- FS, OVRIGT, null = unmapped
    hinder_local varchar,
    hinder varchar
);

create table if not exists staging.procapita_household_member (
    delivery_id varchar not null, kommun_kod varchar not null, row_number integer,
    household_ref varchar not null,
    person_key varchar not null, birth_year integer, birth_month integer, sex varchar,
    role varchar
);

create table if not exists staging.procapita_insats (
    delivery_id varchar not null, kommun_kod varchar not null, row_number integer,
    person_key varchar not null, birth_year integer, birth_month integer, sex varchar,
    insats_local varchar, insats_typ varchar,
    provider varchar,                      -- Utförare: who ran the insats, as delivered
    start_date date not null, end_date date,
    end_reason_local varchar, end_reason varchar,
    referred_from_local varchar, referred_from varchar,
    distance_local varchar, distance varchar
);

create table if not exists staging.excel_participant (
    delivery_id varchar not null, kommun_kod varchar not null, sheet varchar, row_number integer,
    person_key varchar not null, birth_year integer, birth_month integer, sex varchar,
    participant_ref varchar,               -- Deltagarnr, trimmed text
    insats_local varchar, insats_typ varchar,
    start_date date not null, end_date date,
    end_reason_local varchar, end_reason varchar,
    referred_from_local varchar, referred_from varchar,
    distance_local varchar, distance varchar,
    born_abroad boolean,
    malgrupp varchar                       -- Målgrupp as delivered (the unit's own grouping)
);

-- Status values of an Excel row: follow-up columns (horizon_months set, basis FOLLOWUP) or a dated
-- status (observed_on set, basis REPORTED). Blank cells give no row.
create table if not exists staging.excel_status (
    delivery_id varchar not null, kommun_kod varchar not null, sheet varchar, row_number integer,
    person_key varchar not null,
    basis varchar not null,                -- FOLLOWUP (a "Status N mån" column) / REPORTED (a dated status)
    horizon_months integer,                -- N of a follow-up column; null for a dated status
    episode_end_date date,                 -- the row's end date that a follow-up counts from
    observed_on date,                      -- the date the status refers to (FOLLOWUP: end date + N months)
    status_local varchar, status varchar   -- status null = unmapped
);

create table if not exists staging.skapa_assessment (
    delivery_id varchar not null, kommun_kod varchar not null, sheet varchar, row_number integer,
    person_key varchar,                    -- null when the export has only Deltagarnr
    participant_ref varchar,
    assessed_on date not null,             -- the occasion's date
    rater varchar not null,                -- SELF, STAFF
    dimension_local varchar not null, dimension varchar not null,  -- canonical progression dimension (code list)
    score double not null, scale_min double not null, scale_max double not null
);
