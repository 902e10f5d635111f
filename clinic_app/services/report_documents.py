"""Signed clinical reports (AI-scribe notes) as DOCX, and as PDF through LibreOffice if present.

DOCX is always available (pure Python); PDF needs LibreOffice on the server, so its absence is
a clear, expected error rather than a crash. The layout is image-free so that a report stays
small and prints the same everywhere; page numbers are Word fields so they stay right however
the reader's software paginates. Callers pass already formatted strings: this module decides
layout only, never dates, names or hashing.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Cm, Length, Pt, RGBColor
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from clinic_app.errors import AppError

DOCX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PDF_CONTENT_TYPE = "application/pdf"
SECTION_KINDS = ("text", "structured", "list")
STATUSES = ("signed", "draft")
NOT_DOCUMENTED = "Not documented"
NOTHING_RECORDED = "Nothing recorded"  # an optional section passed in empty
SIGNED_BY = "Electronically signed by "
NOT_SIGNED = "Not signed — this report is a draft."
DRAFT_LINE = "DRAFT — not signed"
PDF_UNAVAILABLE_MESSAGE = (
    "PDF export needs LibreOffice, which is not installed on this server; the DOCX is available."
)

_ACCENT = RGBColor(0x1F, 0x3A, 0x5F)  # the same navy as the prescription letterhead
_MUTED = RGBColor(0x59, 0x59, 0x59)
_RED = RGBColor(0xC0, 0x00, 0x00)
_BODY_FONT = "Calibri"  # LibreOffice substitutes the metric-compatible Carlito
_MONO_FONT = "Courier New"  # LibreOffice substitutes Liberation Mono
_PAGE_WIDTH, _PAGE_HEIGHT, _MARGIN = Cm(21.0), Cm(29.7), Cm(2.0)
_LABEL_WIDTH = Cm(3.5)
# Characters XML 1.0 cannot hold (lxml refuses them); scribe text can carry stray ones.
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# "Blood pressure: 120/80" in a structured section: the label before the colon is bolded.
_STRUCTURED_LABEL = re.compile(r"[^:\n]{1,40}:[ \t]+(?=\S)")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
# Style ids of python-docx's bundled template, checked once in ``_template``.
_HEADING_1 = "Heading1"
_HEADING_2 = "Heading2"
_LIST_BULLET = "ListBullet"
_TABLE_GRID = "TableGrid"
_STYLE_IDS = {
    "Heading 1": _HEADING_1,
    "Heading 2": _HEADING_2,
    "List Bullet": _LIST_BULLET,
    "Table Grid": _TABLE_GRID,
}
# Elements that must follow <w:pBdr> inside <w:pPr> (schema order).
_AFTER_PBDR = (
    "w:shd",
    "w:tabs",
    "w:suppressAutoHyphens",
    "w:kinsoku",
    "w:wordWrap",
    "w:overflowPunct",
    "w:topLinePunct",
    "w:autoSpaceDE",
    "w:autoSpaceDN",
    "w:bidi",
    "w:adjustRightInd",
    "w:snapToGrid",
    "w:spacing",
    "w:ind",
    "w:contextualSpacing",
    "w:mirrorIndents",
    "w:suppressOverlap",
    "w:jc",
    "w:textDirection",
    "w:textAlignment",
    "w:textboxTightWrap",
    "w:outlineLvl",
    "w:divId",
    "w:cnfStyle",
    "w:rPr",
    "w:sectPr",
    "w:pPrChange",
)


@dataclass(frozen=True)
class ReportSection:
    """One titled part of a report; ``missing`` marks a required section left empty."""

    title: str
    kind: str  # "text" | "structured" | "list"
    paragraphs: list[str]  # "text"/"structured": one paragraph each; "list": one bullet each
    missing: bool = False  # rendered as "Not documented" in italics

    def __post_init__(self) -> None:
        if self.kind not in SECTION_KINDS:
            raise ValueError(f"Unknown report section kind {self.kind!r}; use {SECTION_KINDS}.")


@dataclass(frozen=True)
class ReportDocument:
    """Everything printed on a report, already formatted for people to read."""

    clinic_name: str
    clinic_address: str
    clinic_phone: str
    title: str  # e.g. "Consultation note — SOAP"
    report_number: str  # e.g. "SESS-2026000012 v2"
    patient_name: str
    patient_mrn: str
    patient_dob: str
    visit_line: str  # e.g. "1 Dec 2026 09:30 · Dr Ana Silva · Main branch"
    sections: list[ReportSection]
    status: str  # "signed" or "draft"
    signed_by: str | None
    signed_at: str | None
    content_sha256: str | None
    template_line: str  # e.g. "Template: SOAP v3"
    amends: str | None = None  # e.g. "Amends SESS-2026000012 v1"

    def __post_init__(self) -> None:
        # A document must never claim a signature it cannot show, so reject it loudly.
        if self.status not in STATUSES:
            raise ValueError(f"Unknown report status {self.status!r}; use {STATUSES}.")
        if self.status == "signed" and not (
            self.signed_by and self.signed_at and self.content_sha256
        ):
            raise ValueError("A signed report needs signed_by, signed_at and content_sha256.")

    @property
    def is_draft(self) -> bool:
        return self.status != "signed"


# ---------------------------------------------------------------------------------------------
# Shared content (the styled and the bare renderer print the same words)
# ---------------------------------------------------------------------------------------------


def _clean(text: str | None) -> str:
    """Text safe for XML; CR/LF normalised so python-docx turns each newline into one break."""
    if not text:
        return ""
    return _XML_UNSAFE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _contact_line(doc: ReportDocument) -> str:
    parts = [_clean(doc.clinic_address)]
    if doc.clinic_phone.strip():
        parts.append("Tel. " + _clean(doc.clinic_phone))
    return "\n".join(part for part in parts if part)


def _patient_rows(doc: ReportDocument) -> list[tuple[str, str]]:
    return [
        ("Patient", _clean(doc.patient_name)),
        ("MRN", _clean(doc.patient_mrn)),
        ("Date of birth", _clean(doc.patient_dob) or "—"),
        ("Visit", _clean(doc.visit_line)),
        ("Report", _clean(doc.report_number)),
    ]


def _section_lines(section: ReportSection) -> list[str]:
    """The non-blank paragraphs of a section (blank ones would only print empty lines)."""
    return [_clean(text) for text in section.paragraphs if text and text.strip()]


def _tail_lines(doc: ReportDocument) -> list[str]:
    """The lines under the signature line, in order."""
    lines = [_clean(doc.template_line)]
    if doc.amends:
        lines.append(_clean(doc.amends))
    return [line for line in lines if line]


# ---------------------------------------------------------------------------------------------
# Small python-docx helpers (OOXML the library has no API for)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Look:
    """Direct formatting of a run (hashable, so each look is built only once)."""

    size: float | None = None
    bold: bool = False
    italic: bool = False
    color: str | None = None  # hex RGB
    font: str | None = None


_BOLD = _Look(bold=True)
_SMALL_MUTED = _Look(size=9, color=str(_MUTED))


def _element(tag: str, **attributes: str) -> BaseOxmlElement:
    return OxmlElement(tag, {qn(f"w:{name}"): value for name, value in attributes.items()})


@functools.cache
def _run_properties(look: _Look) -> BaseOxmlElement:
    """``<w:rPr>`` for a look, children in schema order. python-docx's per-property setters
    spend ~0.25 ms per formatted run keeping that order; a copy of this costs a few µs."""
    rpr = OxmlElement("w:rPr")
    if look.font:
        rpr.append(_element("w:rFonts", ascii=look.font, hAnsi=look.font, cs=look.font))
    if look.bold:
        rpr.append(OxmlElement("w:b"))
    if look.italic:
        rpr.append(OxmlElement("w:i"))
    if look.color:
        rpr.append(_element("w:color", val=look.color))
    if look.size:
        rpr.append(_element("w:sz", val=str(round(look.size * 2))))  # half-points
    return rpr


def _set_properties_element(parent: BaseOxmlElement, template: BaseOxmlElement) -> None:
    """Put a copy of ``template`` (a w:rPr / w:pPr / w:tcPr, always the first child) on
    ``parent``, replacing any it has."""
    existing = parent.find(template.tag)
    if existing is not None:
        parent.remove(existing)
    parent.insert(0, copy.deepcopy(template))


def _run(paragraph: Paragraph, text: str = "", look: _Look | None = None) -> Run:
    run = paragraph.add_run(text)
    if look is not None:
        _set_properties_element(run._r, _run_properties(look))
    return run


def _border(paragraph: Paragraph, side: str, *, color: str = "1F3A5F", size: int = 8) -> None:
    """A rule above or below a paragraph: a letterhead line without an image or a table."""
    p_pr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    line = OxmlElement(f"w:{side}")
    line.set(qn("w:val"), "single")
    line.set(qn("w:sz"), str(size))  # eighths of a point
    line.set(qn("w:space"), "4")
    line.set(qn("w:color"), color)
    borders.append(line)
    p_pr.insert_element_before(borders, *_AFTER_PBDR)


def _add_field(paragraph: Paragraph, instruction: str) -> None:
    """A complex field (begin / instruction / separate / placeholder / end) that Word and
    LibreOffice recompute when they lay the page out, e.g. PAGE and NUMPAGES."""

    def part(tag: str, fld_char_type: str | None = None, text: str | None = None) -> None:
        run = _run(paragraph)
        element = OxmlElement(tag)
        if fld_char_type is not None:
            element.set(qn("w:fldCharType"), fld_char_type)
        if text is not None:
            element.set(qn("xml:space"), "preserve")
            element.text = text
        run._r.append(element)

    part("w:fldChar", "begin")
    part("w:instrText", text=f" {instruction} \\* MERGEFORMAT ")
    part("w:fldChar", "separate")
    part("w:t", text="1")  # shown until the field is first updated
    part("w:fldChar", "end")


def _drop_thumbnail(document: DocxDocument) -> None:
    """python-docx's template ships a preview JPEG of a blank page: misleading, and an image."""
    rels = document.part.package.rels
    for r_id in [r_id for r_id, rel in rels.items() if rel.reltype == RT.THUMBNAIL]:
        del rels[r_id]


