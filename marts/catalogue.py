"""The KPI catalogue (marts.kpi): what each kpi_id means, in Swedish and English.

Definitions are those of spec/metrics.md; the texts here are what the managers' network reads.
"""

from __future__ import annotations

from dataclasses import dataclass

HORIZONS = (3, 6, 12)
START_HORIZONS = (6, 12)
KINDS = ("count", "share", "mean", "median", "expected", "derived")


@dataclass(frozen=True)
class Kpi:
    kpi_id: str
    title_sv: str
    title_en: str
    description_sv: str
    description_en: str
    unit: str  # count, share, share_difference (a difference of two shares), months
    higher_is_better: bool | None
    cohort_basis: str  # start, exit, year, fs_exit
    # How the published table treats it (docs/method.md, "The exact table and the published
    # table"): count, share, mean, median, expected (from the published share) or derived (from
    # its published neighbours). The SQL, the audit and the pandas reading read this, not names.
    kind: str
    # breakdowns left out of the published table: FS_MAN_FORE_12 by LANGVARIGT_FS_FORE is
    # defined by the very months the mean counts
    published_without: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.kpi_id}: kind {self.kind!r} is not one of {KINDS}")


def _horizon_kpis(h: int) -> list[Kpi]:
    return [
        Kpi(
            f"AME_ARB_STUD_{h}M",
            f"I arbete eller studier {h} månader efter avslut",
            f"In work or studies {h} months after exit",
            f"Andel av avslutade deltagarperioder där deltagaren {h} månader efter avslutet har "
            "arbete (även med anställningsstöd) eller studerar. Alla avslut räknas i nämnaren, "
            "även de med okänd status.",
            f"Share of exited participation spells in work (including subsidised) or studies "
            f"{h} months after exit; all mature exits in the denominator, unknown status included.",
            "share", True, "exit", "share",
        ),
        Kpi(
            f"AME_ARB_STUD_KAND_{h}M",
            f"I arbete eller studier {h} månader efter avslut, av kända",
            f"In work or studies {h} months after exit, of known status",
            f"Som föregående, men bara avslut där status {h} månader efter avslutet är känd.",
            f"As above, over exits whose status {h} months after exit is known.",
            "share", True, "exit", "derived",
        ),
        Kpi(
            f"AME_OSUB_ARB_STUD_{h}M",
            f"I osubventionerat arbete eller studier {h} månader efter avslut",
            f"In unsubsidised work or studies {h} months after exit",
            f"Andel av avslutade deltagarperioder med arbete utan anställningsstöd eller studier "
            f"{h} månader efter avslutet.",
            f"Share of exits in unsubsidised work or studies {h} months after exit.",
            "share", True, "exit", "share",
        ),
        Kpi(
            f"AME_OKAND_{h}M",
            f"Okänd status {h} månader efter avslut",
            f"Unknown status {h} months after exit",
            f"Andel avslut där ingen källa säger vad deltagaren gör {h} månader efter avslutet. "
            "Ett mått på uppföljningens kvalitet: lägre är bättre.",
            f"Share of exits with no information on status {h} months after exit (data quality; "
            "lower is better).",
            "share", False, "exit", "share",
        ),
        Kpi(
            f"AME_EJ_FS_{h}M",
            f"Utan försörjningsstöd {h} månader efter avslut",
            f"Off social assistance {h} months after exit",
            f"Av dem som hade försörjningsstöd när insatsen började: andel utan försörjningsstöd "
            f"månaden {h} månader efter avslutet.",
            f"Of exits on social assistance at start: share without social assistance in the "
            f"month {h} months after exit.",
            "share", True, "exit", "share",
        ),
    ]


def _start_kpis(h: int) -> list[Kpi]:
    return [
        Kpi(
            f"AME_ARB_STUD_START_{h}M",
            f"I arbete eller studier {h} månader efter start",
            f"In work or studies {h} months after start",
            f"Andel av deltagarperioderna där deltagaren {h} månader efter starten har arbete "
            "(även med anställningsstöd) eller studerar, oavsett om perioden har avslutats. Den "
            "som fortfarande är i insatsen räknas som i insats. Alla perioder som startade minst "
            f"{h} månader före mätdagen räknas i nämnaren.",
            f"Share of participation spells in work (including subsidised) or studies {h} months "
            "after the start, whether or not the spell has ended (a participant still in it is in "
            f"an intervention); every spell started at least {h} months before as_of counts.",
            "share", True, "start", "share",
        ),
        Kpi(
            f"AME_EJ_FS_START_{h}M",
            f"Utan försörjningsstöd {h} månader efter start",
            f"Off social assistance {h} months after start",
            "Av dem som hade försörjningsstöd när deltagarperioden började: andel utan "
            f"försörjningsstöd månaden {h} månader efter starten.",
            f"Of spells on social assistance at start: share without social assistance in the "
            f"month {h} months after the start.",
            "share", True, "start", "share",
        ),
    ]


