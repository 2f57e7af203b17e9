-- Per-cohort facts for every KPI, compressed before the breakdowns are expanded: one row per KPI,
-- municipality, periods and breakdown values, with summed numerator and denominator.

-- metrics.md "Disclosure control": a unit's record key, the first 8 hex digits of SHA-256 of its
-- text as a 32-bit integer. Sums of record keys (cell keys before the modulo) travel with every
-- sum of units below, so that each published cell's key is a sum like its count.
create or replace temp macro record_key(text) as cast(('0x' || left(sha256(text), 8)) as bigint);

-- breakdown values of a spell, and its record key (its own municipality, also under ALLA)
create or replace temp table spell_attr as
select spell_id, kommun_kod, start_date, exit_date, sex,
       record_key(person_key || '|' || kommun_kod || '|' || strftime(start_date, '%Y-%m-%d')) as rk,
       case when age_at_start is null or age_at_start < 16 then null
            when age_at_start < 25 then '16-24'
            when age_at_start < 30 then '25-29'
            when age_at_start < 50 then '30-49'
            else '50+' end as alder,
       insats_typ as insats,
       case born_abroad when true then 'JA' when false then 'NEJ' else 'OKAND' end as fodd,
       fs_at_start, long_fs_before,
       coalesce(referred_from, 'OKAND') as remitterad, coalesce(distance, 'OKAND') as avstand,
       fs_km_months, fs_km_exit
from marts.participation_spell;

-- one row per spell and KPI it counts in: basis (start or exit), numerator, denominator
create or replace temp table spell_measure as
with m as (
    select spell_id, 'AME_STARTADE' as kpi_id, 'start' as basis, 1.0 as num, 1.0 as den
    from marts.participation_spell
    union all
    select spell_id, 'AME_AVSLUTADE', 'exit', 1, 1
    from marts.participation_spell where exit_date is not null
    union all
    select spell_id, 'AME_AVSLUT_ARB_STUD', 'exit',
           case when end_reason in ('ARBETE', 'STUDIER') then 1 else 0 end, 1
    from marts.participation_spell where exit_date is not null
    union all
    select spell_id, kpi || '_' || h || 'M', 'exit', num, 1
    from (
        select spell_id, 3 as h, status_3m as status, mature_3m as mature from marts.participation_spell
        union all
        select spell_id, 6, status_6m, mature_6m from marts.participation_spell
        union all
        select spell_id, 12, status_12m, mature_12m from marts.participation_spell
    ) as hz,
    lateral (
        select 'AME_ARB_STUD' as kpi,
               case when status in ('ARBETE', 'ARBETE_SUBVENTIONERAT', 'STUDIER') then 1 else 0 end as num
        union all
        select 'AME_OSUB_ARB_STUD', case when status in ('ARBETE', 'STUDIER') then 1 else 0 end
        union all
        select 'AME_OKAND', case when status = 'OKAND' then 1 else 0 end
        union all
        select 'AME_ARB_STUD_KAND',
               case when status in ('ARBETE', 'ARBETE_SUBVENTIONERAT', 'STUDIER') then 1 else 0 end
        where status <> 'OKAND'
    ) as k
    where hz.mature
    union all
    select spell_id, 'AME_EJ_FS_' || h || 'M', 'exit', case when off_fs then 1 else 0 end, 1
    from (
        select spell_id, 3 as h, mature_3m as mature, off_fs_3m as off_fs, fs_at_start from marts.participation_spell
        union all
        select spell_id, 6, mature_6m, off_fs_6m, fs_at_start from marts.participation_spell
        union all
        select spell_id, 12, mature_12m, off_fs_12m, fs_at_start from marts.participation_spell
    ) as hz
    where mature and fs_at_start = 'JA' and off_fs is not null
    union all
    -- from start: every spell mature from start at h, exited or not
    select spell_id, kpi || '_START_' || h || 'M', 'start', num, 1
    from (
        select spell_id, 6 as h, mature_start_6m as mature, status_start_6m as status,
               off_fs_start_6m as off_fs, fs_at_start from marts.participation_spell
        union all
        select spell_id, 12, mature_start_12m, status_start_12m, off_fs_start_12m, fs_at_start
        from marts.participation_spell
    ) as hz,
    lateral (
        select 'AME_ARB_STUD' as kpi,
               case when status in ('ARBETE', 'ARBETE_SUBVENTIONERAT', 'STUDIER') then 1 else 0 end as num
        union all
        select 'AME_EJ_FS', case when off_fs then 1 else 0 end
        where fs_at_start = 'JA' and off_fs is not null
    ) as k
    where hz.mature
    union all
    select spell_id, 'AME_ATERKOMST_12M', 'exit', case when returned_12m then 1 else 0 end, 1
    from marts.participation_spell where returned_12m is not null
    union all
    select spell_id, 'FS_MAN_FORE_12', 'start', fs_months_before_12, 1
    from marts.participation_spell where fs_months_before_12 is not null
    union all
    select spell_id, 'FS_MAN_EFTER_12', 'exit', fs_months_after_12, 1
    from marts.participation_spell where fs_months_after_12 is not null
    union all
    select spell_id, 'PROG_FORBATTRAD', 'exit', case when prog_delta > 1e-9 then 1 else 0 end, 1
    from marts.participation_spell where prog_delta is not null
)
select m.kpi_id, a.kommun_kod,
       -- the quarter is the finest period: grouping by it keeps the table small
       cast(date_trunc('quarter', case m.basis when 'start' then a.start_date
                                               else a.exit_date end) as date) as cohort_date,
       a.sex, a.alder, a.insats, a.fodd, a.fs_at_start, a.long_fs_before, a.remitterad, a.avstand,
       sum(m.num) as num, sum(m.den) as den,
       -- the numerator's units are the spells with num > 0 (for means the numerator is no set)
       sum(a.rk) filter (where m.num > 0) as num_ck, sum(a.rk) as den_ck
