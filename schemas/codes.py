"""The code lists of docs/method.md ("Code lists"), in the order it lists them (the order
matters: status ties are broken by it). Loaded into the DuckDB schema `codes` by the build, with
the labels of schemas/code_labels.py, and used to validate configuration."""

INSATS_TYP = (
    "KARTLAGGNING",
    "VAGLEDNING",
    "ARBETSTRANING",
    "PRAKTIK",
    "SUBVENTIONERAD_ANSTALLNING",
    "UTBILDNING",
    "STODJAT_ARBETE",
    "SOCIAL_REHAB",
    "OVRIGT",
)

STATUS = (
    "ARBETE",
    "ARBETE_SUBVENTIONERAT",
    "STUDIER",
    "ARBETSSOKANDE",
    "I_INSATS",
    "EJ_TILLGANGLIG",
    "OVRIGT",
    "OKAND",
)
STATUS_WORK_OR_STUDIES = ("ARBETE", "ARBETE_SUBVENTIONERAT", "STUDIER")

END_REASON = (
    "ARBETE",
    "STUDIER",
    "ANNAN_INSATS",
    "OHALSA",
    "FLYTT",
    "AVBROTT",
    "PLANERAT",
    "OVRIGT",
    "OKAND",
)

HINDER = (
    "ARBETSLOS_UTAN_ERSATTNING",
    "ARBETSLOS_OTILLRACKLIG",
    "ARBETSLOS_VANTAR",
    "ARBETSLOS_ETABLERING",
    "SJUK_INTYG",
    "SJUK_ERSATTNING",
    "SOCIALA_SKAL",
    "FORALDRALEDIG",
    "OTILLRACKLIG_INKOMST",
    "UTAN_HINDER",
)

DIMENSION = (
    "MOTIVATION",
    "HALSA",
    "SOCIAL_FORMAGA",
    "STRUKTUR",
    "SPRAK",
    "ARBETSFORMAGA",
    "SAMARBETE",
    "OVRIGT",
)

REFERRED_FROM = ("IFO", "AF", "FK", "EGEN", "OVRIGT")
# distance to the labour market at entry (the colour categories green / yellow / red)
DISTANCE = ("NARA", "OSAKER", "LANGT")
BISTAND_CLASS = ("FS", "OVRIGT")  # försörjningsstöd, or livsföring i övrigt
RATER = ("SELF", "STAFF")
ROLE = ("SOKANDE", "MEDSOKANDE", "BARN")
YES_NO = ("JA", "NEJ")

# docs/method.md, "Breakdowns": dimension -> (its values in order, whether only spell-based KPIs have it).
# The published table has a row for every value (a value with no units is a suppressed row).
BREAKDOWNS: dict[str, tuple[tuple[str, ...], bool]] = {
    "TOTAL": (("ALLA",), False),
    "KON": (("K", "M"), False),
    "ALDER": (("16-24", "25-29", "30-49", "50+"), False),
    "INSATS": (INSATS_TYP, True),
    "FODD_UTRIKES": (("JA", "NEJ", "OKAND"), False),
    "FS_VID_START": (("JA", "NEJ", "OKAND"), True),
    "LANGVARIGT_FS_FORE": (("JA", "NEJ", "OKAND"), True),
    "REMITTERAD": ((*REFERRED_FROM, "OKAND"), True),
    "AVSTAND": ((*DISTANCE, "OKAND"), True),
}

# field name in configuration -> the code list its values must come from
CODE_LISTS: dict[str, tuple[str, ...]] = {
    "insats_typ": INSATS_TYP,
    "status": STATUS,
    "end_reason": END_REASON,
    "hinder": HINDER,
    "dimension": DIMENSION,
    "referred_from": REFERRED_FROM,
    "distance": DISTANCE,
    "bistand_class": BISTAND_CLASS,
    "rater": RATER,
    "role": ROLE,
    "born_abroad": YES_NO,
}
