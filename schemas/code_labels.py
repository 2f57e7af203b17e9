"""Swedish and English labels of every code of schemas/codes.py and of every breakdown value, for
the `codes.*` tables a researcher reads beside the data (docs/method.md, "Code lists").

Kept apart from schemas/codes.py on purpose: that file is part of the adapters' version (a change
to it makes the next run read every file again), and a label changes no row the adapters write.
"""

from __future__ import annotations

from utfall.schemas import codes

Labels = dict[str, tuple[str, str]]  # code -> (label_sv, label_en)

INSATS_TYP: Labels = {
    "KARTLAGGNING": ("Kartläggning", "Assessment of needs and work capacity"),
    "VAGLEDNING": ("Vägledning och jobbcoachning", "Guidance and job coaching"),
    "ARBETSTRANING": ("Arbetsträning", "Work training"),
    "PRAKTIK": ("Praktik", "Work placement"),
    "SUBVENTIONERAD_ANSTALLNING": ("Subventionerad anställning", "Subsidised employment"),
    "UTBILDNING": ("Utbildning", "Education and training"),
    "STODJAT_ARBETE": ("Supported employment (SE, IPS)", "Supported employment (SE, IPS)"),
    "SOCIAL_REHAB": ("Social eller medicinsk rehabilitering", "Social or medical rehabilitation"),
    "OVRIGT": ("Övrig insats", "Other intervention"),
}

STATUS: Labels = {
    "ARBETE": ("Arbete utan anställningsstöd", "Unsubsidised work"),
    "ARBETE_SUBVENTIONERAT": ("Arbete med anställningsstöd", "Subsidised employment"),
    "STUDIER": ("Studier", "Studies"),
    "ARBETSSOKANDE": ("Arbetssökande", "Unemployed, looking for work"),
    "I_INSATS": ("I arbetsmarknadsinsats", "In a labour-market intervention"),
    "EJ_TILLGANGLIG": ("Inte tillgänglig för arbete", "Not available for work"),
    "OVRIGT": ("Övrigt (flyttat, avliden, annat)", "Other (moved, deceased, other)"),
    "OKAND": ("Okänd status", "Unknown status"),
}

END_REASON: Labels = {
    "ARBETE": ("Arbete", "Work"),
    "STUDIER": ("Studier", "Studies"),
    "ANNAN_INSATS": ("Annan insats", "Another intervention"),
    "OHALSA": ("Ohälsa", "Ill health"),
    "FLYTT": ("Flytt", "Moved away"),
    "AVBROTT": ("Avbrott", "Dropped out"),
    "PLANERAT": ("Planerat avslut", "Planned end"),
    "OVRIGT": ("Övrigt", "Other"),
    "OKAND": ("Okänd avslutsorsak", "Unknown end reason"),
}

HINDER: Labels = {
    "ARBETSLOS_UTAN_ERSATTNING": ("Arbetslös utan ersättning", "Unemployed, no unemployment benefit"),
    "ARBETSLOS_OTILLRACKLIG": ("Arbetslös med otillräcklig ersättning",
                               "Unemployed, insufficient benefit"),
    "ARBETSLOS_VANTAR": ("Arbetslös, väntar på ersättning", "Unemployed, waiting for benefit"),
    "ARBETSLOS_ETABLERING": ("Arbetslös med etableringsersättning",
                             "Unemployed with establishment benefit (newly arrived)"),
    "SJUK_INTYG": ("Sjukskriven med läkarintyg", "On sick leave with a medical certificate"),
    "SJUK_ERSATTNING": ("Otillräcklig sjuk- eller aktivitetsersättning",
                        "Insufficient sickness or activity compensation"),
    "SOCIALA_SKAL": ("Arbetshinder av sociala skäl", "Unable to work for social reasons"),
    "FORALDRALEDIG": ("Föräldraledig", "Parental leave"),
    "OTILLRACKLIG_INKOMST": ("Otillräcklig lön, pension eller annan inkomst",
                             "Insufficient wage, pension or other income"),
    "UTAN_HINDER": ("Inget hinder registrerat, eller annat", "No hinder registered, or other"),
}

DIMENSION: Labels = {
    "MOTIVATION": ("Motivation", "Motivation"),
    "HALSA": ("Hälsa", "Health"),
    "SOCIAL_FORMAGA": ("Social förmåga", "Social skills"),
    "STRUKTUR": ("Struktur", "Structure"),
    "SPRAK": ("Språk", "Language"),
    "ARBETSFORMAGA": ("Arbetsförmåga", "Work capacity"),
    "SAMARBETE": ("Samarbete", "Cooperation"),
    "OVRIGT": ("Övrigt", "Other"),
}

