"""The OpenAI-compatible drafter through real HTTP against a local fake chat server."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from clinic_app.ai import drafting
from clinic_app.ai.drafting import SectionRequest, TemplateSection
from clinic_app.ai.openai_drafter import MAX_SENTENCES, MAX_TEXT_CHARS, OpenAIDrafter
from clinic_app.errors import AppError
from tests.conftest import clear_app_caches
from tests.fake_openai import FakeOpenAI, fake_openai

SEGMENTS = [
    {"id": 0, "speaker": "Doctor", "text": "What brings you in today? Any medicines?"},
    {"id": 1, "speaker": "Patient", "text": "I have had a cough for three days."},
    {"id": 2, "speaker": "Patient", "text": "I take metformin 500 mg twice a day."},
]
UTTERANCES = drafting.split_utterances(SEGMENTS)  # ids 0..3
PLAN = TemplateSection(id="plan", title="Plan", required=True, type="list", prompt="Medicines.")


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with fake_openai() as served:
        yield served


def _drafter(
    fake: FakeOpenAI, *, api_key: str = "", timeout_s: float = 3.0, retries: int = 2
) -> OpenAIDrafter:
    return OpenAIDrafter(
        base_url=fake.url, model="llama3.1:8b", api_key=api_key, timeout_s=timeout_s,
        retries=retries,
    )  # fmt: skip


def _request(section: TemplateSection = PLAN) -> SectionRequest:
    return SectionRequest(section, "Write a SOAP note for a GP.", UTTERANCES)


def _failure(drafter: OpenAIDrafter) -> AppError:
    with pytest.raises(AppError) as caught:
        drafter.draft_section(_request())
    return caught.value


def test_utterances_are_what_the_fixture_says() -> None:
    assert [(u.id, u.role, u.text) for u in UTTERANCES] == [
        (0, "doctor", "What brings you in today?"),
        (1, "doctor", "Any medicines?"),
        (2, "patient", "I have had a cough for three days."),
        (3, "patient", "I take metformin 500 mg twice a day."),
    ]


def test_the_request_carries_model_schema_key_section_and_numbered_utterances(
    fake: FakeOpenAI,
) -> None:
    fake.reply(("Metformin 500 mg twice a day.", [3]))
    _drafter(fake, api_key="sk-test").draft_section(_request())
    (sent,) = fake.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    body = sent.body
    assert body["model"] == "llama3.1:8b" and body["temperature"] == 0
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "section_draft"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert schema["required"] == ["sentences"] and schema["additionalProperties"] is False
    item = schema["properties"]["sentences"]["items"]
    assert item["additionalProperties"] is False and set(item["required"]) == {"text", "evidence"}
    assert item["properties"]["text"] == {"type": "string"}
    assert item["properties"]["evidence"] == {"type": "array", "items": {"type": "integer"}}
    system, user = body["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    assert "evidence" in system["content"] and "general medical knowledge" in system["content"]
    assert '{"sentences": []}' in system["content"] and "list section" in system["content"]
    assert "Write a SOAP note for a GP." in user["content"]
    assert (
        "Section: Plan" in user["content"] and "Section instructions: Medicines." in user["content"]
    )
    assert user["content"].endswith(
        "[0] (doctor) What brings you in today?\n"
        "[1] (doctor) Any medicines?\n"
        "[2] (patient) I have had a cough for three days.\n"
        "[3] (patient) I take metformin 500 mg twice a day."
    )

    _drafter(fake).draft_section(_request())
    assert "authorization" not in fake.requests[1].headers


def test_settings_configure_the_drafter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINIC_LLM_BASE_URL", "http://10.0.0.5:8000/v1/")
    monkeypatch.setenv("CLINIC_LLM_MODEL", "qwen2.5:14b")
    monkeypatch.setenv("CLINIC_LLM_API_KEY", "sk-abc")
    monkeypatch.setenv("CLINIC_LLM_TIMEOUT_SECONDS", "12.5")
    clear_app_caches()
    try:
        drafter = OpenAIDrafter.from_settings()
    finally:
        monkeypatch.undo()
        clear_app_caches()
    assert drafter.base_url == "http://10.0.0.5:8000/v1" and drafter.model == "qwen2.5:14b"
    assert drafter.api_key == "sk-abc" and drafter.timeout_s == 12.5
    assert drafter.name == "openai" and drafter.prompt_version == "openai-evidence-2026.12.1"


@pytest.mark.parametrize("fenced", [False, True])
def test_valid_output_becomes_sentences_with_their_evidence(fake: FakeOpenAI, fenced: bool) -> None:
    fake.fenced = fenced
    fake.reply(("Cough for three days.", [2]), ("Metformin 500 mg twice a day.", [1, 3]))
    sentences = _drafter(fake).draft_section(_request())
    assert [(s.text, s.evidence) for s in sentences] == [
        ("Cough for three days.", [2]),
        ("Metformin 500 mg twice a day.", [1, 3]),
    ]
    assert len(fake.requests) == 1


def test_unknown_ids_and_empty_sentences_are_dropped_and_sizes_capped(fake: FakeOpenAI) -> None:
    fake.reply(
        ("Cough.", [2, 99, -1, 2]),
        ("Takes aspirin.", [42]),  # cites nothing real: kept without evidence for the verifier
        ("   ", [2]),
        ("word " * 400, [2]),
        *[(f"Item {n}.", [3]) for n in range(40)],
    )
    sentences = _drafter(fake).draft_section(_request())
    assert (sentences[0].text, sentences[0].evidence) == ("Cough.", [2])
    assert (sentences[1].text, sentences[1].evidence) == ("Takes aspirin.", [])
    long = sentences[2].text
    assert len(long) <= MAX_TEXT_CHARS and long.endswith("word…")
    assert len(sentences) == MAX_SENTENCES and sentences[-1].text == "Item 26."


def test_an_empty_section_and_an_empty_transcript(fake: FakeOpenAI) -> None:
    fake.reply()
    assert _drafter(fake).draft_section(_request()) == []
    assert len(fake.requests) == 1
    empty = SectionRequest(PLAN, "", [])
    assert _drafter(fake).draft_section(empty) == [] and len(fake.requests) == 1


@pytest.mark.parametrize(
    "bad",
    [
        '{"sentences": [{"text": "Cough.", "evidence": [2]',
        '{"sentences": "Cough."}',
        '{"sentences": [{"text": "Cough.", "evidence": ["two"]}]}',
        '[{"text": "Cough.", "evidence": [2]}]',
    ],
)
def test_bad_output_is_retried_once_then_fails_clearly(fake: FakeOpenAI, bad: str) -> None:
    fake.contents = [bad] * 5
    error = _failure(_drafter(fake))
    assert error.code == "DRAFT_ENGINE_BAD_OUTPUT" and "llama3.1:8b" in error.message
    assert len(fake.requests) == 2
    retry = fake.requests[1].body["messages"]
    assert retry[:2] == fake.requests[0].body["messages"]
    assert retry[2] == {"role": "assistant", "content": bad}
    assert retry[3]["role"] == "user" and "not usable" in retry[3]["content"]


def test_one_bad_answer_then_a_good_one_succeeds(fake: FakeOpenAI) -> None:
    fake.reply_malformed(times=1)
    fake.reply(("Cough for three days.", [2]))
    sentences = _drafter(fake).draft_section(_request())
    assert [s.evidence for s in sentences] == [[2]] and len(fake.requests) == 2


@pytest.mark.parametrize("how", ["refusal", "content_filter"])
def test_a_refusal_is_reported_not_retried(fake: FakeOpenAI, how: str) -> None:
    if how == "refusal":
        fake.refusal = "I'm sorry, but I can't help with that."
    else:
        fake.finish_reason = "content_filter"
        fake.reply(("Cough.", [2]))
    error = _failure(_drafter(fake))
    assert error.code == "DRAFT_ENGINE_REFUSED" and len(fake.requests) == 1
    assert ("can't help" if how == "refusal" else "content filter") in error.message


@pytest.mark.parametrize("status", [500, 503, 429])
def test_transient_errors_are_retried(fake: FakeOpenAI, status: int) -> None:
    fake.failures, fake.failure_status = 2, status
    fake.reply(("Cough for three days.", [2]))
    sentences = _drafter(fake, retries=2).draft_section(_request())
    assert [s.text for s in sentences] == ["Cough for three days."]
    assert len(fake.requests) == 3


def test_a_server_that_keeps_failing_is_unavailable(fake: FakeOpenAI) -> None:
    fake.failures = 100
    error = _failure(_drafter(fake, retries=2))
    assert error.code == "DRAFT_ENGINE_UNAVAILABLE" and "HTTP 500" in error.message
    assert fake.url in error.message and len(fake.requests) == 3


@pytest.mark.parametrize(("status", "key"), [(401, "sk-wrong"), (403, "sk-wrong"), (401, "")])
def test_a_refused_key_is_rejected_not_retried(fake: FakeOpenAI, status: int, key: str) -> None:
    fake.status = status
    error = _failure(_drafter(fake, api_key=key))
    assert error.code == "DRAFT_ENGINE_REJECTED" and len(fake.requests) == 1
    assert "API key" in error.message and "CLINIC_LLM_API_KEY" in error.message
    assert "sk-wrong" not in error.message and "sk-wrong" not in json.dumps(error.details)


def test_an_unknown_model_is_rejected_with_the_server_reason(fake: FakeOpenAI) -> None:
    fake.status = 404  # the fake's message for any error status names the API key
    error = _failure(_drafter(fake))
    assert error.code == "DRAFT_ENGINE_REJECTED" and "HTTP 404" in error.message
    assert "llama3.1:8b" in error.message and len(fake.requests) == 1


def test_a_slow_server_is_unavailable_within_a_bounded_time(fake: FakeOpenAI) -> None:
    fake.delay = 5.0
    started = time.monotonic()
    error = _failure(_drafter(fake, timeout_s=0.5, retries=1))
    elapsed = time.monotonic() - started
    assert error.code == "DRAFT_ENGINE_UNAVAILABLE"
    assert "did not answer" in error.message and "within 0.5 s" in error.message
    assert len(fake.requests) == 2 and elapsed < 2.5


def test_nothing_listening_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    started = time.monotonic()
    with pytest.raises(AppError) as caught:
        OpenAIDrafter(base_url=url, model="m", timeout_s=0.5, retries=2).draft_section(_request())
    assert caught.value.code == "DRAFT_ENGINE_UNAVAILABLE"
    assert url in caught.value.message and "3 tries" in caught.value.message
    assert time.monotonic() - started < 3.0


def test_draft_report_verifies_what_the_model_wrote(fake: FakeOpenAI) -> None:
    """A number the model made up (1000 mg) is caught by the verifier, whatever it cites."""
    fake.reply(("Metformin 1000 mg twice a day.", [3]))
    drafted = drafting.draft_report(
        [PLAN], UTTERANCES, _drafter(fake), drug_names=frozenset({"metformin"})
    )
    (section,) = drafted
    (sentence,) = section.sentences
    assert sentence.evidence == [3] and sentence.status == "unsupported"
    assert "the number 1000 is not in the evidence" in sentence.reasons

    fake.reply(("Metformin 500 mg twice a day.", [3]))
    (again,) = drafting.draft_report([PLAN], UTTERANCES, _drafter(fake))
    assert again.sentences[0].status == "supported"
