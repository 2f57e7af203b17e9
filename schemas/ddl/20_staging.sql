-- staging: one table per source extract, typed and pseudonymised, still at the source's grain.
-- Every row carries the delivery it came from, so a re-delivery replaces exactly its rows.
create schema if not exists staging;

create table if not exists staging.procapita_fs_line (
    delivery_id varchar not null, kommun_kod varchar not null, row_number integer,
    person_key varchar not null, birth_year integer, birth_month integer, sex varchar,
    household_ref varchar not null,        -- Hushållsnummer / Ärendenr, as text
    role varchar,                          -- SOKANDE, MEDSOKANDE
    month date not null,                   -- Avser månad, first day
    paid_on date,
    amount decimal(14, 2) not null,
    bistandstyp_local varchar,
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
    provider varchar,
    start_date date not null, end_date date,
    end_reason_local varchar, end_reason varchar,
    referred_from_local varchar, referred_from varchar,
    distance_local varchar, distance varchar  -- Kategori / Färg: NARA, OSAKER, LANGT, null = none or unmapped
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
    malgrupp varchar
);

-- Status values of an Excel row: follow-up columns (horizon_months set, basis FOLLOWUP) or a dated
-- status (observed_on set, basis REPORTED). Blank cells give no row.
create table if not exists staging.excel_status (
    delivery_id varchar not null, kommun_kod varchar not null, sheet varchar, row_number integer,
    person_key varchar not null,
    basis varchar not null,
    horizon_months integer,
    episode_end_date date,
    observed_on date,
    status_local varchar, status varchar   -- status null = unmapped
);

create table if not exists staging.skapa_assessment (
    delivery_id varchar not null, kommun_kod varchar not null, sheet varchar, row_number integer,
    person_key varchar,                    -- null when the export has only Deltagarnr
    participant_ref varchar,
    assessed_on date not null,
    rater varchar not null,                -- SELF, STAFF
    dimension_local varchar not null, dimension varchar not null,
    score double not null, scale_min double not null, scale_max double not null
);