REFERRED_FROM: Labels = {
    "IFO": ("Socialtjänsten (IFO)", "Social services (IFO)"),
    "AF": ("Arbetsförmedlingen", "Public Employment Service (AF)"),
    "FK": ("Försäkringskassan", "Social Insurance Agency (FK)"),
    "EGEN": ("Egen anmälan", "Self-referred"),
    "OVRIGT": ("Annan remittent", "Other referrer"),
}

DISTANCE: Labels = {
    "NARA": ("Nära arbetsmarknaden (grön)", "Close to the labour market (green)"),
    "OSAKER": ("Oklar arbetsförmåga (gul)", "Work capacity unclear (yellow)"),
    "LANGT": ("Långt från arbetsmarknaden (röd)", "Far from the labour market (red)"),
}

BISTAND_CLASS: Labels = {
    "FS": ("Försörjningsstöd", "Social assistance (försörjningsstöd)"),
    "OVRIGT": ("Livsföring i övrigt", "Other living costs (livsföring i övrigt)"),
}
RATER: Labels = {"SELF": ("Självskattning", "Self-rating"),
                 "STAFF": ("Handledarens bedömning", "Staff rating")}
ROLE: Labels = {"SOKANDE": ("Sökande", "Applicant"), "MEDSOKANDE": ("Medsökande", "Co-applicant"),
                "BARN": ("Barn", "Child")}
YES_NO: Labels = {"JA": ("Ja", "Yes"), "NEJ": ("Nej", "No")}

CODE_LISTS: dict[str, Labels] = {
    "insats_typ": INSATS_TYP, "status": STATUS, "end_reason": END_REASON, "hinder": HINDER,
    "dimension": DIMENSION, "referred_from": REFERRED_FROM, "distance": DISTANCE,
    "bistand_class": BISTAND_CLASS, "rater": RATER, "role": ROLE, "born_abroad": YES_NO,
}

_UNKNOWN = ("Okänt", "Unknown")
# (dimension, value) -> labels; a breakdown value alone can be ambiguous (JA under FS_VID_START
# is not JA under FODD_UTRIKES), so each reads on its own
BREAKDOWNS: dict[str, Labels] = {
    "TOTAL": {"ALLA": ("Alla", "All")},
    "KON": {"K": ("Kvinnor", "Women"), "M": ("Män", "Men")},
    "ALDER": {"16-24": ("16–24 år", "16–24 years"), "25-29": ("25–29 år", "25–29 years"),
              "30-49": ("30–49 år", "30–49 years"), "50+": ("50 år och äldre", "50 years and older")},
    "INSATS": INSATS_TYP,
    "FODD_UTRIKES": {"JA": ("Född utrikes", "Born abroad"), "NEJ": ("Född i Sverige", "Born in Sweden"),
                     "OKAND": ("Födelseland okänt", "Country of birth unknown")},
    "FS_VID_START": {
        "JA": ("Försörjningsstöd vid start", "On social assistance at start"),
        "NEJ": ("Inget försörjningsstöd vid start", "Not on social assistance at start"),
        "OKAND": ("Okänt om försörjningsstöd vid start", "Social assistance at start unknown")},
    "LANGVARIGT_FS_FORE": {
        "JA": ("Långvarigt försörjningsstöd före start", "Long-term social assistance before start"),
        "NEJ": ("Inte långvarigt försörjningsstöd före start",
                "No long-term social assistance before start"),
        "OKAND": ("Okänt om långvarigt försörjningsstöd före start",
                  "Long-term social assistance before start unknown")},
    "REMITTERAD": {**REFERRED_FROM, "OKAND": _UNKNOWN},
    "AVSTAND": {**DISTANCE, "OKAND": _UNKNOWN},
}


def code_rows(name: str) -> list[tuple[str, int, str, str]]:
    """(code, sort_order, label_sv, label_en) of one code list, in the list's order."""
    labels = CODE_LISTS[name]
    return [(code, i, *labels[code]) for i, code in enumerate(codes.CODE_LISTS[name], 1)]


def breakdown_rows() -> list[tuple[str, str, int, bool, str, str]]:
    """(dimension, dimension_value, sort_order, spell_only, label_sv, label_en) of every
    breakdown value, in the order of codes.BREAKDOWNS."""
    return [(dimension, value, i, spell_only, *BREAKDOWNS[dimension][value])
            for dimension, (values, spell_only) in codes.BREAKDOWNS.items()
            for i, value in enumerate(values, 1)]