def _expected_kpis(h: int) -> list[Kpi]:
    return [
        Kpi(
            f"AME_ARB_STUD_{h}M_FORVANTAT",
            f"Förväntad andel i arbete eller studier {h} månader efter avslut",
            f"Expected share in work or studies {h} months after exit",
            f"Den andel i arbete eller studier {h} månader efter avslut som kommunen skulle ha "
            "haft om dess egna deltagare hade haft hela regionens utfall för personer som liknar "
            "dem (kön, ålder, född utomlands, försörjningsstöd vid start och långvarigt "
            "försörjningsstöd före). Visas när kommunen har minst 15 avslut (räknat på det "
            "förändrade antalet).",
            f"The share in work or studies {h} months after exit the municipality would have had "
            "if its own participants had had the whole region's outcomes for people like them "
            "(sex, age, born abroad, social assistance at start, long-term assistance before); "
            "indirect standardisation. Shown from 15 exits (the perturbed count).",
            "share", True, "exit", "expected",
        ),
        Kpi(
            f"AME_ARB_STUD_{h}M_AVVIKELSE",
            f"Skillnad mot förväntat, arbete eller studier {h} månader efter avslut",
            f"Difference from expected, work or studies {h} months after exit",
            f"Faktisk minus förväntad andel i arbete eller studier {h} månader efter avslut, i "
            "procentenheter: positivt är bättre än förväntat. Säger inget om skillnader som "
            "förklaras av annat än de egenskaper som räknas med.",
            f"Actual minus expected share in work or studies {h} months after exit (positive is "
            "better than expected); it cannot allow for differences other than the "
            "characteristics it counts.",
            "share_difference", True, "exit", "expected",
        ),
    ]


CATALOGUE: tuple[Kpi, ...] = (
    Kpi("AME_STARTADE", "Påbörjade deltagarperioder", "Participation spells started",
        "Antal deltagarperioder som startade under perioden. En deltagarperiod är en persons "
        "sammanhängande insatser i en kommun (uppehåll på högst 30 dagar).",
        "Number of participation spells started in the period (a person's insatser in one "
        "municipality with gaps of at most 30 days).",
        "count", None, "start", "count"),
    Kpi("AME_AVSLUTADE", "Avslutade deltagarperioder", "Participation spells exited",
        "Antal deltagarperioder som avslutades under perioden.",
        "Number of participation spells that ended in the period.",
        "count", None, "exit", "count"),
    Kpi("AME_AVSLUT_ARB_STUD", "Avslut till arbete eller studier", "Exits to work or studies",
        "Andel avslutade deltagarperioder där avslutsorsaken är arbete eller studier "
        "(resultat vid avslut).",
        "Share of exits whose end reason is work or studies (result at exit).",
        "share", True, "exit", "share"),
    *[k for h in HORIZONS for k in _horizon_kpis(h)],
    *[k for h in START_HORIZONS for k in _start_kpis(h)],
    Kpi("AME_ATERKOMST_12M", "Återkomst till AME inom ett år", "Return to the AME within a year",
        "Andel avslutade deltagarperioder där samma person börjar en ny deltagarperiod, i "
        "någon av kommunerna, inom 12 månader efter avslutet. Lägre är bättre.",
        "Share of exited spells after which the same person starts a new spell, in any "
        "municipality of the run, within 12 months of the exit (lower is better).",
        "share", False, "exit", "share"),
    *[k for h in HORIZONS for k in _expected_kpis(h)],
    Kpi("FS_MAN_FORE_12", "Månader med försörjningsstöd året före start",
        "Months on social assistance in the year before start",
        "Genomsnittligt antal månader med försörjningsstöd under de 12 månaderna före "
        "deltagarperiodens start.",
        "Mean number of months on social assistance in the 12 months before the spell started.",
        "months", None, "start", "mean", published_without=("LANGVARIGT_FS_FORE",)),
    Kpi("FS_MAN_EFTER_12", "Månader med försörjningsstöd året efter avslut",
        "Months on social assistance in the year after exit",
        "Genomsnittligt antal månader med försörjningsstöd under de 12 månaderna efter avslutet.",
        "Mean number of months on social assistance in the 12 months after exit.",
        "months", False, "exit", "mean"),
    Kpi("FS_MEDIAN_MAN", "Mediantid med försörjningsstöd från start",
        "Median time on social assistance from start",
        "Mediantid i månader från deltagarperiodens start till att försörjningsstödet upphör "
        "(tre månader i följd utan stöd), skattad med Kaplan-Meier.",
        "Kaplan-Meier median of months from spell start until social assistance ends (three "
        "months in a row without it).",
        "months", False, "start", "median"),
    Kpi("FS_LANGVARIGT", "Långvarigt försörjningsstöd", "Long-term social assistance",
        "Andel vuxna biståndsmottagare under året som hade försörjningsstöd 10-12 månader av "
        "året (Socialstyrelsens definition). Alla mottagare, inte bara AME-deltagare.",
        "Share of adult recipients in the year with assistance in 10-12 of its months "
        "(Socialstyrelsen); all recipients, not only AME participants.",
        "share", False, "year", "share"),
    Kpi("FS_MYCKET_LANGVARIGT", "Mycket långvarigt försörjningsstöd",
        "Very long-term social assistance",
        "Andel vuxna biståndsmottagare under året som hade försörjningsstöd minst 27 av de 36 "
        "månaderna som slutar i december.",
        "Share of adult recipients in the year with assistance in at least 27 of the 36 months "
        "ending in December.",
        "share", False, "year", "share"),
    Kpi("FS_ATERKOMST_12M", "Återkomst till försörjningsstöd inom ett år",
        "Return to social assistance within a year",
        "Andel av dem som lämnade försörjningsstödet som fick stöd igen 3-11 månader senare.",
        "Share of social-assistance exits followed by assistance again 3 to 11 months later.",
        "share", False, "fs_exit", "share"),
    Kpi("PROG_FORBATTRAD", "Förbättrad progression", "Improved progression",
        "Andel avslut med minst två SKAPA-bedömningar där medelvärdet vid sista bedömningen är "
        "högre än vid den första.",
        "Share of exits with at least two progression assessments whose mean score at the last "
        "is higher than at the first.",
        "share", True, "exit", "share"),
)


def rows() -> list[tuple]:
    return [
        (k.kpi_id, k.title_sv, k.title_en, k.description_sv, k.description_en, k.unit,
         k.higher_is_better, k.cohort_basis, k.kind, list(k.published_without))
        for k in CATALOGUE
    ]
