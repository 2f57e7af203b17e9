"""utfall.inbox.scan on real folder trees: what is a delivery, and what is skipped with which word."""

import errno
import os
from pathlib import Path

import pytest

from utfall import inbox as inbox_module
from utfall.inbox import InboxFile, Problem, scan

AS_ROOT = os.geteuid() == 0


def put(root: Path, *rels: str) -> Path:
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"Personnummer;Belopp\n")
    return root


def problems(result) -> list[str]:
    return [str(p) for p in result.problems]


def rels(result) -> list[str]:
    return [f.rel_path for f in result.files]


# --- usable files ----------------------------------------------------------------------------------


def test_files_in_sorted_path_order_hidden_ignored_subfolders_of_a_system_folder_kept(tmp_path):
    inbox = put(tmp_path / "inbox",
                "1480/procapita/ekb_2024-02.csv", "1480/procapita/ekb_2024-01.csv",
                "1480/procapita/2023/ekb_2023-12.csv", "1480/procapita/2023-arkiv.csv",
                "1384/excel/Deltagare AME.xlsx", "0114/skapa/export.xlsx",
                "1480/procapita/.~lock.ekb_2024-02.csv#", "1480/.git/config", ".DS_Store",
                "1384/excel/~$Deltagare AME.xlsx")
    result = scan(inbox)
    assert result.fatal is None and result.problems == []
    assert rels(result) == [
        "0114/skapa/export.xlsx",
        "1384/excel/Deltagare AME.xlsx",
        "1480/procapita/2023/ekb_2023-12.csv",  # a folder sorts by its name, as Path sorting does
        "1480/procapita/2023-arkiv.csv",
        "1480/procapita/ekb_2024-01.csv",
        "1480/procapita/ekb_2024-02.csv",
    ]
    assert [f.path for f in result.files] == sorted(f.path for f in result.files)
    assert result.files[2] == InboxFile(inbox / "1480/procapita/2023/ekb_2023-12.csv",
                                        "1480/procapita/2023/ekb_2023-12.csv", "1480", "procapita")


# --- the layout ------------------------------------------------------------------------------------


def test_a_file_outside_kommunkod_system_is_a_problem(tmp_path):
    inbox = put(tmp_path, "lista.xlsx", "1480/ekb.csv", "1480/excel/ok.xlsx")
    result = scan(inbox)
    assert rels(result) == ["1480/excel/ok.xlsx"]
    assert problems(result) == [
        "1480/ekb.csv: files belong in <kommunkod>/<system>/<file>; move it into "
        "1480/procapita, 1480/skapa or 1480/excel",
        "lista.xlsx: files belong in <kommunkod>/<system>/<file>; move it into its "
        "municipality's system folder",
    ]


def test_a_folder_that_is_not_a_municipality_code_says_which_was_meant(tmp_path):
    inbox = put(tmp_path, "1420/excel/Deltagare.xlsx", "1420/procapita/fs.csv",
                "9999/excel/test.xlsx", "1480/excel/ok.xlsx", "Partille/excel/d.xlsx",
                "1402 Partille/excel/d.xlsx", "gamla/excel/d.xlsx")
    result = scan(inbox, configured=["1402", "1384"])
    assert rels(result) == ["1480/excel/ok.xlsx"]
    assert problems(result) == [
        "1402 Partille/excel/d.xlsx: 1402 Partille is not a municipality code; "
        "did you mean 1402 (Partille)?",
        "1420/excel/Deltagare.xlsx: 1420 is not a municipality code; "
        "did you mean 1402 (Partille)?",
        "1420/procapita/fs.csv: 1420 is not a municipality code; did you mean 1402 (Partille)?",
        "9999/excel/test.xlsx: 9999 is not a municipality code",
        "Partille/excel/d.xlsx: Partille is not a municipality code; "
        "did you mean 1402 (Partille)?",
        "gamla/excel/d.xlsx: gamla is not a municipality code",
    ]


