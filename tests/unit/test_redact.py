from collections import Counter

import pandas as pd

from utfall.adapters import redact
from utfall.adapters.base import AdapterResult, QuarantineRow, Reason
from utfall.adapters.personnummer import Pseudonymiser

PSEUDO = Pseudonymiser(b"k" * 32, "TEST")


def test_personnummer_in_free_text_is_masked_everywhere_an_adapter_returns_text():
    frame = pd.DataFrame({
        "insats_local": ["ATR 19870711-4513", "Praktik", None],
        "provider": ["Café 870711-4513", "Returen", None],
        "participant_ref": ["8707114513", "12", None],
        "start_date": ["2023-01-01"] * 3,
    }).astype({"insats_local": "string[pyarrow]"})
    res = AdapterResult(kind="x", tables={"t": frame},
                        quarantine=[QuarantineRow(2, Reason.DATE_INVALID, "row 2: 870711+4513 ?")],
                        unmapped=Counter({("insats_typ", "ATR 19870711-4513"): 2,
                                          ("insats_typ", "ATR 198707114513"): 1}),
                        notes=["see 870711 4513"])
    out = redact.result(res, PSEUDO)
    t = out.tables["t"]
    assert t["insats_local"].tolist()[:2] == ["ATR [personnummer]", "Praktik"]
    assert t["provider"].tolist()[:2] == ["Café [personnummer]", "Returen"]
    ref = t["participant_ref"].tolist()[0]
    assert ref.startswith("ref:") and ref == PSEUDO.reference("870711-4513")  # still matches
    assert t["participant_ref"].tolist()[1] == "12"
    assert t["start_date"].tolist() == ["2023-01-01"] * 3
    assert out.unmapped == Counter({("insats_typ", "ATR [personnummer]"): 3})
    assert out.quarantine[0].message == "row 2: [personnummer] ?"
    assert out.notes == ["see [personnummer]"]


def test_dates_amounts_and_short_numbers_are_left_alone():
    for value in ("2023-03-01", "12 345,50", "Deltagare 1012", "20230301"):
        assert redact.text(value) == value


def test_a_header_line_holding_a_data_row_quotes_only_known_columns():
    header = ["Personnummer", "Roll", "198503122346", "Anna Andersson", ""]
    known = {"Personnummer", "Roll"}.__contains__
    assert redact.header_holds_data(header)
    assert redact.header_cells(header, known) == (["Personnummer", "Roll"], 2)


def test_header_words_with_digits_are_not_data():
    header = ["Deltagarnr", "Motivation (1-7)", "Status 6 mån", "Hälsa 1–5", "Okänd kolumn"]
    assert not redact.header_holds_data(header)
    assert redact.header_cells(header, lambda c: False) == (header, 0)


def test_an_arrow_table_is_masked_and_a_clean_one_passed_on_as_it_is():
    """procapita hands over Arrow tables (dictionary-encoded text): the mask must reach them."""
    import pyarrow as pa

    dirty = pa.table({
        "insats_local": pa.array(["ATR 19870711-4513", "Praktik", None]).dictionary_encode(),
        "row_number": [2, 3, 4],
    })
    clean = pa.table({"insats_local": pa.array(["Praktik", "ATR", None]).dictionary_encode()})
    out = redact.result(AdapterResult(kind="x", tables={"dirty": dirty, "clean": clean}), PSEUDO)
    assert out.frame("dirty")["insats_local"].tolist()[:2] == ["ATR [personnummer]", "Praktik"]
    assert out.frame("dirty")["row_number"].tolist() == [2, 3, 4]
    assert out.tables["clean"] is clean
