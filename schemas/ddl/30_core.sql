-- core: the common schema (docs/method.md, "Sources and the common tables"). Built from staging
-- by schemas/core/*.sql.
create schema if not exists core;

-- One row per person_key (quality check person_person_key_unique; no primary key: its index
-- took longer to build than the table at national scale).
create table if not exists core.person (
    person_key  varchar not null,          -- HMAC-SHA256 of the 12-digit personnummer
    birth_year  integer not null,
    birth_month integer not null,
    sex         varchar not null,          -- K / M, from the personnummer
    born_abroad boolean                    -- null where no source says
);

-- One row per intervention; the same insats from two systems is one row (quality check
-- insats_episode_episode_id_unique).
create table if not exists core.insats_episode (
    episode_id    varchar not null,        -- stable hash of person, municipality, type, start, end
    person_key    varchar not null,        -- pseudonym (HMAC-SHA256 of the personnummer)
    kommun_kod    varchar not null,        -- SCB code of the municipality that ran the insats
    source_system varchar not null,        -- procapita, excel (the first system that reported it)
    insats_typ    varchar,                 -- code list; null = unmapped local value
    insats_local  varchar,                 -- the insats name as delivered
    start_date    date not null,           -- the insats's first day
    end_date      date,                    -- null while ongoing
    end_reason    varchar,                 -- code list; null = none given or unmapped
    referred_from varchar,                 -- IFO, AF, FK, EGEN, OVRIGT; null = not said or unmapped
    distance      varchar                  -- NARA, OSAKER, LANGT; null = not said or unmapped
);

-- One row per adult person, municipality and month with any ekonomiskt bistånd.
create table if not exists core.fs_month (
    person_key   varchar not null,
    kommun_kod   varchar not null,
    month        date not null,            -- first day of month
    fs_amount    decimal(14, 2) not null,  -- household's net försörjningsstöd
    other_amount decimal(14, 2) not null,  -- household's net livsföring i övrigt
    hinder       varchar                   -- försörjningshinder code, most frequent of the month
);

-- One row per municipality and month that some delivery covers.
create table if not exists core.fs_coverage (
    kommun_kod varchar not null,
    month      date not null               -- first day of a month some payment file covers
);

-- One row per observed status of a person: a follow-up column of a participant list (basis
-- FOLLOWUP, dated episode end + h months) or a dated status (REPORTED).
create table if not exists core.status_observation (
    person_key    varchar not null,
    kommun_kod    varchar not null,
    observed_on   date not null,           -- for FOLLOWUP: episode end + h months
    status        varchar,                 -- code list; null = unmapped local value
    status_local  varchar,                 -- the status text as delivered
    source_system varchar not null,        -- the system it came from
    basis         varchar not null         -- FOLLOWUP / REPORTED
);

-- One row per person (or unlinked participant), occasion and dimension.
create table if not exists core.progression_assessment (
    person_key      varchar,               -- null when unlinked
    participant_ref varchar,               -- the local number when unlinked
    kommun_kod      varchar not null,      -- the municipality whose SKAPA it is
    assessed_on     date not null,         -- the occasion's date
    rater           varchar not null,      -- SELF / STAFF
    dimension       varchar not null,      -- canonical dimension (code list)
    score           double not null,       -- as delivered, on the local scale
    scale_min       double not null,       -- the local scale's lowest value
    scale_max       double not null,       -- the local scale's highest value
    score_norm      double not null        -- (score - min) / (max - min)
);
