-- marts.participation_spell: one row per participation spell (metrics.md "Participation spells").

-- rule 1's order: start, end (ongoing last), insats_typ, episode_id: episodes with the same dates
-- are ordered by what they are, not by how a source or an implementation numbers them.
-- rules 1-2: an episode joins the spell when it starts at most 30 days after the spell's latest
-- end so far (or the spell is still ongoing)
create or replace temp table spell_episode as
with ordered as (
    select *,
           max(coalesce(end_date, date '9999-12-31')) over (
               partition by pid, kommun_kod
               order by start_date, end_date nulls last, insats_typ, episode_id
               rows between unbounded preceding and 1 preceding) as prev_end,
           row_number() over (
               partition by pid, kommun_kod
               order by start_date, end_date nulls last, insats_typ, episode_id) as seq
    from asof_episode
),
flagged as (
    select *,
           case when prev_end is null or start_date > prev_end + 30 then 1 else 0 end as new_spell,
           datediff('day', start_date, coalesce(end_date, getvariable('as_of'))) + 1 as days
    from ordered
)
select *,
       sum(new_spell) over (partition by pid, kommun_kod order by seq
                            rows unbounded preceding) as spell_no
from flagged;

create or replace temp table spell_base as
with agg as (
    select pid, kommun_kod, spell_no,
           min(start_date) as start_date,
           case when count(*) = count(end_date) then max(end_date) end as exit_date,
           -- who referred and the distance at entry: the first episode (rule 1's order) that says
           arg_min(referred_from, seq) filter (where referred_from is not null) as referred_from,
           arg_min(distance, seq) filter (where distance is not null) as distance
    from spell_episode
    group by pid, kommun_kod, spell_no
),
-- rule 4: the type of the longest episode; ties: later start, then the code sorting first
spell_type as (
    select pid, kommun_kod, spell_no, insats_typ
    from spell_episode
    qualify row_number() over (partition by pid, kommun_kod, spell_no
                               order by days desc, start_date desc, insats_typ asc nulls last) = 1
),
-- rule 5: the reason of the episode that ended last; ties: the longer, then rule 1's order
spell_reason as (
    select pid, kommun_kod, spell_no, end_reason
    from spell_episode
    qualify row_number() over (partition by pid, kommun_kod, spell_no
                               order by end_date desc nulls first, days desc, seq) = 1
)
select substr(sha256(concat_ws('|', p.person_key, a.kommun_kod, a.start_date)), 1, 16) as spell_id,
       a.pid, p.person_key, a.kommun_kod, a.start_date, a.exit_date, t.insats_typ,
       case when a.exit_date is not null then r.end_reason end as end_reason,
       cast(floor((mi(a.start_date) - (p.birth_year * 12 + p.birth_month - 1)) / 12) as integer)
           as age_at_start,
       p.sex, p.born_abroad, a.referred_from, a.distance,
       mi(a.start_date) as s_m,
       mi(a.exit_date) as e_m
from agg as a
join spell_type as t using (pid, kommun_kod, spell_no)
join spell_reason as r using (pid, kommun_kod, spell_no)
join person_id as p on p.pid = a.pid;

-- FS around the spell: on FS counts in any municipality; coverage is the spell's own
create or replace temp table spell_fs as
with window_months as (
    select s.spell_id,
           count(*) filter (where f.m = s.s_m) as fs_m0,
           count(*) filter (where f.m = s.s_m - 1) as fs_m1,
           count(*) filter (where f.m between s.s_m - 12 and s.s_m - 1) as fs_before,
           count(*) filter (where f.m between s.e_m + 1 and s.e_m + 12) as fs_after
    from spell_base as s
    left join asof_fs_on as f
      on f.pid = s.pid and f.m between s.s_m - 12 and greatest(s.s_m, coalesce(s.e_m + 12, s.s_m))
    group by s.spell_id
),
window_cover as (
    select s.spell_id,
           count(*) filter (where c.m = s.s_m) as cov_m0,
           count(*) filter (where c.m = s.s_m - 1) as cov_m1,
           count(*) filter (where c.m between s.s_m - 12 and s.s_m - 1) as cov_before,
           count(*) filter (where c.m between s.e_m + 1 and s.e_m + 12) as cov_after
    from spell_base as s
    left join asof_coverage as c
      on c.kommun_kod = s.kommun_kod and c.m between s.s_m - 12 and greatest(s.s_m, coalesce(s.e_m + 12, s.s_m))
    group by s.spell_id
)
select w.spell_id,
       case when fs_m0 + fs_m1 > 0 then 'JA'
            when cov_m0 = 1 and cov_m1 = 1 then 'NEJ'
            else 'OKAND' end as fs_at_start,
       case when fs_before >= 10 then 'JA'
            when cov_before = 12 then 'NEJ'
            else 'OKAND' end as long_fs_before,
       case when cov_before = 12 then fs_before end as fs_months_before_12,
       case when cov_after = 12 then fs_after end as fs_months_after_12,
       fs_m0 = 1 and cov_m0 = 1 as km_eligible
from window_months as w
join window_cover as c using (spell_id);

-- status and FS at 3, 6 and 12 months after exit ("Status at a horizon") and at 6 and 12 months
-- after the start of every spell ("Status after start"): the same rules at another date r_h
create or replace temp table spell_horizon as
select s.spell_id, s.pid, s.kommun_kod, 'exit' as basis, h.h,
       cast(s.exit_date + to_months(h.h) as date) as r_h
from spell_base as s
cross join (values (3), (6), (12)) as h(h)
where s.exit_date is not null
union all
select s.spell_id, s.pid, s.kommun_kod, 'start', h.h,
       cast(s.start_date + to_months(h.h) as date)
from spell_base as s
cross join (values (6), (12)) as h(h);

create or replace temp table spell_status as
with observed as (
    select r.spell_id, r.basis, r.h, o.status
    from spell_horizon as r
    join asof_observation as o
      on o.pid = r.pid and o.observed_on between r.r_h - 45 and r.r_h + 45
    qualify row_number() over (
        partition by r.spell_id, r.basis, r.h
        order by abs(datediff('day', r.r_h, o.observed_on)), (o.basis = 'FOLLOWUP') desc,
                 o.observed_on desc, o.status_rank) = 1
),
in_insats as (
    select distinct r.spell_id, r.basis, r.h
    from spell_horizon as r
    join asof_episode as e
      on e.pid = r.pid
     and e.start_date <= r.r_h and r.r_h <= coalesce(e.end_date, getvariable('as_of'))
)
select r.spell_id, r.basis, r.h, r.r_h <= getvariable('as_of') as mature,
       case when r.r_h > getvariable('as_of') then null
            when o.status is not null then o.status
            when i.spell_id is not null then 'I_INSATS'
            else 'OKAND' end as status,
       case when r.r_h <= getvariable('as_of') and c.m is not null then f.m is null end as off_fs
from spell_horizon as r
left join observed as o using (spell_id, basis, h)
left join in_insats as i using (spell_id, basis, h)
left join asof_coverage as c on c.kommun_kod = r.kommun_kod and c.m = mi(r.r_h)
left join asof_fs_on as f on f.pid = r.pid and f.m = mi(r.r_h);

-- time on FS from month(start_date) = s: the first month m >= s with m, m+1, m+2 covered (own
-- municipality) and without FS anywhere ends it; otherwise censored after the last covered FS
-- month. Such an m lies in a gap after an FS month f (next FS month g, or none): the first month
-- of [f + 1, g - 3] whose three months are covered.
create or replace temp table spell_km as
with km as (
    select s.spell_id, s.pid, s.kommun_kod, s.s_m
    from spell_base as s join spell_fs as f using (spell_id)
    where f.km_eligible
),
gap as (
    select pid, m as f, lead(m) over (partition by pid order by m) as g
    from asof_fs_on
    where pid in (select pid from km)
),
cover3 as (  -- months m whose municipality covers m, m+1 and m+2
    select c.kommun_kod, c.m
    from asof_coverage as c
    join asof_coverage as c1 on c1.kommun_kod = c.kommun_kod and c1.m = c.m + 1
    join asof_coverage as c2 on c2.kommun_kod = c.kommun_kod and c2.m = c.m + 2
),
spell_gap as (  -- gaps after s long enough to hold three quiet months
    select k.spell_id, k.kommun_kod, gap.f, gap.g
    from km as k
    join gap on gap.pid = k.pid and gap.f >= k.s_m
                and (gap.g is null or gap.g >= gap.f + 4)
),
candidate as (  -- per spell and gap: the first fully covered month after f, if it is in the gap
    -- (an asof join finds the smallest c.m > f; a later one would not be earlier in the gap)
    select sg.spell_id, c.m
    from spell_gap as sg
    asof join cover3 as c on c.kommun_kod = sg.kommun_kod and c.m > sg.f
    where sg.g is null or c.m <= sg.g - 3
),
first_exit as (
    select spell_id, min(m) as m from candidate group by spell_id
),
last_fs as (
    select k.spell_id, max(f.m) as m
    from km as k
    join asof_fs_on as f on f.pid = k.pid and f.m >= k.s_m
    join asof_coverage as c on c.kommun_kod = k.kommun_kod and c.m = f.m
    group by k.spell_id
)
select k.spell_id,
       coalesce(x.m - k.s_m, l.m - k.s_m + 1) as fs_km_months,
       x.m is not null as fs_km_exit
from km as k
left join first_exit as x using (spell_id)
left join last_fs as l using (spell_id);

-- returns: another spell of the person, in any municipality, starting after the exit and at most
-- 12 months later ("Returns to the AME"); null while add_months(exit_date, 12) is after as_of
create or replace temp table spell_return as
select s.spell_id,
       count(n.pid) > 0 as returned_12m
from spell_base as s
left join spell_base as n
  on n.pid = s.pid and n.start_date > s.exit_date
 and n.start_date <= cast(s.exit_date + to_months(12) as date)
where s.exit_date is not null
  and cast(s.exit_date + to_months(12) as date) <= getvariable('as_of')
group by s.spell_id;

-- progression: one rater's first and last occasion within [start - 30 days, exit + 30 days]
create or replace temp table spell_prog as
with occasion as (
    -- summed as decimals: a sum of doubles depends on the order DuckDB's threads add them in,
    -- and the same inbox must give the same prog_delta to the last digit
    select p.pid, a.kommun_kod, a.rater, a.assessed_on,
           cast(sum(cast(a.score_norm as decimal(38, 18))) as double) / count(*) as mean_norm
    from core.progression_assessment as a
    join person_id as p using (person_key)
    where a.assessed_on <= getvariable('as_of')
    group by pid, kommun_kod, rater, assessed_on
),
in_window as (
    select s.spell_id, o.rater, o.assessed_on, o.mean_norm,
           count(*) over (partition by s.spell_id, o.rater) as n_rater
    from spell_base as s
    join occasion as o
      on o.pid = s.pid and o.kommun_kod = s.kommun_kod
     and o.assessed_on between s.start_date - 30 and s.exit_date + 30
    where s.exit_date is not null
),
chosen as (
    select spell_id, case when max(n_rater) filter (where rater = 'STAFF') >= 2 then 'STAFF'
                          when max(n_rater) filter (where rater = 'SELF') >= 2 then 'SELF' end as rater
    from in_window group by spell_id
)
select w.spell_id,
       arg_max(w.mean_norm, w.assessed_on) - arg_min(w.mean_norm, w.assessed_on) as prog_delta
from in_window as w
join chosen as c on c.spell_id = w.spell_id and c.rater = w.rater
group by w.spell_id;

insert into marts.participation_spell
select s.spell_id, s.person_key, s.kommun_kod, s.start_date, s.exit_date, s.insats_typ,
       s.end_reason, s.age_at_start, s.sex, s.born_abroad,
       f.fs_at_start, f.long_fs_before, f.fs_months_before_12, f.fs_months_after_12,
       s.referred_from, s.distance,
       coalesce(h3.mature, false), h3.status, h3.off_fs,
       coalesce(h6.mature, false), h6.status, h6.off_fs,
       coalesce(h12.mature, false), h12.status, h12.off_fs,
       t6.mature, t6.status, t6.off_fs,
       t12.mature, t12.status, t12.off_fs,
       r.returned_12m,
       p.prog_delta, k.fs_km_months, k.fs_km_exit
from spell_base as s
join spell_fs as f using (spell_id)
left join spell_status as h3 on h3.spell_id = s.spell_id and h3.basis = 'exit' and h3.h = 3
left join spell_status as h6 on h6.spell_id = s.spell_id and h6.basis = 'exit' and h6.h = 6
left join spell_status as h12 on h12.spell_id = s.spell_id and h12.basis = 'exit' and h12.h = 12
join spell_status as t6 on t6.spell_id = s.spell_id and t6.basis = 'start' and t6.h = 6
join spell_status as t12 on t12.spell_id = s.spell_id and t12.basis = 'start' and t12.h = 12
left join spell_return as r on r.spell_id = s.spell_id
left join spell_prog as p on p.spell_id = s.spell_id
left join spell_km as k on k.spell_id = s.spell_id;