@functools.cache
def _paragraph_style(style_id: str) -> BaseOxmlElement:
    p_pr = OxmlElement("w:pPr")
    p_pr.append(_element("w:pStyle", val=style_id))
    return p_pr


def _styled(document: DocxDocument, style_id: str, text: str = "") -> Paragraph:
    """A paragraph in a style given by id. python-docx's ``style=`` looks the name up and then
    rescans every style for the default one, per paragraph: most of the render time."""
    paragraph = document.add_paragraph(text)
    _set_properties_element(paragraph._p, _paragraph_style(style_id))
    return paragraph


def _save(document: DocxDocument) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# DOCX
# ---------------------------------------------------------------------------------------------


@functools.cache
def _template() -> bytes:
    """The empty, styled A4 document every report starts from, built once per process: page
    setup, style changes and the footer's rule are the same for every report."""
    document = Document()
    _drop_thumbnail(document)
    section = document.sections[0]
    section.page_width, section.page_height = _PAGE_WIDTH, _PAGE_HEIGHT
    section.left_margin = section.right_margin = _MARGIN
    section.top_margin = section.bottom_margin = _MARGIN
    section.header_distance = section.footer_distance = Cm(1.0)
    styles = document.styles
    for name, style_id in _STYLE_IDS.items():
        if styles[name].style_id != style_id:
            raise RuntimeError(f"Unexpected id {styles[name].style_id!r} for style {name!r}.")
    normal = styles["Normal"]
    normal.font.name = _BODY_FONT
    normal.font.size = Pt(10.5)
    normal.paragraph_format.space_after = Pt(4)
    for name in ("Heading 1", "Heading 2"):
        styles[name].font.color.rgb = _ACCENT  # match the letterhead
    footer_style = styles["Footer"]
    footer_style.font.size = Pt(8)
    footer_style.font.color.rgb = _MUTED
    footer = section.footer.paragraphs[0]  # creates the footer part
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _border(footer, "top", color="BFBFBF", size=4)
    return _save(document)


