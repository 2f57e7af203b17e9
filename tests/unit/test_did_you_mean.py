""""Did you mean" for a municipality code one character from a real one, letters for digits
included, wherever a code is read from the user: inbox folders, configuration files and the
command line (issue 23)."""

from __future__ import annotations

import duckdb
import pytest
from click.testing import CliRunner

from utfall import transform
from utfall.adapters import config
from utfall.adapters.config import ConfigError, ConfigStore
from utfall.cli import main
from utfall.inbox import scan


@pytest.mark.parametrize("text", ["148O", "148o", "I480", "l480", " 148O "])
def test_a_letter_for_a_digit_is_read_as_the_digit(text):
    assert config.code_guesses(text) == ["1480"]


def test_one_character_changed_added_or_removed():
    assert config.code_guesses("14800") == ["1480"]
    assert config.code_guesses("148", preferred=["1480"]) == ["1480"]
    assert config.code_guesses("148") == ["1438", "1480", "1481"]
    assert config.code_guesses("14x0", preferred=["1384", "1480"]) == ["1480"]
    assert config.code_guesses("OI14") == ["0114"]


def test_what_is_no_code_gets_no_guess_and_digits_keep_their_guesses():
    assert config.code_guesses("gamla") == []
    assert config.code_guesses("arkiv") == []
    assert config.code_guesses("abcd") == []
    assert config.code_guesses("9999") == []
    assert config.code_guesses("1420") == ["1402", "1421", "1427"]
    assert config.code_guesses("1420", preferred=["1480"]) == ["1480"]


def test_the_wording():
    assert config.did_you_mean("148O") == "; did you mean 1480 (Göteborg)?"
    assert config.did_you_mean("1420") == ("; did you mean 1402 (Partille), 1421 (Orust) or "
                                    "1427 (Sotenäs)?")
    assert config.did_you_mean("arkiv") == ""


def test_an_inbox_folder(tmp_path):
    for rel in ("148O/excel/lista.xlsx", "I480/excel/lista.xlsx", "1384/excel/ok.xlsx"):
        (tmp_path / rel).parent.mkdir(parents=True)
        (tmp_path / rel).write_bytes(b"x")
    assert [str(p) for p in scan(tmp_path).problems] == [
        "148O/excel/lista.xlsx: 148O is not a municipality code; did you mean 1480 (Göteborg)?",
        "I480/excel/lista.xlsx: I480 is not a municipality code; did you mean 1480 (Göteborg)?",
    ]


def test_a_configuration_file_named_or_saying_148O(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "148O.yaml").write_text("namn: Göteborg\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ConfigStore(tmp_path / "a")
    assert str(info.value) == (f"{tmp_path / 'a' / '148O.yaml'} line 1: name the file "
                               "<kommunkod>.yaml or set kommun_kod; did you mean 1480 (Göteborg)?")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "goteborg.yaml").write_text('namn: Göteborg\nkommun_kod: "l480"\n',
                                                  encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ConfigStore(tmp_path / "b")
    assert str(info.value) == (f"{tmp_path / 'b' / 'goteborg.yaml'} line 2: kommun_kod: kommun_kod "
                               'must be four digits, as text (quote it: "0114"); did you mean '
                               "1480 (Göteborg)?")


def test_a_code_on_the_command_line(tmp_path):
    db = tmp_path / "u.duckdb"
    with duckdb.connect(str(db)) as con:
        transform.create_schemas(con)
    result = CliRunner().invoke(main, ["quarantine", "--db", str(db), "--kommun", "148O"])
    assert result.exit_code == 2
    assert ("Invalid value for '--kommun': 148O is not a municipality code; did you mean "
            "1480 (Göteborg)?") in result.output
