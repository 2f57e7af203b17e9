-- marts.kpi_value: group cohorts by municipality (and ALLA), period and breakdown; compute
-- values, Wilson intervals and Kaplan-Meier medians; then suppress small cells.

-- Cohorts are grouped in one pass of grouping sets per municipality and quarter: TOTAL and each
-- breakdown; years are summed from the quarters (all figures are sums). grouping(x) = 0 where x
-- is one of the set's columns; a breakdown's null value (not known, or not applicable to the
-- KPI) is no group. ALLA of the spell KPIs is the sum of the municipalities' groups (sums add
-- up); fs_measure brings its own ALLA rows (a person on FS in two municipalities counts once
-- there).
create or replace temp macro dimension_of(g_sex, g_alder, g_insats, g_fodd, g_fs, g_long) as
    case when g_sex = 0 then 'KON' when g_alder = 0 then 'ALDER'
         when g_insats = 0 then 'INSATS' when g_fodd = 0 then 'FODD_UTRIKES'
         when g_fs = 0 then 'FS_VID_START' when g_long = 0 then 'LANGVARIGT_FS_FORE'
         else 'TOTAL' end;

create or replace temp macro dimension_value_of(dimension, sex, alder, insats, fodd,
                                                fs_at_start, long_fs_before) as
    case dimension when 'TOTAL' then 'ALLA' when 'KON' then sex when 'ALDER' then alder
         when 'INSATS' then insats when 'FODD_UTRIKES' then fodd
         when 'FS_VID_START' then fs_at_start else long_fs_before end;

create or replace temp macro year_of(d) as cast(year(d) as varchar);
create or replace temp macro quarter_of(d) as year(d) || '-Q' || quarter(d);

create or replace temp table kpi_sum as
with cohorts as (
    select kpi_id, kommun_kod, cohort_date, sex, alder, insats, fodd, fs_at_start,
           long_fs_before, num, den, true as additive
    from spell_measure
    where cohort_date is not null
    union all
    select kpi_id, kommun_kod, cohort_date, sex, alder, null, fodd, null, null, num, den, false
    from fs_measure
),
quarters as (  -- the finest period; a year is the sum of its quarters
    select kpi_id, kommun_kod, additive, cohort_date,
           dimension_of(grouping(sex), grouping(alder), grouping(insats), grouping(fodd),
                        grouping(fs_at_start), grouping(long_fs_before)) as dimension,
           sex, alder, insats, fodd, fs_at_start, long_fs_before,
           sum(num) as numerator, sum(den) as denominator
    from cohorts
    group by kpi_id, kommun_kod, additive, cohort_date,
             grouping sets ((), (sex), (alder), (insats), (fodd), (fs_at_start), (long_fs_before))
),
valued as (
    select kpi_id, kommun_kod, additive, cohort_date, dimension,
           dimension_value_of(dimension, sex, alder, insats, fodd, fs_at_start,
                              long_fs_before) as dimension_value,
           numerator, denominator
    from quarters
    where dimension_value is not null
),
per_kommun as (
    select kpi_id, kommun_kod, additive, quarter_of(cohort_date) as period, 'QUARTER' as period_type,
           dimension, dimension_value, numerator, denominator
    from valued
    where kpi_id not in ('FS_LANGVARIGT', 'FS_MYCKET_LANGVARIGT')
    union all
    select kpi_id, kommun_kod, additive, year_of(cohort_date), 'YEAR', dimension, dimension_value,
           sum(numerator), sum(denominator)
    from valued
    group by kpi_id, kommun_kod, additive, year_of(cohort_date), dimension, dimension_value
)
select kpi_id, kommun_kod, period, period_type, dimension, dimension_value, numerator, denominator
from per_kommun
union all
select kpi_id, 'ALLA', period, period_type, dimension, dimension_value,
       sum(numerator), sum(denominator)
from per_kommun
where additive
group by all;

-- Kaplan-Meier median of time on FS: S(t) = prod over event times u <= t of (1 - d_u / n_u); a
-- spell censored at t is still at risk at t
create or replace temp table kpi_km as
with sets as (
    select kommun_kod, coalesce(y, q) as period,
           case when grouping(y) = 0 then 'YEAR' else 'QUARTER' end as period_type,
           dimension_of(grouping(sex), grouping(alder), grouping(insats), grouping(fodd),
                        grouping(fs_at_start), grouping(long_fs_before)) as dimension,
           sex, alder, insats, fodd, fs_at_start, long_fs_before, t,
           sum(d) as d, sum(c) as c
    from (
        select unnest([kommun_kod, 'ALLA']) as kommun_kod, year_of(cohort_date) as y,
               quarter_of(cohort_date) as q, sex, alder, insats, fodd, fs_at_start,
               long_fs_before, t, d, c
        from spell_km_input
    )
    group by kommun_kod, t, grouping sets ((y), (q)),
             grouping sets ((), (sex), (alder), (insats), (fodd), (fs_at_start), (long_fs_before))
),
curve as (
    select kommun_kod, period, period_type, dimension,
           dimension_value_of(dimension, sex, alder, insats, fodd, fs_at_start,
                              long_fs_before) as dimension_value,
           t, d, c
    from sets
    where dimension_value is not null
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

-- primary suppression, then secondary once within each (kpi, kommun, period, dimension <> TOTAL):
-- where exactly one cell is suppressed, also the smallest other cell (ties: the first
-- dimension_value). The smallest is one min() of (size, value) per group, joined back: a window
-- ordering 6 million rows took half as long again.
create or replace temp table kpi_suppression as
with primary_ as (
    select *,
           case when unit = 'count' then numerator between 1 and getvariable('min_cell') - 1
                else denominator < getvariable('min_cell') end as primary_suppressed,
           coalesce(denominator, numerator) as cell_size
    from kpi_unsuppressed
),
secondary as (
    select kpi_id, kommun_kod, period, period_type, dimension,
           min({'size': cell_size, 'value': dimension_value})
               filter (where not primary_suppressed).value as dimension_value
    from primary_
    where dimension <> 'TOTAL'
    group by all
    having count(*) filter (where primary_suppressed) = 1
)
select p.*, p.primary_suppressed or s.dimension_value is not null as suppressed
from primary_ as p
left join secondary as s using (kpi_id, kommun_kod, period, period_type, dimension, dimension_value);

insert into marts.kpi_value
select kpi_id, kommun_kod, period, period_type, dimension, dimension_value,
       case when suppressed then null else numerator end,
       case when suppressed then null else denominator end,
       case when suppressed then null else value end,
       case when suppressed then null else ci_low end,
       case when suppressed then null else ci_high end,
       suppressed
from kpi_suppression;  -- unordered: sorting 6 million rows took 5 s at national scale
