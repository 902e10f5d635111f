"""Clinical report documents: DOCX content and layout, bare baseline, PDF via LibreOffice."""

from __future__ import annotations

import io
import os
import stat
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import docx
import pytest
from docx.document import Document as DocxDocument
from docx.oxml.ns import qn
from docx.shared import Cm, RGBColor
from docx.text.paragraph import Paragraph

from clinic_app.errors import AppError
from clinic_app.services import report_documents as reports
from clinic_app.services.report_documents import ReportDocument, ReportSection

HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SIGNER = "Dr Ana Silva (MED-2011-48213)"


def make_report(status: str = "signed", **changes: object) -> ReportDocument:
    signed = status == "signed"
    report = ReportDocument(
        clinic_name="Clínica Saúde Lisboa",
        clinic_address="Rua Augusta 100, 1100-053 Lisboa",
        clinic_phone="+351 21 000 0000",
        title="Consultation note — SOAP",
        report_number="SESS-2026000012 v2",
        patient_name="José Pereira",
        patient_mrn="000123",
        patient_dob="14 Mar 1980",
        visit_line="1 Dec 2026 09:30 · Dr Ana Silva · Main branch",
        sections=[
            ReportSection(
                "Subjective",
                "text",
                ["Cough for 3 days, fever ≥ 38.5 °C.", "Café worker; non-smoker."],
            ),
            ReportSection("Objective", "structured", ["Blood pressure: 128/82 mmHg"]),
            ReportSection(
                "Plan",
                "list",
                ["Amoxicillin 500 mg three times daily", "Vitamin B12 1000 µg IM monthly"],
            ),
            ReportSection("Allergies", "text", [], missing=True),
        ],
        status=status,
        signed_by=SIGNER if signed else None,
        signed_at="1 Dec 2026 10:02" if signed else None,
        content_sha256=HASH if signed else None,
        template_line="Template: SOAP v3",
    )
    return replace(report, **changes)  # type: ignore[arg-type]


def open_docx(data: bytes) -> DocxDocument:
    return docx.Document(io.BytesIO(data))


def texts(document: DocxDocument) -> list[str]:
    return [paragraph.text for paragraph in document.paragraphs]


def paragraph_with(document: DocxDocument, text: str) -> Paragraph:
    matches = [p for p in document.paragraphs if text in p.text]
    assert matches, f"no paragraph contains {text!r}"
    return matches[0]


def test_sections_are_headings_with_their_paragraphs() -> None:
    document = open_docx(reports.render_docx(make_report()))
    paragraphs = document.paragraphs
    headings = [p.text for p in paragraphs if p.style is not None and p.style.name == "Heading 2"]
    assert headings == ["Subjective", "Objective", "Plan", "Allergies"]
    body = texts(document)
    start = body.index("Subjective")
    assert body[start + 1 : start + 3] == [
        "Cough for 3 days, fever ≥ 38.5 °C.",
        "Café worker; non-smoker.",
    ]
    assert body[body.index("Objective") + 1] == "Blood pressure: 128/82 mmHg"
    structured = paragraph_with(document, "Blood pressure")
    assert structured.runs[0].text == "Blood pressure: " and structured.runs[0].bold
    bullets = [p.text for p in paragraphs if p.style is not None and p.style.name == "List Bullet"]
    assert bullets == ["Amoxicillin 500 mg three times daily", "Vitamin B12 1000 µg IM monthly"]
    title = paragraph_with(document, "Consultation note")
    assert title.style is not None and title.style.name == "Heading 1"


def test_missing_section_says_not_documented_in_italics() -> None:
    document = open_docx(reports.render_docx(make_report()))
    body = texts(document)
    after = body[body.index("Allergies") + 1]
    assert after == "Not documented"
    run = paragraph_with(document, "Not documented").runs[0]
    assert run.italic is True
    assert body.count("Not documented") == 1  # only the missing section


def test_empty_optional_section_and_blank_lines() -> None:
    report = make_report(
        sections=[
            ReportSection("Family history", "text", []),
            ReportSection("Plan", "list", ["", "  ", "Rest"]),
        ]
    )
    body = texts(open_docx(reports.render_docx(report)))
    assert body[body.index("Family history") + 1] == reports.NOTHING_RECORDED
    assert "Not documented" not in body
    assert body[body.index("Plan") + 1 : body.index("Plan") + 3] == [
        "Rest",
        reports.SIGNED_BY + f"{SIGNER} on 1 Dec 2026 10:02",
    ]


def test_signature_block_has_signer_hash_in_monospace_template_and_amends() -> None:
    report = make_report(amends="Amends SESS-2026000012 v1")
    document = open_docx(reports.render_docx(report))
    body = texts(document)
    signed = f"Electronically signed by {SIGNER} on 1 Dec 2026 10:02"
    assert signed in body
    assert f"Content SHA-256: {HASH}" in body
    hash_run = next(r for r in paragraph_with(document, HASH).runs if r.text == HASH)
    assert hash_run.font.name == "Courier New"
    assert body[-2:] == ["Template: SOAP v3", "Amends SESS-2026000012 v1"]
    assert body.index(signed) > body.index("Not documented")  # at the end
    assert not any("DRAFT" in text for text in body)
    without = texts(open_docx(reports.render_docx(make_report())))
    assert not any(text.startswith("Amends") for text in without)


