-- codes: the code lists of schemas/codes.py with Swedish and English labels (schemas/code_labels.py),
-- filled by utfall.transform.load_code_lists on every build; what each code means is in
-- docs/method.md, "Code lists" and "Breakdowns".
create schema if not exists codes;

-- column sort_order: the code's position in its list (1 first), the order documents and the report use
-- column label_sv: the code in plain Swedish, as the report and the users say it
-- column label_en: the code in plain English

-- The kinds of intervention (insatstyp) every local insats name is mapped to.
create table if not exists codes.insats_typ (
    code       varchar primary key,  -- the insats_typ code of core.insats_episode and marts.participation_spell
    sort_order integer not null,
    label_sv   varchar not null,
    label_en   varchar not null
);

-- What a participant does at a follow-up point (status). The list's order is the last tie-break
-- between two observations equally close to a follow-up date (docs/method.md, "Status at a horizon").
create table if not exists codes.status (
    code       varchar primary key,  -- the status code of core.status_observation and the status_* columns of marts.participation_spell
    sort_order integer not null,
    label_sv   varchar not null,
    label_en   varchar not null
);

-- Why an insats ended (avslutsorsak).
create table if not exists codes.end_reason (
    code       varchar primary key,  -- the end_reason code of core.insats_episode and marts.participation_spell
    sort_order integer not null,
    label_sv   varchar not null,
    label_en   varchar not null
);

-- Försörjningshinder: why a household needs assistance, following Socialstyrelsen's statistical categories.
create table if not exists codes.hinder (
    code       varchar primary key,  -- the hinder code of core.fs_month
    sort_order integer not null,
    label_sv   varchar not null,
    label_en   varchar not null
);

-- The canonical progression dimensions every SKAPA set-up is mapped to.
create table if not exists codes.dimension (
    code       varchar primary key,  -- the dimension code of core.progression_assessment
    sort_order integer not null,
    label_sv   varchar not null,
    label_en   varchar not null
);

-- Who referred the participant to the AME (remitterad från).
create table if not exists codes.referred_from (
    code       varchar primary key,  -- the referred_from code of core.insats_episode and marts.participation_spell
    sort_order integer not null,
    label_sv   varchar not null,
    label_en   varchar not null
);

-- Distance to the labour market at entry: the green / yellow / red categories.
create table if not exists codes.distance (
    code       varchar primary key,  -- the distance code of core.insats_episode and marts.participation_spell
    sort_order integer not null,
    label_sv   varchar not null,
    label_en   varchar not null
);

-- The two kinds of ekonomiskt bistånd a payment line can be: only FS counts as försörjningsstöd.
create table if not exists codes.bistand_class (
    code       varchar primary key,  -- the bistand_class code of staging.procapita_fs_line
    sort_order integer not null,
    label_sv   varchar not null,
    label_en   varchar not null
);

-- Who made a progression assessment.
create table if not exists codes.rater (
    code       varchar primary key,  -- the rater code of core.progression_assessment
    sort_order integer not null,
    label_sv   varchar not null,
    label_en   varchar not null
);

-- A person's role in a household's case (Roll); children's lines are not loaded.
create table if not exists codes.role (
    code       varchar primary key,  -- the role code of the Procapita staging tables
    sort_order integer not null,
    label_sv   varchar not null,
    label_en   varchar not null
);

-- Yes / no, as mapped from Född utomlands; the breakdown FODD_UTRIKES adds OKAND where no source says.
create table if not exists codes.born_abroad (
    code       varchar primary key,  -- JA / NEJ; core.person.born_abroad holds it as true / false
    sort_order integer not null,
    label_sv   varchar not null,
    label_en   varchar not null
);

-- Every value of each breakdown of the KPI tables (dimension / dimension_value), in the order
-- the report shows them; the published table has a row for each (docs/method.md, "The grid").
create table if not exists codes.breakdown (
    dimension       varchar not null,     -- TOTAL, KON, ALDER, INSATS, FODD_UTRIKES, FS_VID_START, LANGVARIGT_FS_FORE, REMITTERAD, AVSTAND
    dimension_value varchar not null,     -- a value of the dimension, as in the KPI tables' dimension_value
    sort_order      integer not null,
    spell_only      boolean not null,     -- true: only the spell-based KPIs (period by start or exit) have this dimension
    label_sv        varchar not null,
    label_en        varchar not null,
    primary key (dimension, dimension_value)
);
