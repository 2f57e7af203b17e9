-- core: the common schema of spec/schema.md. Built from staging by schemas/core/*.sql.
create schema if not exists core;

-- One row per person_key.
create table if not exists core.person (
    person_key  varchar primary key,       -- HMAC-SHA256 of the 12-digit personnummer
    birth_year  integer not null,
    birth_month integer not null,
    sex         varchar not null,          -- K / M, from the personnummer
    born_abroad boolean                    -- null where no source says
);

-- One row per intervention; the same insats from two systems is one row.
create table if not exists core.insats_episode (
    episode_id    varchar primary key,
    person_key    varchar not null,
    kommun_kod    varchar not null,
    source_system varchar not null,        -- procapita, excel (the first system that reported it)
    insats_typ    varchar,                 -- code list; null = unmapped local value
    insats_local  varchar,
    start_date    date not null,
    end_date      date,                    -- null while ongoing
    end_reason    varchar,                 -- code list; null = none given or unmapped
    referred_from varchar                  -- IFO, AF, EGEN, OVRIGT, null
);

-- One row per adult person, municipality and month with any ekonomiskt bistånd.
create table if not exists core.fs_month (
    person_key   varchar not null,
    kommun_kod   varchar not null,
    month        date not null,            -- first day of month
    fs_amount    decimal(14, 2) not null,  -- household's net försörjningsstöd
    other_amount decimal(14, 2) not null,  -- household's net livsföring i övrigt
    hinder       varchar
);

-- One row per municipality and month that some delivery covers.
create table if not exists core.fs_coverage (
    kommun_kod varchar not null,
    month      date not null
);

create table if not exists core.status_observation (
    person_key    varchar not null,
    kommun_kod    varchar not null,
    observed_on   date not null,
    status        varchar,                 -- code list; null = unmapped local value
    status_local  varchar,
    source_system varchar not null,
    basis         varchar not null         -- FOLLOWUP / REPORTED
);

-- One row per person (or unlinked participant), occasion and dimension.
create table if not exists core.progression_assessment (
    person_key      varchar,               -- null when unlinked
    participant_ref varchar,               -- the local number when unlinked
    kommun_kod      varchar not null,
    assessed_on     date not null,
    rater           varchar not null,      -- SELF / STAFF
    dimension       varchar not null,
    score           double not null,
    scale_min       double not null,
    scale_max       double not null,
    score_norm      double not null        -- (score - min) / (max - min)
);
