-- The run's view of core as it was known on as_of (metrics.md "Dates and months"). Temp tables:
-- they live for one build, on one connection. Months are integers: year * 12 + month - 1.
create or replace temp macro mi(d) as (year(d) * 12 + month(d) - 1);
create or replace temp macro mi_date(m) as (make_date(cast(m // 12 as integer), cast(m % 12 + 1 as integer), 1));

-- episodes that started by as_of; one that ends after as_of is still ongoing
create or replace temp table asof_episode as
select episode_id, person_key, kommun_kod, insats_typ, start_date,
       case when end_date <= getvariable('as_of') then end_date end as end_date,
       end_reason
from core.insats_episode
where start_date <= getvariable('as_of');

-- person-months on FS in any municipality
create or replace temp table asof_fs_on as
select person_key, mi(month) as m
from core.fs_month
where month <= getvariable('as_of')
group by person_key, mi(month)
having bool_or(fs_amount > 0);

create or replace temp table asof_coverage as
select distinct kommun_kod, mi(month) as m
from core.fs_coverage
where month <= getvariable('as_of');

create or replace temp table asof_observation as
select person_key, observed_on, status, basis,
       list_position(['ARBETE', 'ARBETE_SUBVENTIONERAT', 'STUDIER', 'ARBETSSOKANDE', 'I_INSATS',
                      'EJ_TILLGANGLIG', 'OVRIGT', 'OKAND'], status) as status_rank
from core.status_observation
where observed_on <= getvariable('as_of') and status is not null and status <> 'OKAND';