def _set_properties(document: DocxDocument, doc: ReportDocument) -> None:
    props = document.core_properties
    now = datetime.now(UTC).replace(microsecond=0)
    props.title = _clean(f"{doc.title} — {doc.report_number}")
    props.author = props.last_modified_by = _clean(doc.clinic_name)
    props.subject = _clean(doc.report_number)
    props.category = "Clinical report"
    props.comments = ""  # the template says "generated by python-docx"
    props.keywords = ""
    props.created = props.modified = now
    props.revision = 1


def _letterhead(document: DocxDocument, doc: ReportDocument) -> None:
    name = document.add_paragraph()
    name.paragraph_format.space_after = Pt(0)
    _run(name, _clean(doc.clinic_name), _Look(size=16, bold=True, color=str(_ACCENT)))
    contact = document.add_paragraph()
    contact.paragraph_format.space_after = Pt(12)
    _run(contact, _contact_line(doc), _SMALL_MUTED)
    _border(contact, "bottom")


@functools.cache
def _cell_properties(*, label: bool) -> tuple[BaseOxmlElement, BaseOxmlElement]:
    """``<w:tcPr>`` (fixed width, labels shaded) and ``<w:pPr>`` (tight spacing) for the cells
    of the patient block, built once and copied into each cell."""
    width = _LABEL_WIDTH if label else _PAGE_WIDTH - 2 * _MARGIN - _LABEL_WIDTH
    tc_pr = OxmlElement("w:tcPr")
    tc_pr.append(_element("w:tcW", w=str(Length(width).twips), type="dxa"))
    if label:
        tc_pr.append(_element("w:shd", val="clear", color="auto", fill="EDF1F6"))
    p_pr = OxmlElement("w:pPr")
    p_pr.append(_element("w:spacing", before="20", after="20"))  # twentieths of a point
    return tc_pr, p_pr


