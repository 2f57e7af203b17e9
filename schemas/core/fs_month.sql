-- core.fs_month for the municipalities in the variable core_kommuner (utfall.transform.build_core
-- runs it per group of municipalities: every join is within one municipality, and a national
-- payment table at once needs twice the time and memory).

-- core.fs_month: every adult of a household gets the household's net sums for the month. A
-- household's members in a month are the people on its lines that month, plus those a
-- household-member file names (membership then holds for every month of the household).
insert into core.fs_month
with household_month as (
    select kommun_kod, household_ref, month,
           coalesce(sum(amount) filter (where bistand_class = 'FS'), 0) as fs_amount,
           coalesce(sum(amount) filter (where bistand_class = 'OVRIGT'), 0) as other_amount,
           mode(hinder) filter (where hinder is not null) as hinder
    from staging.procapita_fs_line
    where list_contains(getvariable('core_kommuner'), kommun_kod)
    group by kommun_kod, household_ref, month
),
members as (
    select distinct kommun_kod, household_ref, month, person_key, birth_year, birth_month
    from staging.procapita_fs_line
    where list_contains(getvariable('core_kommuner'), kommun_kod)
    union
    select distinct h.kommun_kod, h.household_ref, h.month, m.person_key, m.birth_year, m.birth_month
    from household_month as h
    join (select * from staging.procapita_household_member
          where list_contains(getvariable('core_kommuner'), kommun_kod)) as m
      on m.kommun_kod = h.kommun_kod and m.household_ref = h.household_ref
    where coalesce(m.role, 'MEDSOKANDE') <> 'BARN'
)
select m.person_key, h.kommun_kod, h.month,
       sum(h.fs_amount), sum(h.other_amount), min(h.hinder)
from household_month as h
join members as m
  on m.kommun_kod = h.kommun_kod and m.household_ref = h.household_ref and m.month = h.month
where (year(h.month) * 12 + month(h.month)) - (m.birth_year * 12 + m.birth_month) >= 18 * 12
group by m.person_key, h.kommun_kod, h.month;
