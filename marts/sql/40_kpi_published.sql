-- marts.kpi_published: what leaves the analysts (metrics.md "Disclosure control"). YEAR rows for
-- every dimension, QUARTER rows for TOTAL only; counts perturbed by the cell key method; every
-- decision on perturbed counts; a row for every value of each dimension's list.

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

-- the grid: every value of each dimension's list for every KPI, municipality and period with a
-- TOTAL row in the exact table, so that a row's presence says nothing
create or replace temp table published_grid as
select t.kpi_id, t.kommun_kod, t.period, t.period_type, b.dimension, b.dimension_value, k.unit
from kpi_exact as t
join marts.kpi as k using (kpi_id)
join codes.breakdown as b
  on (t.period_type = 'YEAR' or b.dimension = 'TOTAL')
 and (k.cohort_basis in ('start', 'exit') or not b.spell_only)
where t.dimension = 'TOTAL';

-- each cell's perturbed denominator p(D) and numerator p(N); a cell without units has p = 0
create or replace temp table published_cell as
select g.*, e.value as exact_value,
       perturbed(e.d_size, e.den_ck) as p_d,
       perturbed(e.n_size, e.num_ck) as p_n
from published_grid as g
left join kpi_exact as e using (kpi_id, kommun_kod, period, period_type, dimension, dimension_value);

-- the rules per kind, except the derived ..._KAND_... shares
create or replace temp macro share_suppressed(num, den) as
    den is null or num is null or den < getvariable('min_cell')
    or (den < 2 * getvariable('min_cell') and (num = 0 or num = den));

create or replace temp table published_row as
select kpi_id, kommun_kod, period, period_type, dimension, dimension_value, unit,
       case when unit = 'count' then p_d
            when kpi_id like 'FS\_MAN\_%' escape '\' then null  -- a mean: the sum is no set
            else least(p_n, p_d) end as numerator,
       case when unit = 'count' then null else p_d end as denominator,
       exact_value,
       case when unit = 'share' then share_suppressed(least(p_n, p_d), p_d)
            else p_d < getvariable('min_cell') end as suppressed
from published_cell
where kpi_id not like 'AME\_ARB\_STUD\_KAND\_%' escape '\';

-- AME_ARB_STUD_KAND_{h}M from its published neighbours: denominator = AME_ARB_STUD_{h}M's
-- published denominator minus AME_OKAND_{h}M's published numerator, numerator = AME_ARB_STUD_{h}M's
-- published numerator capped at it; a suppressed neighbour publishes neither
create or replace temp table published_kand as
with derived as (
    select g.kpi_id, g.kommun_kod, g.period, g.period_type, g.dimension, g.dimension_value, g.unit,
           case when not a.suppressed and not o.suppressed then a.denominator - o.numerator end
               as den,
           a.numerator as a_num
    from published_cell as g
    left join published_row as a
      on a.kpi_id = replace(g.kpi_id, '_KAND_', '_')
     and (a.kommun_kod, a.period, a.period_type, a.dimension, a.dimension_value)
       = (g.kommun_kod, g.period, g.period_type, g.dimension, g.dimension_value)
    left join published_row as o
      on o.kpi_id = replace(g.kpi_id, 'AME_ARB_STUD_KAND_', 'AME_OKAND_')
     and (o.kommun_kod, o.period, o.period_type, o.dimension, o.dimension_value)
       = (g.kommun_kod, g.period, g.period_type, g.dimension, g.dimension_value)
    where g.kpi_id like 'AME\_ARB\_STUD\_KAND\_%' escape '\'
)
select kpi_id, kommun_kod, period, period_type, dimension, dimension_value, unit,
       least(a_num, den) as numerator, den as denominator,
       share_suppressed(least(a_num, den), den) as suppressed
from derived;

insert into marts.kpi_published
with decided as (
    select kpi_id, kommun_kod, period, period_type, dimension, dimension_value, unit,
           numerator, denominator,
           case when unit = 'share' then numerator / denominator
                when unit = 'count' then numerator
                else exact_value end as value,
           suppressed
    from published_row
    union all
    select kpi_id, kommun_kod, period, period_type, dimension, dimension_value, unit,
           numerator, denominator, numerator / denominator, suppressed
    from published_kand
)
select kpi_id, kommun_kod, period, period_type, dimension, dimension_value,
       case when not suppressed then numerator end,
       case when not suppressed then denominator end,
       case when not suppressed then value end,
       case when not suppressed then wilson_low(unit, value, denominator) end,
       case when not suppressed then wilson_high(unit, value, denominator) end,
       suppressed
from decided;

-- the expected values: suppressed when n < 15 (SALSA's smallest unit); else value and interval
-- as defined, numerator and denominator null
insert into marts.kpi_published
select kpi_id, kommun_kod, period, 'YEAR', 'TOTAL', 'ALLA', null, null,
       case when n >= 15 then value end,
       case when n >= 15 then ci_low end,
       case when n >= 15 then ci_high end,
       n < 15
from kpi_expected;