def test_a_code_one_digit_from_a_present_one_is_pointed_to_it(tmp_path):
    inbox = put(tmp_path, "1408/excel/d.xlsx", "1480/excel/ok.xlsx")
    assert problems(scan(inbox)) == [
        "1408/excel/d.xlsx: 1408 is not a municipality code; did you mean 1480 (Göteborg)?"]


def test_without_a_configured_or_present_neighbour_the_nearest_scb_codes(tmp_path):
    inbox = put(tmp_path, "1420/excel/d.xlsx", "1480/excel/ok.xlsx")
    # present codes come first: 1480 is one changed digit from 1420 (1402 is a swap, not present)
    assert problems(scan(inbox)) == [
        "1420/excel/d.xlsx: 1420 is not a municipality code; did you mean 1480 (Göteborg)?"]
    lone = put(tmp_path / "other", "1420/excel/d.xlsx", "0114/excel/ok.xlsx")
    assert problems(scan(lone)) == [
        "1420/excel/d.xlsx: 1420 is not a municipality code; "
        "did you mean 1402 (Partille), 1421 (Orust) or 1427 (Sotenäs)?"]


def test_a_system_folder_that_is_not_an_adapter(tmp_path):
    inbox = put(tmp_path, "1480/Procapita/a.csv", "1480/SKAPA/b.xlsx", "1480/fs/c.csv",
                "1480/bistånd/d.csv", "1480/Ekonomiskt bistånd/e.csv", "1480/xlsx/f.xlsx",
                "1480/Excel/g.xlsx", "1480/ekonomi/h.csv", "1480/excel/ok.xlsx")
    result = scan(inbox)
    assert rels(result) == ["1480/excel/ok.xlsx"]
    assert problems(result) == [
        "1480/Ekonomiskt bistånd/e.csv: Ekonomiskt bistånd is not a system folder; "
        "did you mean procapita?",
        "1480/Excel/g.xlsx: Excel is not a system folder; did you mean excel? "
        "(folder names are lower case)",
        "1480/Procapita/a.csv: Procapita is not a system folder; did you mean procapita? "
        "(folder names are lower case)",
        "1480/SKAPA/b.xlsx: SKAPA is not a system folder; did you mean skapa? "
        "(folder names are lower case)",
        "1480/bistånd/d.csv: bistånd is not a system folder; did you mean procapita?",
        "1480/ekonomi/h.csv: ekonomi is not a system folder: use procapita, skapa or excel",
        "1480/fs/c.csv: fs is not a system folder; did you mean procapita?",
        "1480/xlsx/f.xlsx: xlsx is not a system folder; did you mean excel?",
    ]


# --- links ---------------------------------------------------------------------------------------


def test_a_linked_share_is_followed_and_known_by_its_path_in_the_inbox(tmp_path):
    share = put(tmp_path / "share", "procapita/ekb_2024.csv")
    inbox = put(tmp_path / "inbox", "1480/excel/ok.xlsx")
    (inbox / "1402").symlink_to(share)
    (inbox / "1480" / "skapa").symlink_to(put(tmp_path / "s", "export.xlsx"))
    (inbox / "1480" / "excel" / "länkad.xlsx").symlink_to(share / "procapita" / "ekb_2024.csv")
    result = scan(inbox)
    assert result.problems == []
    assert rels(result) == ["1402/procapita/ekb_2024.csv", "1480/excel/länkad.xlsx",
                            "1480/excel/ok.xlsx", "1480/skapa/export.xlsx"]
    assert result.files[0].path == inbox / "1402/procapita/ekb_2024.csv"


