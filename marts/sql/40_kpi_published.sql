-- marts.kpi_published: what leaves the analysts (metrics.md "Disclosure control", third
-- revision). YEAR rows for every dimension, QUARTER rows for TOTAL only; counts perturbed by the
-- cell key method; no published number is an exact function of a true size: every decision and
-- every number is taken from perturbed counts p(S) and from rounded magnitudes, never from |S|.

-- d(S): the smallest k in -8..8 with c(S) < T(k), T(k) = round(2^32 * Phi((k + 0.5) / 2))
create or replace temp macro cell_noise(c) as
    case when c < 379749 then -8 when c < 2478304 then -7 when c < 12797986 then -6
         when c < 52503710 then -5 when c < 172052769 then -4 when c < 453762323 then -3
         when c < 973357067 then -2 when c < 1723543207 then -1 when c < 2571424089 then 0
         when c < 3321610229 then 1 when c < 3841204973 then 2 when c < 4122914527 then 3
         when c < 4242463586 then 4 when c < 4282169310 then 5 when c < 4292488992 then 6
         when c < 4294587547 then 7 else 8 end;

-- p(S) from the set's size and its record keys' sum (the cell key is that sum modulo 2^32)
create or replace temp macro perturbed(size, key_sum) as
    case when coalesce(size, 0) = 0 then 0
         else greatest(0, size + cell_noise(key_sum % 4294967296)) end;

-- g = 2 * min_cell + 8: a perturbed count of at least g guarantees 2 * min_cell true units, the
-- least a value describing a group's units (a mean, a median) is published from
create or replace temp macro describe_threshold() as 2 * getvariable('min_cell') + 8;

