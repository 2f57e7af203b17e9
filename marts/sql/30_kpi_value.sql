-- marts.kpi_value, the exact table: group cohorts by municipality (and ALLA), period and
-- breakdown; compute values, Wilson intervals and Kaplan-Meier medians. Every group also carries
-- the sums of its units' record keys (num_ck, den_ck), from which 40_kpi_published.sql draws the
-- published table's noise.

-- Cohorts are grouped in one pass of grouping sets per municipality and quarter: TOTAL and each
-- breakdown; years are summed from the quarters (all figures are sums). grouping(x) = 0 where x
-- is one of the set's columns; a breakdown's null value (not known, or not applicable to the
-- KPI) is no group. ALLA of the spell KPIs is the sum of the municipalities' groups (sums add
-- up); fs_measure brings its own ALLA rows (a person on FS in two municipalities counts once
-- there).
create or replace temp macro dimension_of(g_sex, g_alder, g_insats, g_fodd, g_fs, g_long, g_rem,
                                          g_avst) as
    case when g_sex = 0 then 'KON' when g_alder = 0 then 'ALDER'
         when g_insats = 0 then 'INSATS' when g_fodd = 0 then 'FODD_UTRIKES'
         when g_fs = 0 then 'FS_VID_START' when g_long = 0 then 'LANGVARIGT_FS_FORE'
         when g_rem = 0 then 'REMITTERAD' when g_avst = 0 then 'AVSTAND'
         else 'TOTAL' end;

create or replace temp macro dimension_value_of(dimension, sex, alder, insats, fodd,
                                                fs_at_start, long_fs_before, remitterad, avstand) as
    case dimension when 'TOTAL' then 'ALLA' when 'KON' then sex when 'ALDER' then alder
         when 'INSATS' then insats when 'FODD_UTRIKES' then fodd
         when 'FS_VID_START' then fs_at_start when 'LANGVARIGT_FS_FORE' then long_fs_before
         when 'REMITTERAD' then remitterad else avstand end;

create or replace temp macro year_of(d) as cast(year(d) as varchar);
create or replace temp macro quarter_of(d) as year(d) || '-Q' || quarter(d);

create or replace temp table kpi_sum as
with cohorts as (
    select kpi_id, kommun_kod, cohort_date, sex, alder, insats, fodd, fs_at_start,
           long_fs_before, remitterad, avstand, num, den, num_ck, den_ck, true as additive
    from spell_measure
    where cohort_date is not null
    union all
    select kpi_id, kommun_kod, cohort_date, sex, alder, null, fodd, null, null, null, null, num,
           den, num_ck, den_ck, false
    from fs_measure
),
quarters as (  -- the finest period; a year is the sum of its quarters
    select kpi_id, kommun_kod, additive, cohort_date,
           dimension_of(grouping(sex), grouping(alder), grouping(insats), grouping(fodd),
                        grouping(fs_at_start), grouping(long_fs_before), grouping(remitterad),
                        grouping(avstand)) as dimension,
           sex, alder, insats, fodd, fs_at_start, long_fs_before, remitterad, avstand,
           sum(num) as numerator, sum(den) as denominator,
           sum(num_ck) as num_ck, sum(den_ck) as den_ck
    from cohorts
    group by kpi_id, kommun_kod, additive, cohort_date,
             grouping sets ((), (sex), (alder), (insats), (fodd), (fs_at_start), (long_fs_before),
                            (remitterad), (avstand))
),
valued as (
    select kpi_id, kommun_kod, additive, cohort_date, dimension,
           dimension_value_of(dimension, sex, alder, insats, fodd, fs_at_start,
                              long_fs_before, remitterad, avstand) as dimension_value,
           numerator, denominator, num_ck, den_ck
    from quarters
    where dimension_value is not null
),
per_kommun as (
    select kpi_id, kommun_kod, additive, quarter_of(cohort_date) as period, 'QUARTER' as period_type,
           dimension, dimension_value, numerator, denominator, num_ck, den_ck
    from valued
    where kpi_id not in ('FS_LANGVARIGT', 'FS_MYCKET_LANGVARIGT')
    union all
    select kpi_id, kommun_kod, additive, year_of(cohort_date), 'YEAR', dimension, dimension_value,
           sum(numerator), sum(denominator), sum(num_ck), sum(den_ck)
    from valued
    group by kpi_id, kommun_kod, additive, year_of(cohort_date), dimension, dimension_value
)
select kpi_id, kommun_kod, period, period_type, dimension, dimension_value, numerator, denominator,
       num_ck, den_ck