def _patient_block(document: DocxDocument, doc: ReportDocument) -> None:
    rows = _patient_rows(doc)
    table = document.add_table(rows=len(rows), cols=2)
    table._tbl.tblPr.style = _TABLE_GRID
    table.alignment = WD_TABLE_ALIGNMENT.LEFT
    table.autofit = False
    table.columns[0].width = _LABEL_WIDTH
    table.columns[1].width = Length(_PAGE_WIDTH - 2 * _MARGIN - _LABEL_WIDTH)
    for row, (label, value) in zip(table.rows, rows, strict=True):
        for cell, text, is_label in zip(row.cells, (label, value), (True, False), strict=True):
            tc_pr, p_pr = _cell_properties(label=is_label)
            _set_properties_element(cell._tc, tc_pr)
            paragraph = cell.paragraphs[0]
            _set_properties_element(paragraph._p, p_pr)
            _run(paragraph, text, _BOLD if is_label else None)


def _section(document: DocxDocument, section: ReportSection) -> None:
    _styled(document, _HEADING_2, _clean(section.title))
    lines = _section_lines(section)
    if section.missing or not lines:
        text = NOT_DOCUMENTED if section.missing else NOTHING_RECORDED
        _run(document.add_paragraph(), text, _Look(italic=True, color=str(_MUTED)))
        return
    if section.kind == "list":
        for line in lines:
            _styled(document, _LIST_BULLET, line)
        return
    for line in lines:
        match = _STRUCTURED_LABEL.match(line) if section.kind == "structured" else None
        if match:
            paragraph = document.add_paragraph()
            _run(paragraph, match.group(0), _BOLD)
            _run(paragraph, line[match.end() :])
        else:
            document.add_paragraph(line)


def _signature_block(document: DocxDocument, doc: ReportDocument) -> None:
    paragraphs: list[Paragraph] = []
    first = document.add_paragraph()
    first.paragraph_format.space_before = Pt(18)
    _border(first, "top", color="A6A6A6", size=4)
    if doc.is_draft:
        _run(first, NOT_SIGNED, _Look(bold=True, color=str(_RED)))
    else:
        _run(first, SIGNED_BY)
        _run(first, _clean(doc.signed_by), _BOLD)
        _run(first, " on " + _clean(doc.signed_at))
    paragraphs.append(first)
    if doc.content_sha256 and not doc.is_draft:
        digest = document.add_paragraph("Content SHA-256: ")
        _run(digest, _clean(doc.content_sha256), _Look(size=9, font=_MONO_FONT))
        paragraphs.append(digest)
    for line in _tail_lines(doc):
        paragraph = document.add_paragraph()
        _run(paragraph, line, _SMALL_MUTED)
        paragraphs.append(paragraph)
    for paragraph in paragraphs:
        paragraph.paragraph_format.space_after = Pt(2)
        paragraph.paragraph_format.keep_with_next = paragraph is not paragraphs[-1]


def _footer(document: DocxDocument, doc: ReportDocument) -> None:
    paragraph = document.sections[0].footer.paragraphs[0]  # 8 pt, muted: the Footer style
    if doc.is_draft:
        _run(paragraph, "DRAFT · ", _Look(bold=True, color=str(_RED)))
    _run(paragraph, f"{_clean(doc.report_number)} · MRN {_clean(doc.patient_mrn)} · Page ")
    _add_field(paragraph, "PAGE")
    _run(paragraph, " of ")
    _add_field(paragraph, "NUMPAGES")


