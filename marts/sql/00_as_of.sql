-- The run's view of core as it was known on as_of (metrics.md "Dates and months"). Temp tables:
-- they live for one build, on one connection. Months are integers: year * 12 + month - 1.
create or replace temp macro mi(d) as (year(d) * 12 + month(d) - 1);
create or replace temp macro mi_date(m) as (make_date(cast(m // 12 as integer), cast(m % 12 + 1 as integer), 1));

-- An integer per person: the marts join, group and partition on it instead of the 64-character
-- person_key (a third of their time at national scale). Everyone with a person row or an episode:
-- spells come from episodes, the FS population needs a person row (the age), and FS months,
-- observations and assessments of anyone else meet neither.
create or replace temp table person_id as
select cast(row_number() over () as integer) as pid, k.person_key,
       p.birth_year, p.birth_month, p.sex, p.born_abroad
from (select person_key from core.person
      union
      select person_key from core.insats_episode) as k
left join core.person as p using (person_key);

-- episodes that started by as_of; one that ends after as_of is still ongoing
create or replace temp table asof_episode as
select e.episode_id, p.pid, e.kommun_kod, e.insats_typ, e.start_date,
       case when e.end_date <= getvariable('as_of') then e.end_date end as end_date,
       e.end_reason, e.referred_from, e.distance
from core.insats_episode as e
join person_id as p using (person_key)
where e.start_date <= getvariable('as_of');

-- FS paid per person, municipality and month (core.fs_month has one row for each, by
-- construction), with whether the person was an adult that month. Joined to the integer person
-- first: grouping the 16 million rows on the 64-character person_key took twice as long.
create or replace temp table asof_fs_paid as
select p.pid, f.kommun_kod, mi(f.month) as m,
       mi(f.month) - (p.birth_year * 12 + p.birth_month - 1) >= 18 * 12 as adult
from core.fs_month as f
join person_id as p using (person_key)
where f.fs_amount > 0 and f.month <= getvariable('as_of');

-- person-months on FS in any municipality
create or replace temp table asof_fs_on as
select distinct pid, m
from asof_fs_paid;

create or replace temp table asof_coverage as
select distinct kommun_kod, mi(month) as m
from core.fs_coverage
where month <= getvariable('as_of');

create or replace temp table asof_observation as
select p.pid, o.observed_on, o.status, o.basis,
       list_position(['ARBETE', 'ARBETE_SUBVENTIONERAT', 'STUDIER', 'ARBETSSOKANDE', 'I_INSATS',
                      'EJ_TILLGANGLIG', 'OVRIGT', 'OKAND'], o.status) as status_rank
from core.status_observation as o
join person_id as p using (person_key)
where o.observed_on <= getvariable('as_of') and o.status is not null and o.status <> 'OKAND';
