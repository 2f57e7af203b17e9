-- staging -> core. Rebuilt whole on every run (utfall.transform.build_core drops and re-creates the
-- tables first): staging holds only live (not replaced) deliveries.

-- core.person ------------------------------------------------------------------------------------
insert into core.person
with ids as (
    select person_key, birth_year, birth_month, sex from staging.procapita_fs_line
    union all
    select person_key, birth_year, birth_month, sex from staging.procapita_household_member
    union all
    select person_key, birth_year, birth_month, sex from staging.procapita_insats
    union all
    select person_key, birth_year, birth_month, sex from staging.excel_participant
),
abroad as (
    -- a person any source calls born abroad is; 'no' only where some source says no
    select person_key, bool_or(born_abroad) as born_abroad
    from staging.excel_participant
    where born_abroad is not null
    group by person_key
),
person as (
    select person_key, min(birth_year) as birth_year, min(birth_month) as birth_month,
           min(sex) as sex
    from ids
    group by person_key
)
select p.person_key, p.birth_year, p.birth_month, p.sex, a.born_abroad
from person as p
left join abroad as a using (person_key);

-- core.insats_episode: the same person, municipality, type, start and end from two systems (or
-- twice from one) is one episode; the case system's row is preferred over a hand-made list.
insert into core.insats_episode
with src as (
    select 'procapita' as source_system, 0 as preference, delivery_id, '' as sheet, row_number,
           person_key, kommun_kod, insats_typ, insats_local, start_date, end_date,
           end_reason, referred_from, distance
    from staging.procapita_insats
    union all
    select 'excel', 1, delivery_id, coalesce(sheet, ''), row_number,
           person_key, kommun_kod, insats_typ, insats_local, start_date, end_date,
           end_reason, referred_from, distance
    from staging.excel_participant
),
keyed as (
    select *,
           coalesce(insats_typ, 'UNMAPPED:' || coalesce(insats_local, '')) as type_key,
           (preference, delivery_id, sheet, row_number) as pref
    from src
)
select
    substr(sha256(concat_ws('|', person_key, kommun_kod, type_key, start_date,
                            coalesce(cast(end_date as varchar), 'ongoing'))), 1, 16) as episode_id,
    person_key, kommun_kod,
    arg_min(source_system, pref),
    any_value(insats_typ),
    arg_min(insats_local, pref),
    start_date, end_date,
    arg_min(end_reason, pref) filter (where end_reason is not null),
    arg_min(referred_from, pref) filter (where referred_from is not null),
    arg_min(distance, pref) filter (where distance is not null)
from keyed
group by person_key, kommun_kod, type_key, start_date, end_date;

-- core.fs_month: schemas/core/fs_month.sql, run per group of municipalities.

-- core.fs_coverage: every month from a payment file's earliest to its latest 'Avser månad'.
insert into core.fs_coverage
select distinct d.kommun_kod, cast(m.month as date)
from meta.delivery as d,
     generate_series(cast(d.period_start as timestamp), cast(d.period_end as timestamp),
                     interval 1 month) as m(month)
where d.kind = 'procapita_fs' and d.status = 'LOADED' and d.period_start is not null;

-- core.status_observation: a follow-up column refers to the episode's end date + h months.
insert into core.status_observation
select distinct person_key, kommun_kod,
       case basis
           when 'FOLLOWUP' then cast(episode_end_date + to_months(horizon_months) as date)
           else observed_on
       end as observed_on,
       status, status_local, 'excel', basis
from staging.excel_status
where (basis = 'FOLLOWUP' and episode_end_date is not null and horizon_months is not null)
   or (basis = 'REPORTED' and observed_on is not null);

-- core.progression_assessment: SKAPA rows with only a Deltagarnr are linked through the
-- municipality's participant list; a number that names two people is left unlinked.
insert into core.progression_assessment
with links as (
    select kommun_kod, participant_ref, min(person_key) as person_key
    from staging.excel_participant
    where participant_ref is not null
    group by kommun_kod, participant_ref
    having count(distinct person_key) = 1
),
linked as (
    select coalesce(s.person_key, l.person_key) as person_key, s.participant_ref, s.kommun_kod,
           s.assessed_on, s.rater, s.dimension, s.score, s.scale_min, s.scale_max
    from staging.skapa_assessment as s
    left join links as l
      on s.person_key is null and l.kommun_kod = s.kommun_kod
     and l.participant_ref = s.participant_ref
)
select distinct person_key,
       case when person_key is null then participant_ref end,
       kommun_kod, assessed_on, rater, dimension, score, scale_min, scale_max,
       (score - scale_min) / (scale_max - scale_min)
from linked;