def render_docx(doc: ReportDocument) -> bytes:
    """The printable report: letterhead, patient block, sections, signature, numbered pages."""
    document = Document(io.BytesIO(_template()))
    _set_properties(document, doc)
    _letterhead(document, doc)
    _styled(document, _HEADING_1, _clean(doc.title))
    if doc.is_draft:
        draft = document.add_paragraph()
        _run(draft, DRAFT_LINE, _Look(size=13, bold=True, color=str(_RED)))
    _patient_block(document, doc)
    for section in doc.sections:
        _section(document, section)
    _signature_block(document, doc)
    _footer(document, doc)
    return _save(document)


def render_bare_docx(doc: ReportDocument) -> bytes:
    """The same words as plain paragraphs: the baseline the styled render is timed against."""
    document = Document()
    add = document.add_paragraph
    add(_clean(doc.clinic_name))
    add(_contact_line(doc))
    add(_clean(doc.title))
    if doc.is_draft:
        add(DRAFT_LINE)
    for label, value in _patient_rows(doc):
        add(f"{label}: {value}")
    for section in doc.sections:
        add(_clean(section.title))
        lines = _section_lines(section)
        if section.missing or not lines:
            add(NOT_DOCUMENTED if section.missing else NOTHING_RECORDED)
            continue
        for line in lines:
            add(line)
    if doc.is_draft:
        add(NOT_SIGNED)
    else:
        add(f"{SIGNED_BY}{_clean(doc.signed_by)} on {_clean(doc.signed_at)}")
        add(f"Content SHA-256: {_clean(doc.content_sha256)}")
    for line in _tail_lines(doc):
        add(line)
    return _save(document)


# ---------------------------------------------------------------------------------------------
# PDF (LibreOffice, optional)
# ---------------------------------------------------------------------------------------------


def libreoffice_path() -> str | None:
    """The LibreOffice executable, or None: PDF export is optional on a self-hosted server."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """soffice is a wrapper that starts soffice.bin: stop the whole process group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=5)


def docx_to_pdf(data: bytes, *, timeout_s: int = 120) -> bytes:
    """Convert a DOCX with LibreOffice headless, in a private temp dir and throwaway profile
    (so parallel conversions never share or lock a user profile)."""
    binary = libreoffice_path()
    if binary is None:
        raise AppError("PDF_UNAVAILABLE", PDF_UNAVAILABLE_MESSAGE)
    with tempfile.TemporaryDirectory(
        prefix="clinic-report-pdf-", ignore_cleanup_errors=True
    ) as tmp:
        work = Path(tmp)
        source, out_dir, profile = work / "report.docx", work / "out", work / "profile"
        source.write_bytes(data)
        out_dir.mkdir()
        command = [
            binary,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--nolockcheck",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out_dir),
            str(source),
        ]
        try:
            process = subprocess.Popen(
                command,
                cwd=work,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise AppError(
                "PDF_FAILED",
                "LibreOffice could not be started to make the PDF; the DOCX is available.",
                {"error": str(exc)},
            ) from exc
        try:
            _, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise AppError(
                "PDF_FAILED",
                f"PDF conversion did not finish within {timeout_s} s and was stopped; "
                "the DOCX is available.",
                {"timeout_s": timeout_s},
            ) from None
        finally:
            if process.poll() is None:
                _kill_group(process)
        pdf_path = out_dir / "report.pdf"
        pdf = pdf_path.read_bytes() if pdf_path.is_file() else b""
        if process.returncode != 0 or not pdf.startswith(b"%PDF"):
            raise AppError(
                "PDF_FAILED",
                "LibreOffice could not convert the report to PDF; the DOCX is available.",
                {
                    "returncode": process.returncode,
                    "stderr": stderr.decode("utf-8", "replace")[-500:],
                },
            )
        return pdf


def filename(doc: ReportDocument, extension: str) -> str:
    """A download name safe on every OS, e.g. ``SESS-2026000012-v2-report.docx``."""
    ext = extension.strip().lstrip(".").lower()
    if not ext or not ext.isascii() or not ext.isalnum():
        raise ValueError(f"Not a file extension: {extension!r}")
    stem = re.sub(r"-{2,}", "-", _UNSAFE_NAME.sub("-", doc.report_number))[:100].strip("-.")
    return f"{stem or 'report'}-report.{ext}"