from m join spell_attr as a using (spell_id)
group by all;

-- Kaplan-Meier input: per cohort and breakdown values, the number of exits and censorings at t
create or replace temp table spell_km_input as
select kommun_kod, cast(date_trunc('quarter', start_date) as date) as cohort_date, sex, alder,
       insats, fodd, fs_at_start, long_fs_before, remitterad, avstand,
       fs_km_months as t,
       count(*) filter (where fs_km_exit) as d,
       count(*) filter (where not fs_km_exit) as c,
       sum(rk) filter (where fs_km_exit) as d_ck,
       sum(rk) as n_ck
from spell_attr
where fs_km_months is not null
group by all;

-- FS population: a person belongs to every municipality that paid them FS in the year. Adults
-- only (core.fs_month holds adults already; said again here, where the KPIs need it)
create or replace temp table fs_paid as
select pid, kommun_kod, m
from asof_fs_paid
where adult;

create or replace temp table fs_person_year as
with py as (
    select distinct pid, kommun_kod, m // 12 as y from fs_paid
),
counts as (
    select py.pid, py.y,
           count(*) filter (where f.m // 12 = py.y) as n12,
           count(*) as n36
    from (select distinct pid, y from py) as py
    join asof_fs_on as f on f.pid = py.pid and f.m between py.y * 12 - 24 and py.y * 12 + 11
    group by py.pid, py.y
),
cover as (
    select kommun_kod, m // 12 as y, count(*) as n
    from asof_coverage group by all
)
select py.pid, py.kommun_kod, py.y, c.n12, c.n36,
       coalesce(c12.n, 0) = 12 as covered_12,
       coalesce(c12.n, 0) + coalesce(c1.n, 0) + coalesce(c2.n, 0) = 36 as covered_36
from py
join counts as c using (pid, y)
left join cover as c12 on c12.kommun_kod = py.kommun_kod and c12.y = py.y
left join cover as c1 on c1.kommun_kod = py.kommun_kod and c1.y = py.y - 1
left join cover as c2 on c2.kommun_kod = py.kommun_kod and c2.y = py.y - 2;

-- FS exits for returns: paid FS in m-1, no FS anywhere in m..m+2, the payer covers m..m+11.
-- With each FS month's next FS month (any municipality), both are equality joins.
create or replace temp table fs_exit as
with next_on as (
    select pid, m, lead(m) over (partition by pid order by m) as next_m
    from asof_fs_on
),
cover12 as (  -- months m whose payer covers m..m+11
    select c.kommun_kod, c.m
    from asof_coverage as c
    join asof_coverage as v on v.kommun_kod = c.kommun_kod and v.m between c.m and c.m + 11
    group by all
    having count(*) = 12
)
select p.pid, p.kommun_kod, p.m + 1 as m,
       coalesce(n.next_m <= p.m + 12, false) as returned
from fs_paid as p
join next_on as n on n.pid = p.pid and n.m = p.m
join cover12 as c on c.kommun_kod = p.kommun_kod and c.m = p.m + 1
where n.next_m is null or n.next_m > p.m + 3;

create or replace temp table fs_measure as
with per_kommun as (
    select 'FS_LANGVARIGT' as kpi_id, pid, kommun_kod, y * 12 as m,
           case when n12 >= 10 then 1 else 0 end as num
    from fs_person_year where covered_12
    union all
    select 'FS_MYCKET_LANGVARIGT', pid, kommun_kod, y * 12,
           case when n36 >= 27 then 1 else 0 end
    from fs_person_year where covered_36
    union all
    select 'FS_ATERKOMST_12M', pid, kommun_kod, m, case when returned then 1 else 0 end
    from fs_exit
),
-- under ALLA a person (or person and exit month) counts once
with_alla as (
    select kpi_id, pid, kommun_kod, m, num from per_kommun
    union all
    select distinct kpi_id, pid, 'ALLA', m, num from per_kommun
)
select w.kpi_id, w.kommun_kod, cast(date_trunc('quarter', mi_date(w.m)) as date) as cohort_date,
       w.sex,
       case when (w.m // 12) - w.birth_year < 16 then null
            when (w.m // 12) - w.birth_year < 25 then '16-24'
            when (w.m // 12) - w.birth_year < 30 then '25-29'
            when (w.m // 12) - w.birth_year < 50 then '30-49'
            else '50+' end as alder,
       case w.born_abroad when true then 'JA' when false then 'NEJ' else 'OKAND' end as fodd,
       sum(w.num) as num, count(*) as den,
       sum(w.rk) filter (where w.num > 0) as num_ck, sum(w.rk) as den_ck
from (
    -- record keys: person_key|Y for the long-term KPIs, person_key|YYYY-MM of the FS exit month
    select w.*, p.sex, p.birth_year, p.born_abroad,
           record_key(p.person_key || '|' || case w.kpi_id
               when 'FS_ATERKOMST_12M' then strftime(mi_date(w.m), '%Y-%m')
               else cast(w.m // 12 as varchar) end) as rk
    from with_alla as w
    join person_id as p using (pid)
) as w
group by all;
