"""The analysts' exact KPI table, named in one place outside the marts: everything meant for others
reads marts.kpi_published, and the modules that write it (utfall.report, utfall.export) must never
name this one (a static test checks). Only `utfall export --format kolada --exact` reads it, for
the analysts' own checks; what it writes must not leave them."""

TABLE = "marts.kpi_value"