-- half up to `places` decimals of the exact ratio num / den of two whole numbers, decided in
-- integer arithmetic (a double of 2.25 may land just below the half and round down)
create or replace temp macro round_ratio_half_up(num, den, places) as
    ((cast(num as hugeint) * (2 * 10 ^ places)::hugeint + cast(den as hugeint))
       // (2 * cast(den as hugeint))) / (10 ^ places);

-- The noise-aware interval of a published share x / m: Wilson with the effective size
-- m / deff, deff = 1 + sigma^2 (1 + q^2) / (m q (1 - q)), q = (x + 2) / (m + 4), sigma^2 = 4.083
-- (the variance of the noise d): a reader must allow for the noise as well as for chance
create or replace temp macro noise_deff(x, m) as
    1 + 4.083 * (1 + ((x + 2) / (m + 4)) ^ 2)
        / (m * ((x + 2) / (m + 4)) * (1 - (x + 2) / (m + 4)));
create or replace temp macro noise_wilson_low(x, m) as
    wilson_low('share', x / m, m / noise_deff(x, m));
create or replace temp macro noise_wilson_high(x, m) as
    wilson_high('share', x / m, m / noise_deff(x, m));

-- the kind of each KPI the rules below tell apart: the catalogue's (marts/catalogue.py)
create or replace temp table published_kind as
select kpi_id, unit, kind from marts.kpi;

-- the grid: every value of each dimension's list for every KPI, municipality and period with a
-- TOTAL row in the exact table, so that a row's presence says nothing; without the breakdowns the
-- catalogue leaves out (FS_MAN_FORE_12 by LANGVARIGT_FS_FORE: defined by the months it counts)
create or replace temp table published_grid as
select t.kpi_id, t.kommun_kod, t.period, t.period_type, b.dimension, b.dimension_value, k.kind
from kpi_exact as t
join published_kind as k using (kpi_id)
join marts.kpi as c using (kpi_id)
join codes.breakdown as b
  on (t.period_type = 'YEAR' or b.dimension = 'TOTAL')
 and (c.cohort_basis in ('start', 'exit') or not b.spell_only)
 and not list_contains(c.published_without, b.dimension)
where t.dimension = 'TOTAL';

-- each cell's perturbed denominator p(D) and numerator p(N) (a cell without units: p = 0), and
-- for a mean its exact sum and size, which only its rounded ratio leaves
create or replace temp table published_cell as
select g.*, e.value as exact_value, e.n_size, e.d_size,
       perturbed(e.d_size, e.den_ck) as p_d,
       perturbed(e.n_size, e.num_ck) as p_n
from published_grid as g
left join kpi_exact as e using (kpi_id, kommun_kod, period, period_type, dimension, dimension_value);

-- a share from its published numerator and denominator: suppressed below min_cell, and below
-- 2 * min_cell when everyone or no one of the group is counted
create or replace temp macro share_suppressed(num, den) as
    den is null or num is null or den < getvariable('min_cell')
    or (den < 2 * getvariable('min_cell') and (num = 0 or num = den));

-- counts, shares, means and medians, each by its rule
create or replace temp table published_row as
select kpi_id, kommun_kod, period, period_type, dimension, dimension_value, kind,
       case kind when 'count' then p_d
                 when 'mean' then null  -- a sum of months is no set of units
                 else least(p_n, p_d) end as numerator,
       case when kind = 'count' then null else p_d end as denominator,
       case kind when 'count' then p_d
                 when 'share' then least(p_n, p_d) / p_d
                 when 'mean' then round_ratio_half_up(n_size, d_size, 1)
                 when 'median' then exact_value end as value,
       case kind when 'count' then p_d < getvariable('min_cell')
                 when 'share' then share_suppressed(least(p_n, p_d), p_d)
                 else p_d < describe_threshold() end as suppressed
from published_cell
where kind in ('count', 'share', 'mean', 'median');

-- AME_ARB_STUD_KAND_{h}M from its published neighbours: denominator = AME_ARB_STUD_{h}M's
-- published denominator minus AME_OKAND_{h}M's published numerator, numerator = AME_ARB_STUD_{h}M's
-- published numerator capped at it; a suppressed neighbour publishes nothing to derive from
create or replace temp table published_derived as
with derived as (
    select g.kpi_id, g.kommun_kod, g.period, g.period_type, g.dimension, g.dimension_value, g.kind,
           case when not a.suppressed and not o.suppressed then a.denominator - o.numerator end
               as den,
           a.numerator as a_num
    from published_grid as g
    left join published_row as a
      on a.kpi_id = replace(g.kpi_id, '_KAND_', '_')
     and (a.kommun_kod, a.period, a.period_type, a.dimension, a.dimension_value)
       = (g.kommun_kod, g.period, g.period_type, g.dimension, g.dimension_value)
    left join published_row as o
      on o.kpi_id = replace(g.kpi_id, 'AME_ARB_STUD_KAND_', 'AME_OKAND_')
     and (o.kommun_kod, o.period, o.period_type, o.dimension, o.dimension_value)
       = (g.kommun_kod, g.period, g.period_type, g.dimension, g.dimension_value)
    where g.kind = 'derived'
)
select kpi_id, kommun_kod, period, period_type, dimension, dimension_value, kind,
       least(a_num, den) as numerator, den as denominator,
       least(a_num, den) / den as value,
       share_suppressed(least(a_num, den), den) as suppressed
from derived;

create or replace temp table published_main as
select * from published_row
union all
select * from published_derived;

insert into marts.kpi_published
select kpi_id, kommun_kod, period, period_type, dimension, dimension_value,
       case when not suppressed then numerator end,
       case when not suppressed then denominator end,
       case when not suppressed then value end,
       case when not suppressed and kind in ('share', 'derived')
            then noise_wilson_low(numerator, denominator) end,
       case when not suppressed and kind in ('share', 'derived')
            then noise_wilson_high(numerator, denominator) end,
       suppressed
from published_main;

-- The expected values read the published AME_ARB_STUD_{h}M row of their municipality, year and
-- TOTAL: suppressed with it or below a published denominator of 15 (SALSA's smallest unit);
-- else _FORVANTAT = E / n rounded half up to three decimals and _AVVIKELSE = the published share
-- minus it, with the share's interval shifted alike, so that expected, actual and difference add
-- up on a page and none of them reveals the exact share. E / n is a sum of decimals (exact
-- to about 1e-16); the rounding allows 1e-12 for that, so that a true x.xxx5 rounds up.
insert into marts.kpi_published
with actual as (
    select e.kpi_id, e.kommun_kod, e.period, e.value as e_over_n,
           s.suppressed or s.denominator < 15 as suppressed,
           s.value as s, s.ci_low as s_low, s.ci_high as s_high
    from kpi_expected as e
    join marts.kpi_published as s
      on s.kpi_id = regexp_replace(e.kpi_id, '_(FORVANTAT|AVVIKELSE)$', '')
     and (s.kommun_kod, s.period, s.period_type, s.dimension, s.dimension_value)
       = (e.kommun_kod, e.period, 'YEAR', 'TOTAL', 'ALLA')
    where e.kpi_id like '%\_FORVANTAT' escape '\'
),
rounded as (
    select *, floor(e_over_n * 1000 + 0.5 + 1e-12) / 1000 as f
    from actual
)
select kpi_id, kommun_kod, period, 'YEAR', 'TOTAL', 'ALLA', null, null,
       case when not suppressed then f end, null, null, suppressed
from rounded
union all
select replace(kpi_id, '_FORVANTAT', '_AVVIKELSE'), kommun_kod, period, 'YEAR', 'TOTAL', 'ALLA',
       null, null,
       case when not suppressed then s - f end,
       case when not suppressed then s_low - f end,
       case when not suppressed then s_high - f end,
       suppressed
from rounded;