def test_draft_line_only_for_drafts_and_in_red_near_the_top() -> None:
    document = open_docx(reports.render_docx(make_report("draft")))
    body = texts(document)
    assert reports.DRAFT_LINE in body
    assert body.index(reports.DRAFT_LINE) < body.index("Subjective")
    run = paragraph_with(document, reports.DRAFT_LINE).runs[0]
    assert run.font.color.rgb == RGBColor(0xC0, 0x00, 0x00)
    assert not any("Electronically signed" in text for text in body)
    assert not any("SHA-256" in text for text in body)
    footer = document.sections[0].footer.paragraphs[0].text
    assert footer.startswith("DRAFT")
    signed = open_docx(reports.render_docx(make_report()))
    assert reports.DRAFT_LINE not in texts(signed)
    assert "DRAFT" not in signed.sections[0].footer.paragraphs[0].text


def test_renders_do_not_leak_into_each_other() -> None:
    """Every render starts from the same cached template; nothing of one report may stay."""
    first = make_report("draft", clinic_name="First Clinic", report_number="SESS-1 v1")
    second = make_report(clinic_name="Second Clinic", report_number="SESS-2 v1")
    reports.render_docx(first)
    document = open_docx(reports.render_docx(second))
    all_text = "\n".join(texts(document)) + document.sections[0].footer.paragraphs[0].text
    assert "First Clinic" not in all_text and "SESS-1" not in all_text
    assert "DRAFT" not in all_text
    assert len(document.sections[0].footer.paragraphs) == 1


def test_no_images_anywhere_in_the_package() -> None:
    data = reports.render_docx(make_report())
    document = open_docx(data)
    assert len(document.inline_shapes) == 0
    image_parts = [
        str(part.partname)
        for part in document.part.package.iter_parts()
        if part.content_type.startswith("image/")
    ]
    assert image_parts == []
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert not [name for name in names if "media" in name or "thumbnail" in name]
    assert b"<w:drawing" not in zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml")


def test_footer_has_page_and_numpages_fields_and_report_number() -> None:
    document = open_docx(reports.render_docx(make_report()))
    footer = document.sections[0].footer
    assert not footer.is_linked_to_previous
    xml = footer._element.xml
    instructions = [(el.text or "").split()[0] for el in footer._element.iter(qn("w:instrText"))]
    assert instructions == ["PAGE", "NUMPAGES"]
    kinds = [el.get(qn("w:fldCharType")) for el in footer._element.iter(qn("w:fldChar"))]
    assert kinds == ["begin", "separate", "end"] * 2
    assert "SESS-2026000012 v2" in footer.paragraphs[0].text
    assert "Page" in xml and " of " in footer.paragraphs[0].text


def test_letterhead_clinic_name_bold_contact_and_rule() -> None:
    document = open_docx(reports.render_docx(make_report()))
    first, second = document.paragraphs[0], document.paragraphs[1]
    assert first.text == "Clínica Saúde Lisboa"
    assert first.runs[0].bold and first.runs[0].font.size is not None
    assert first.runs[0].font.size.pt > 12
    assert "Rua Augusta 100" in second.text and "+351 21 000 0000" in second.text
    bottom = second._p.find(f"{qn('w:pPr')}/{qn('w:pBdr')}/{qn('w:bottom')}")
    assert bottom is not None and bottom.get(qn("w:val")) == "single"


def test_patient_table_page_setup_and_properties() -> None:
    document = open_docx(reports.render_docx(make_report()))
    assert len(document.tables) == 1
    rows = [[cell.text for cell in row.cells] for row in document.tables[0].rows]
    assert rows == [
        ["Patient", "José Pereira"],
        ["MRN", "000123"],
        ["Date of birth", "14 Mar 1980"],
        ["Visit", "1 Dec 2026 09:30 · Dr Ana Silva · Main branch"],
        ["Report", "SESS-2026000012 v2"],
    ]
    section = document.sections[0]
    assert section.page_width is not None and abs(section.page_width - Cm(21)) < Cm(0.05)
    assert section.page_height is not None and abs(section.page_height - Cm(29.7)) < Cm(0.05)
    for margin in (section.left_margin, section.right_margin, section.top_margin):
        assert margin is not None and abs(margin - Cm(2)) < Cm(0.05)
    props = document.core_properties
    assert props.author == "Clínica Saúde Lisboa"
    assert "Consultation note — SOAP" in props.title
    assert "python-docx" not in (props.comments or "")


def test_unicode_survives_and_control_characters_are_dropped() -> None:
    report = make_report(
        patient_name="Zoë Ångström",
        sections=[ReportSection("Medicação", "text", ["Dose 50 µg\x0b ≥ 2× daily, é\r\nnext"])],
    )
    document = open_docx(reports.render_docx(report))
    body = texts(document)
    assert "Medicação" in body
    assert "Dose 50 µg ≥ 2× daily, é\nnext" in body
    assert document.tables[0].rows[0].cells[1].text == "Zoë Ångström"
    bare = texts(open_docx(reports.render_bare_docx(report)))
    assert "Dose 50 µg ≥ 2× daily, é\nnext" in bare