from per_kommun
union all
select kpi_id, 'ALLA', period, period_type, dimension, dimension_value,
       sum(numerator), sum(denominator), sum(num_ck), sum(den_ck)
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
                        grouping(fs_at_start), grouping(long_fs_before), grouping(remitterad),
                        grouping(avstand)) as dimension,
           sex, alder, insats, fodd, fs_at_start, long_fs_before, remitterad, avstand, t,
           sum(d) as d, sum(c) as c, sum(d_ck) as d_ck, sum(n_ck) as n_ck
    from (
        select unnest([kommun_kod, 'ALLA']) as kommun_kod, year_of(cohort_date) as y,
               quarter_of(cohort_date) as q, sex, alder, insats, fodd, fs_at_start,
               long_fs_before, remitterad, avstand, t, d, c, d_ck, n_ck
        from spell_km_input
    )
    group by kommun_kod, t, grouping sets ((y), (q)),
             grouping sets ((), (sex), (alder), (insats), (fodd), (fs_at_start), (long_fs_before),
                            (remitterad), (avstand))
),
curve as (
    select kommun_kod, period, period_type, dimension,
           dimension_value_of(dimension, sex, alder, insats, fodd, fs_at_start,
                              long_fs_before, remitterad, avstand) as dimension_value,
           t, d, c, d_ck, n_ck
    from sets
    where dimension_value is not null
),
at_risk as (
    select *,
           sum(d + c) over g_all as n_total,
           sum(d) over g_all as d_total,
           sum(d_ck) over g_all as d_ck_total,
           sum(n_ck) over g_all as n_ck_total,
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
       any_value(d_ck_total) as num_ck, any_value(n_ck_total) as den_ck,
       min(t) filter (where d > 0 and s_t <= 0.5 + 1e-9) as value
from survival
group by all;

-- a Wilson 95 % interval (metrics.md), clamped to [0, 1]; null unless a share
create or replace temp macro wilson_low(unit, p, n) as
    case when unit = 'share' then greatest(0.0,
        (p + 1.959964 * 1.959964 / (2 * n)
         - 1.959964 * sqrt(p * (1 - p) / n + 1.959964 * 1.959964 / (4 * n * n)))
        / (1 + 1.959964 * 1.959964 / n)) end;
create or replace temp macro wilson_high(unit, p, n) as
    case when unit = 'share' then least(1.0,
        (p + 1.959964 * 1.959964 / (2 * n)
         + 1.959964 * sqrt(p * (1 - p) / n + 1.959964 * 1.959964 / (4 * n * n)))
        / (1 + 1.959964 * 1.959964 / n)) end;

-- every group with a denominator (a count: a count) of at least 1, with the facts the published
-- table needs: the unit, the true sizes of the numerator's and the denominator's units and their
-- cell keys
create or replace temp table kpi_exact as
select s.kpi_id, s.kommun_kod, s.period, s.period_type, s.dimension, s.dimension_value,
       k.unit,
       s.numerator,
       case when k.unit = 'count' then null else s.denominator end as denominator,
       case when k.unit = 'count' then s.numerator else s.numerator / s.denominator end as value,
       s.numerator as n_size, s.denominator as d_size, s.num_ck, s.den_ck
from kpi_sum as s
join marts.kpi as k using (kpi_id)
where s.denominator >= 1
union all
select m.kpi_id, m.kommun_kod, m.period, m.period_type, m.dimension, m.dimension_value,
       'months', m.numerator, m.denominator, m.value,
       m.numerator, m.denominator, m.num_ck, m.den_ck
from kpi_km as m
where m.denominator >= 1;

-- Expected values (metrics.md "Expected values"): each municipality's mature exits at h with the
-- region's rate r(s, Y) of their stratum s (KON, age group at start with 0-15 and OKAND,
-- FODD_UTRIKES, FS_VID_START, LANGVARIGT_FS_FORE) in their exit year Y. Per municipality, YEAR,
-- TOTAL only: under ALLA O = E by construction.
create or replace temp table kpi_expected as
with mature_exit as (
    select kommun_kod, year(exit_date) as y, h, sex,
           case when age_at_start is null then 'OKAND' when age_at_start < 16 then '0-15'
                when age_at_start < 25 then '16-24' when age_at_start < 30 then '25-29'
                when age_at_start < 50 then '30-49' else '50+' end as age_group,
           born_abroad, fs_at_start, long_fs_before,
           case when status in ('ARBETE', 'ARBETE_SUBVENTIONERAT', 'STUDIER') then 1 else 0 end as o
    from (
        select *, 3 as h, mature_3m as mature, status_3m as status from marts.participation_spell
        union all
        select *, 6, mature_6m, status_6m from marts.participation_spell
        union all
        select *, 12, mature_12m, status_12m from marts.participation_spell
    )
    where mature
),
with_rate as (  -- nulls (unknown sex or born_abroad) form a stratum value of their own
    -- decimal: a sum of doubles depends on the order DuckDB's threads add them in, and the same
    -- inbox must give the same figures to the last digit; a decimal sum is exact
    select *, cast(avg(o) over (partition by h, y, sex, age_group, born_abroad, fs_at_start,
                                             long_fs_before) as decimal(38, 18)) as r
    from mature_exit
),
per_kommun as (
    select kommun_kod, h, cast(y as varchar) as period, count(*) as n, sum(o) as o,
           cast(sum(r) as double) as e,
           cast(sum(cast(r * (1 - r) as decimal(38, 18))) as double) as v
    from with_rate
    group by all
)
select 'AME_ARB_STUD_' || h || 'M_FORVANTAT' as kpi_id, kommun_kod, period, e as numerator, n,
       e / n as value, null::double as ci_low, null::double as ci_high
from per_kommun
union all
select 'AME_ARB_STUD_' || h || 'M_AVVIKELSE', kommun_kod, period, o - e, n, (o - e) / n,
       (o - e) / n - 1.959964 * sqrt(v) / n, (o - e) / n + 1.959964 * sqrt(v) / n
from per_kommun;

insert into marts.kpi_value
select kpi_id, kommun_kod, period, period_type, dimension, dimension_value,
       numerator, denominator, value,
       wilson_low(unit, value, denominator), wilson_high(unit, value, denominator)
from kpi_exact  -- unordered: sorting 6 million rows took 5 s at national scale
union all
select kpi_id, kommun_kod, period, 'YEAR', 'TOTAL', 'ALLA', numerator, n, value, ci_low, ci_high
from kpi_expected;
