-- marts.kpi_value: expand cohorts to municipality (and ALLA), period and breakdown; compute
-- values, Wilson intervals and Kaplan-Meier medians; then suppress small cells.

create or replace temp macro period_pairs(d) as
    [{'period': cast(year(d) as varchar), 'period_type': 'YEAR'},
     {'period': year(d) || '-Q' || quarter(d), 'period_type': 'QUARTER'}];

create or replace temp macro spell_dims(sex, alder, insats, fodd, fs_at_start, long_fs_before) as
    [{'dimension': 'TOTAL', 'dimension_value': 'ALLA'},
     {'dimension': 'KON', 'dimension_value': sex},
     {'dimension': 'ALDER', 'dimension_value': alder},
     {'dimension': 'INSATS', 'dimension_value': insats},
     {'dimension': 'FODD_UTRIKES', 'dimension_value': fodd},
     {'dimension': 'FS_VID_START', 'dimension_value': fs_at_start},
     {'dimension': 'LANGVARIGT_FS_FORE', 'dimension_value': long_fs_before}];

create or replace temp table kpi_sum as
with spell_rows as (
    select kpi_id, unnest([kommun_kod, 'ALLA']) as kommun_kod, cohort_date,
           sex, alder, insats, fodd, fs_at_start, long_fs_before, num, den
    from spell_measure
    where cohort_date is not null
),
-- one unnest per select: two in one select would be zipped, not crossed
spell_p as (select *, unnest(period_pairs(cohort_date)) as p from spell_rows),
spell_periods as (
    select *, unnest(spell_dims(sex, alder, insats, fodd, fs_at_start, long_fs_before)) as d
    from spell_p
),
fs_p as (select *, unnest(period_pairs(cohort_date)) as p from fs_measure),
fs_periods as (
    select *, unnest(spell_dims(sex, alder, null, fodd, null, null)) as d from fs_p
)
select kpi_id, kommun_kod, p.period, p.period_type, d.dimension, d.dimension_value,
       sum(num) as numerator, sum(den) as denominator
from spell_periods
where d.dimension_value is not null
group by all
union all
select kpi_id, kommun_kod, p.period, p.period_type, d.dimension, d.dimension_value,
       sum(num), sum(den)
from fs_periods
where d.dimension_value is not null
  and not (p.period_type = 'QUARTER' and kpi_id in ('FS_LANGVARIGT', 'FS_MYCKET_LANGVARIGT'))
group by all;

-- Kaplan-Meier median of time on FS: S(t) = prod over event times u <= t of (1 - d_u / n_u); a
-- spell censored at t is still at risk at t
create or replace temp table kpi_km as
with rows_ as (
    select unnest([kommun_kod, 'ALLA']) as kommun_kod, cohort_date,
           sex, alder, insats, fodd, fs_at_start, long_fs_before, t, d, c
    from spell_km_input
),
p_ as (select *, unnest(period_pairs(cohort_date)) as p from rows_),
d_ as (
    select *, unnest(spell_dims(sex, alder, insats, fodd, fs_at_start, long_fs_before)) as dd
    from p_
),
curve as (
    select kommun_kod, p.period, p.period_type, dd.dimension, dd.dimension_value, t,
           sum(d) as d, sum(c) as c
    from d_
    where dd.dimension_value is not null
    group by all
),
at_risk as (
    select *,
           sum(d + c) over g_all as n_total,
           sum(d) over g_all as d_total,
           sum(d + c) over g_all - coalesce(sum(d + c) over g_before, 0) as n_t
    from curve
    window g_all as (partition by kommun_kod, period, period_type, dimension, dimension_value),
           g_before as (partition by kommun_kod, period, period_type, dimension, dimension_value
                        order by t rows between unbounded preceding and 1 preceding)
),
survival as (
    select *,
           -- a factor of 0 makes S zero from there on; log-sum otherwise
           case when max(case when d = n_t then 1 else 0 end) over g_upto = 1 then 0.0
                else exp(sum(case when d > 0 and d < n_t then ln(1 - d / n_t) else 0 end) over g_upto)
           end as s_t
    from at_risk
    window g_upto as (partition by kommun_kod, period, period_type, dimension, dimension_value
                      order by t rows unbounded preceding)
)
select 'FS_MEDIAN_MAN' as kpi_id, kommun_kod, period, period_type, dimension, dimension_value,
       any_value(d_total) as numerator, any_value(n_total) as denominator,
       min(t) filter (where d > 0 and s_t <= 0.5 + 1e-9) as value
from survival
group by all;

create or replace temp table kpi_unsuppressed as
with valued as (
    select s.kpi_id, s.kommun_kod, s.period, s.period_type, s.dimension, s.dimension_value,
           k.unit,
           s.numerator,
           case when k.unit = 'count' then null else s.denominator end as denominator,
           case when k.unit = 'count' then s.numerator else s.numerator / s.denominator end as value
    from kpi_sum as s
    join marts.kpi as k using (kpi_id)
    where s.denominator >= 1
    union all
    select m.kpi_id, m.kommun_kod, m.period, m.period_type, m.dimension, m.dimension_value,
           'months', m.numerator, m.denominator, m.value
    from kpi_km as m
    where m.denominator >= 1
),
wilson as (
    select *, 1.959964 as z from valued
)
select kpi_id, kommun_kod, period, period_type, dimension, dimension_value, unit,
       numerator, denominator, value,
       case when unit = 'share' then greatest(0.0,
           (value + z * z / (2 * denominator)
            - z * sqrt(value * (1 - value) / denominator + z * z / (4 * denominator * denominator)))
           / (1 + z * z / denominator)) end as ci_low,
       case when unit = 'share' then least(1.0,
           (value + z * z / (2 * denominator)
            + z * sqrt(value * (1 - value) / denominator + z * z / (4 * denominator * denominator)))
           / (1 + z * z / denominator)) end as ci_high
from wilson;

-- primary suppression, then secondary once within each (kpi, kommun, period, dimension <> TOTAL)
create or replace temp table kpi_suppression as
with primary_ as (
    select *,
           case when unit = 'count' then numerator between 1 and getvariable('min_cell') - 1
                else denominator < getvariable('min_cell') end as primary_suppressed,
           coalesce(denominator, numerator) as cell_size
    from kpi_unsuppressed
),
groups_with_one as (
    select kpi_id, kommun_kod, period, period_type, dimension
    from primary_
    where dimension <> 'TOTAL'
    group by all
    having count(*) filter (where primary_suppressed) = 1
),
secondary as (
    select p.kpi_id, p.kommun_kod, p.period, p.period_type, p.dimension, p.dimension_value
    from primary_ as p
    join groups_with_one as g using (kpi_id, kommun_kod, period, period_type, dimension)
    where not p.primary_suppressed
    qualify row_number() over (partition by p.kpi_id, p.kommun_kod, p.period, p.period_type, p.dimension
                               order by p.cell_size, p.dimension_value) = 1
)
select p.*, p.primary_suppressed or s.dimension_value is not null as suppressed
from primary_ as p
left join secondary as s using (kpi_id, kommun_kod, period, period_type, dimension, dimension_value);

delete from marts.kpi_value;
insert into marts.kpi_value
select kpi_id, kommun_kod, period, period_type, dimension, dimension_value,
       case when suppressed then null else numerator end,
       case when suppressed then null else denominator end,
       case when suppressed then null else value end,
       case when suppressed then null else ci_low end,
       case when suppressed then null else ci_high end,
       suppressed
from kpi_suppression
order by kpi_id, kommun_kod, period_type, period, dimension, dimension_value;