def test_bare_docx_has_the_same_words_without_styling() -> None:
    data = reports.render_bare_docx(make_report(amends="Amends SESS-2026000012 v1"))
    document = open_docx(data)
    body = texts(document)
    for expected in (
        "Consultation note — SOAP",
        "Subjective",
        "Café worker; non-smoker.",
        "Amoxicillin 500 mg three times daily",
        "Not documented",
        f"Electronically signed by {SIGNER} on 1 Dec 2026 10:02",
        f"Content SHA-256: {HASH}",
        "Amends SESS-2026000012 v1",
    ):
        assert expected in body
    assert document.tables == []
    assert {p.style.name for p in document.paragraphs if p.style is not None} == {"Normal"}
    assert b"instrText" not in data


def test_invalid_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="kind"):
        ReportSection("Plan", "table", ["x"])
    with pytest.raises(ValueError, match="signed_by"):
        make_report(signed_by=None)
    with pytest.raises(ValueError, match="status"):
        make_report(status="final")


def test_filename_is_safe() -> None:
    report = make_report()
    assert reports.filename(report, "docx") == "SESS-2026000012-v2-report.docx"
    assert reports.filename(report, ".PDF") == "SESS-2026000012-v2-report.pdf"
    odd = make_report(report_number="../SESS/2026 ✓ v3")
    assert reports.filename(odd, "pdf") == "SESS-2026-v3-report.pdf"
    assert reports.filename(make_report(report_number="//"), "pdf") == "report-report.pdf"
    with pytest.raises(ValueError):
        reports.filename(report, "../x")


# ---------------------------------------------------------------------------------------------
# PDF: LibreOffice is not installed here, so a stand-in script plays its part.
# ---------------------------------------------------------------------------------------------


def test_pdf_unavailable_without_libreoffice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports, "libreoffice_path", lambda: None)
    with pytest.raises(AppError) as caught:
        reports.docx_to_pdf(b"anything")
    assert caught.value.code == "PDF_UNAVAILABLE"
    assert "LibreOffice" in caught.value.message


def fake_soffice(tmp_path: Path, body: str) -> str:
    """A shell script standing in for soffice; it records its arguments."""
    script = tmp_path / "soffice"
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{tmp_path}/args"\n'
        'for a in "$@"; do [ "$prev" = "--outdir" ] && dir="$a"; prev="$a"; src="$a"; done\n' + body
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_pdf_conversion_runs_headless_with_isolated_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = fake_soffice(
        tmp_path,
        'test -s "$src" || exit 3\nprintf "%%PDF-1.7 fake" > "$dir/$(basename "$src" .docx).pdf"\n',
    )
    monkeypatch.setattr(reports, "libreoffice_path", lambda: script)
    pdf = reports.docx_to_pdf(reports.render_docx(make_report()))
    assert pdf == b"%PDF-1.7 fake"
    args = (tmp_path / "args").read_text().splitlines()
    assert "--headless" in args
    assert args[args.index("--convert-to") + 1] == "pdf"
    assert "--outdir" in args
    profile = [a for a in args if a.startswith("-env:UserInstallation=file:///")]
    assert len(profile) == 1
    work_dir = Path(profile[0].split("file://", 1)[1]).parent
    assert work_dir.name.startswith("clinic-report-pdf-")
    assert not work_dir.exists()  # the temp dir is cleaned up


def test_pdf_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = fake_soffice(tmp_path, 'echo "Error: source file could not be loaded" >&2\nexit 1\n')
    monkeypatch.setattr(reports, "libreoffice_path", lambda: script)
    with pytest.raises(AppError) as caught:
        reports.docx_to_pdf(b"not a docx")
    assert caught.value.code == "PDF_FAILED"
    assert caught.value.details["returncode"] == 1
    assert "could not be loaded" in caught.value.details["stderr"]


def test_pdf_exit_zero_without_output_is_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = fake_soffice(tmp_path, "exit 0\n")
    monkeypatch.setattr(reports, "libreoffice_path", lambda: script)
    with pytest.raises(AppError) as caught:
        reports.docx_to_pdf(b"x")
    assert caught.value.code == "PDF_FAILED"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def test_pdf_timeout_stops_the_whole_process_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Like soffice -> soffice.bin: the wrapper starts a child that does the (endless) work.
    script = fake_soffice(tmp_path, f'sleep 60 &\necho $! > "{tmp_path}/child"\nwait\n')
    monkeypatch.setattr(reports, "libreoffice_path", lambda: script)
    started = time.monotonic()
    with pytest.raises(AppError) as caught:
        reports.docx_to_pdf(b"x", timeout_s=1)
    assert caught.value.code == "PDF_FAILED"
    assert "1 s" in caught.value.message
    assert time.monotonic() - started < 10
    child = int((tmp_path / "child").read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert not _alive(child), "the converter's child process survived the timeout"
    finally:
        if _alive(child):  # keep the machine clean when the assertion fails
            os.kill(child, 9)