def test_link_loops_twice_linked_folders_and_dangling_links_are_problems(tmp_path):
    inbox = put(tmp_path / "inbox", "1480/excel/ok.xlsx")
    (inbox / "1480" / "excel" / "igen").symlink_to(inbox / "1480")
    (inbox / "1480" / "procapita").symlink_to(inbox / "1480" / "excel")
    (inbox / "1402").symlink_to(tmp_path / "unmounted")
    result = scan(inbox)
    assert rels(result) == ["1480/excel/ok.xlsx"]
    assert problems(result) == [
        f"1402: is a link to {tmp_path / 'unmounted'}, which does not exist "
        "(an unmounted share?)",
        "1480/excel/igen: is a link to a folder that is read already (1480); "
        "skipped: remove the link",
        "1480/procapita: is a link to a folder that is read already (1480/excel); "
        "skipped: remove the link",
    ]


def test_a_pipe_is_not_read(tmp_path):
    inbox = put(tmp_path, "1480/excel/ok.xlsx")
    os.mkfifo(inbox / "1480" / "excel" / "rör")
    result = scan(inbox)  # opening a pipe for reading would wait forever
    assert rels(result) == ["1480/excel/ok.xlsx"]
    assert problems(result) == ["1480/excel/rör: is not a regular file (a pipe or device); remove it"]


# --- what cannot be read -------------------------------------------------------------------------


@pytest.mark.skipif(AS_ROOT, reason="permissions do not bite for root")
def test_unreadable_folder_and_file_by_permissions(tmp_path):
    inbox = put(tmp_path, "1480/procapita/fs.csv", "1480/excel/hemlig.xlsx", "1480/excel/ok.xlsx")
    (inbox / "1480" / "procapita").chmod(0)
    (inbox / "1480" / "excel" / "hemlig.xlsx").chmod(0)
    try:
        result = scan(inbox)
    finally:
        (inbox / "1480" / "procapita").chmod(0o755)
    assert rels(result) == ["1480/excel/ok.xlsx"]
    assert problems(result) == [
        "1480/excel/hemlig.xlsx: file cannot be read (permission denied); "
        "give utfall read access",
        "1480/procapita: folder cannot be read (permission denied); nothing in it is loaded: "
        "give utfall read access",
    ]


def _denied(real, target: Path):
    def fake(path, *args, **kwargs):
        if Path(os.fsdecode(path)) == target:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, *args, **kwargs)
    return fake


def test_unreadable_folder_and_file_as_the_system_reports_them(tmp_path, monkeypatch):
    """The same as above where permissions do not bite (CI runs as root): the system's answer."""
    inbox = put(tmp_path, "1480/procapita/fs.csv", "1480/excel/hemlig.xlsx", "1480/excel/ok.xlsx")
    monkeypatch.setattr(inbox_module.os, "scandir", _denied(os.scandir, inbox / "1480/procapita"))
    monkeypatch.setattr(inbox_module.os, "open", _denied(os.open, inbox / "1480/excel/hemlig.xlsx"))
    result = scan(inbox)
    assert rels(result) == ["1480/excel/ok.xlsx"]
    assert problems(result) == [
        "1480/excel/hemlig.xlsx: file cannot be read (permission denied); "
        "give utfall read access",
        "1480/procapita: folder cannot be read (permission denied); nothing in it is loaded: "
        "give utfall read access",
    ]


def test_an_unreadable_inbox_is_fatal(tmp_path, monkeypatch):
    inbox = put(tmp_path / "inbox", "1480/excel/ok.xlsx")
    monkeypatch.setattr(inbox_module.os, "scandir", _denied(os.scandir, inbox))
    result = scan(inbox)
    assert result.files == [] and result.problems == []
    assert result.fatal == f"{inbox} cannot be read (permission denied): give utfall read access"


def test_names_that_are_not_utf8_are_shown_with_replacement_characters(tmp_path):
    inbox = put(tmp_path, "1480/excel/ok.xlsx")
    root = os.fsencode(inbox)
    with open(root + b"/1480/excel/Deltagare G\xf6teborg.xlsx", "wb") as fh:
        fh.write(b"x")
    os.makedirs(root + b"/1480/procapita/\xe5r 2024")
    with open(root + b"/1480/procapita/\xe5r 2024/fs.csv", "wb") as fh:
        fh.write(b"x")
    result = scan(inbox)
    assert rels(result) == ["1480/excel/ok.xlsx"]
    assert problems(result) == [
        "1480/excel/Deltagare G\ufffdteborg.xlsx: the name is not valid UTF-8 "
        "(shown with \ufffd); rename it",
        "1480/procapita/\ufffdr 2024: the name is not valid UTF-8 (shown with \ufffd); rename it",
    ]
    for p in result.problems:  # can be stored and printed anywhere
        assert str(p).encode("utf-8")


# --- an inbox that cannot be used ----------------------------------------------------------------


def test_an_inbox_that_does_not_exist_or_is_a_file(tmp_path):
    assert scan(tmp_path / "nowhere").fatal == (
        f"{tmp_path / 'nowhere'} does not exist: point --inbox at the folder of municipality "
        "folders")
    put(tmp_path, "inbox.zip")
    assert scan(tmp_path / "inbox.zip").fatal == (
        f"{tmp_path / 'inbox.zip'} is not a folder: point --inbox at the folder of municipality "
        "folders")


def test_an_empty_inbox(tmp_path):
    (tmp_path / "inbox" / "1480" / "excel").mkdir(parents=True)
    put(tmp_path / "inbox", ".DS_Store")
    result = scan(tmp_path / "inbox")
    assert (result.files, result.problems) == ([], [])
    assert result.fatal == (f"{tmp_path / 'inbox'} is empty: deliveries belong in "
                            f"{tmp_path / 'inbox'}/<kommunkod>/<system>/<file>")


def test_an_inbox_one_level_too_deep(tmp_path):
    inbox = put(tmp_path / "inbox" / "1480", "procapita/ekb.csv", "Excel/d.xlsx")
    result = scan(inbox)
    assert result.files == []
    assert result.fatal == (f"{inbox} looks like a municipality folder (it holds Excel, "
                            "procapita): point --inbox at its parent")
    assert len(result.problems) == 2  # each file is still listed


def test_an_inbox_two_levels_too_deep(tmp_path):
    inbox = put(tmp_path / "inbox" / "1480" / "procapita", "ekb.csv")
    assert scan(inbox).fatal == (f"{inbox} looks like the procapita folder of 1480: "
                                 f"point --inbox at {tmp_path / 'inbox'}")


def test_an_inbox_one_level_too_high(tmp_path):
    top = put(tmp_path / "ame", "inbox/1480/procapita/ekb.csv", "inbox/1384/excel/d.xlsx",
              "rapporter/2024.pdf")
    result = scan(top)
    assert result.files == []
    assert result.fatal == (f"{top} holds no municipality folders but inbox does: "
                            f"point --inbox at {top / 'inbox'}")
    two = put(tmp_path / "ar", "2019/1480/excel/d.xlsx", "2020/1480/excel/d.xlsx")
    assert scan(two).fatal == (f"{two} holds no municipality folders but 2019, 2020 do: "
                               "point --inbox at one of them")


def test_an_inbox_where_nothing_is_usable(tmp_path):
    inbox = put(tmp_path, "1420/excel/d.xlsx", "1480/Excel/d.xlsx")
    result = scan(inbox)
    assert result.files == [] and len(result.problems) == 2
    assert result.fatal == (
        f"no file in {inbox} can be used (2 problems): 1420/excel/d.xlsx: 1420 is not a "
        "municipality code; did you mean 1480 (Göteborg)?; 1480/Excel/d.xlsx: Excel is not a "
        "system folder; did you mean excel? (folder names are lower case)")
    many = put(tmp_path / "many", *[f"148O/excel/{i}.xlsx" for i in range(7)])
    assert scan(many).fatal == (
        f"no file in {many} can be used (7 problems): "
        + "; ".join(f"148O/excel/{i}.xlsx: 148O is not a municipality code; did you mean 1480 "
                    "(Göteborg)?" for i in range(5)) + "; and 2 more")


def test_problem_text():
    assert str(Problem("1420/excel/d.xlsx", "x")) == "1420/excel/d.xlsx: x"
