"""Report drafting through any OpenAI-compatible chat server (Ollama, vLLM, llama.cpp, hosted).

Why: a clinic that already runs a local LLM server (or accepts a hosted one) gets more fluent
drafts than the offline rules give, without the app bundling a model; ``POST
{base_url}/chat/completions`` is the one protocol all of these servers speak.

The contract with the model: it sees the section's instructions and the transcript as numbered
utterances (``[id] (role) text``), and answers ``{"sentences": [{"text": …, "evidence": [ids]}]}``
(asked for as a strict JSON schema, at temperature 0), writing only what was said and citing
the utterances each sentence rests on; a section nothing was said about stays empty.

The answer is not trusted: ids not in the request are dropped (a sentence left with no evidence
is marked unsupported by the caller's verifier; evidence is never invented), empty sentences
are dropped and lengths capped. Every failure (server down or slow, key refused, output that
is not the schema, a refusal) ends in an ``AppError`` with a stable ``DRAFT_ENGINE_*`` code and
a message an administrator can act on. Errors never carry the transcript or the key.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any

import httpx

from clinic_app.ai.drafting import DraftSentence, SectionRequest, Utterance
from clinic_app.errors import AppError
from clinic_app.settings import get_settings

PROMPT_VERSION = "openai-evidence-2026.12.1"
MAX_SENTENCES = 30
MAX_TEXT_CHARS = 1000
BACKOFF_S = 0.25  # doubled per retry, capped: a drafting job should fail in seconds, not hang
MAX_BACKOFF_S = 4.0
RETRY_STATUSES = frozenset({408, 429})  # and every 5xx: the server is busy or restarting
_ECHO_CHARS = 4000  # how much of a bad answer is shown back to the model on the retry

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sentences": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "evidence": {"type": "array", "items": {"type": "integer"}},
                },
                "required": ["text", "evidence"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["sentences"],
    "additionalProperties": False,
}
# Static (no per-request enum of ids) so servers can cache the compiled grammar.
RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "section_draft", "strict": True, "schema": SCHEMA},
}

TYPE_RULES = {
    "text": "a text section: short prose sentences",
    "structured": "a structured section: one sentence per item, written as 'Label: value.'",
    "list": "a list section: one sentence per list item, without bullets or numbering",
}

SYSTEM_PROMPT = """\
You draft one section of a clinical report from a consultation transcript, given as numbered \
utterances "[id] (speaker role) text".
Rules:
- Write only facts that were said in the utterances. Never add facts from general medical \
knowledge, guidelines, usual doses or likely causes, however plausible.
- Every sentence cites in "evidence" the ids of the utterances it rests on. Every number, dose, \
unit, drug, side (left/right) and negation in a sentence must be in the utterances it cites.
- If nothing that was said belongs in this section, leave it empty: {{"sentences": []}}. Do not \
write "not discussed" or similar.
- Clinical style: concise, third person, no greetings, small talk or speculation.
- This is {type_rule}.
- Write in the language with code "{language}".
Answer only with JSON: {{"sentences": [{{"text": "...", "evidence": [ids]}}]}}"""

_FENCED = re.compile(r"```[A-Za-z]*[ \t]*\n?(.*?)```", re.S)
_THINKING = re.compile(r"^\s*<think>.*?</think>", re.S)  # reasoning models served by Ollama


class _BadOutput(Exception):
    """The server answered, but not with a usable draft (retried once, with the problem)."""


def _one_line(text: str) -> str:
    """Collapse newlines so transcript text cannot forge an utterance line of its own."""
    return " ".join(text.split())


def build_messages(request: SectionRequest) -> list[dict[str, str]]:
    """System contract, then one user turn (strict chat templates refuse two in a row)."""
    section = request.section
    system = SYSTEM_PROMPT.format(
        type_rule=TYPE_RULES.get(section.type, TYPE_RULES["text"]), language=request.language
    )
    parts = []
    if request.template_prompt.strip():
        parts.append(f"Report instructions: {request.template_prompt.strip()}")
    parts.append(f"Section: {_one_line(section.title)}")
    if section.prompt.strip():
        parts.append(f"Section instructions: {section.prompt.strip()}")
    lines = "\n".join(f"[{u.id}] ({u.role}) {_one_line(u.text)}" for u in request.utterances)
    parts.append(f"Utterances:\n{lines}")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def parse_content(content: str) -> list[tuple[str, list[int]]]:
    """The model's JSON (bare, or in a ```json fence) as (text, evidence) pairs."""
    candidates = [content.strip(), _THINKING.sub("", content).strip()]
    candidates += [m.group(1).strip() for m in _FENCED.finditer(content)]
    data: Any = None
    for candidate in candidates:
        try:
            data = json.loads(candidate)
            break
        except ValueError:
            continue
    else:
        raise _BadOutput("the answer is not valid JSON")
    if not isinstance(data, dict) or not isinstance(data.get("sentences"), list):
        raise _BadOutput('the answer has no "sentences" list')
    pairs: list[tuple[str, list[int]]] = []
    for item in data["sentences"]:
        text = item.get("text") if isinstance(item, dict) else None
        evidence = item.get("evidence") if isinstance(item, dict) else None
        if (
            not isinstance(text, str)
            or not isinstance(evidence, list)
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in evidence)
        ):
            raise _BadOutput('a sentence is not {"text": string, "evidence": [integers]}')
        pairs.append((text, evidence))
    return pairs


def _cap(text: str) -> str:
    """At most MAX_TEXT_CHARS, cut between words (a cut number would read as another number)."""
    if len(text) <= MAX_TEXT_CHARS:
        return text
    cut = text[: MAX_TEXT_CHARS - 1]
    if not text[MAX_TEXT_CHARS - 1].isspace() and " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + "…"


def clean(
    pairs: Sequence[tuple[str, list[int]]], utterances: Sequence[Utterance]
) -> list[DraftSentence]:
    """Drop empty sentences and ids that are not utterances of this request; cap the sizes."""
    known = {u.id for u in utterances}
    sentences: list[DraftSentence] = []
    for text, evidence in pairs:
        text = _cap(_one_line(text))
        if not text:
            continue
        sentences.append(DraftSentence(text, [i for i in dict.fromkeys(evidence) if i in known]))
        if len(sentences) == MAX_SENTENCES:
            break
    return sentences


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("retry-after", "0")), 0.0), MAX_BACKOFF_S)
    except ValueError:
        return 0.0


def _server_message(response: httpx.Response) -> str:
    """The server's own reason ("model not found" …), short; OpenAI-style or plain text."""
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = response.text
    return _one_line(str(message or response.reason_phrase))[:200]


class OpenAIDrafter:
    """A ``ReportDrafter`` for ``POST {base_url}/chat/completions`` (``…/v1`` of the server)."""

    name = "openai"
    prompt_version = PROMPT_VERSION

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout_s: float = 60.0,
        retries: int = 2,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.retries = max(0, retries)

    @classmethod
    def from_settings(cls) -> OpenAIDrafter:
        settings = get_settings()
        return cls(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key,
            timeout_s=settings.llm_timeout_seconds,
        )

    def _details(self, **extra: Any) -> dict[str, Any]:
        return {"engine": self.name, "base_url": self.base_url, "model": self.model, **extra}

    def draft_section(self, request: SectionRequest) -> list[DraftSentence]:
        """One section; a bad answer is asked for again once, saying what was wrong (at
        temperature 0 the same request would likely get the same answer)."""
        if not request.utterances:
            return []  # nothing was said: the section stays empty without asking
        base = build_messages(request)
        messages = base
        problem = ""
        with httpx.Client(timeout=self.timeout_s) as client:
            for _attempt in range(2):
                content = ""
                try:
                    content = self._complete(client, messages)
                    return clean(parse_content(content), request.utterances)
                except _BadOutput as exc:
                    problem = str(exc)
                correction = (
                    f"That answer was not usable: {problem}. Answer again with only the JSON "
                    'object {"sentences": [{"text": "...", "evidence": [ids]}]}.'
                )
                messages = base
                if content:
                    messages = [
                        *base,
                        {"role": "assistant", "content": content[:_ECHO_CHARS]},
                        {"role": "user", "content": correction},
                    ]
        raise AppError(
            "DRAFT_ENGINE_BAD_OUTPUT",
            f"The drafting model {self.model} twice answered in a form the app cannot use "
            f"({problem}). A larger model, or a server that supports JSON-schema output, "
            "usually fixes this.",
            self._details(problem=problem),
        )

    def _complete(self, client: httpx.Client, messages: list[dict[str, str]]) -> str:
        """The assistant's text, or AppError for a refusal, _BadOutput for a broken reply."""
        body = {
            "model": self.model,
            "temperature": 0,
            "response_format": RESPONSE_FORMAT,
            "messages": messages,
        }
        response = self._post(client, body)
        try:
            choice = response.json()["choices"][0]
            message = choice["message"]
            finish = choice.get("finish_reason")
            refusal = message.get("refusal")
            content = message.get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise _BadOutput("the server's reply is not a chat completion") from None
        if refusal or finish == "content_filter":
            reason = _one_line(str(refusal))[:200] if refusal else "content filter"
            raise AppError(
                "DRAFT_ENGINE_REFUSED",
                f"The drafting model {self.model} refused to draft this section ({reason}). "
                "Write it by hand, or draft with the local engine.",
                self._details(finish_reason=finish),
            )
        if not isinstance(content, str) or not content.strip():
            cut = " (cut off at the token limit)" if finish == "length" else ""
            raise _BadOutput(f"the answer is empty{cut}")
        return content

    def _post(self, client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
        """POST with retries for what passes (no connection, timeouts, 5xx, 429)."""
        url = f"{self.base_url}/chat/completions"
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        problem = ""
        delay = BACKOFF_S
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
            try:
                response = client.post(url, json=body, headers=headers)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL):
                raise AppError(
                    "DRAFT_ENGINE_UNAVAILABLE",
                    f"The drafting server address {self.base_url!r} is not an http(s) URL; "
                    "check CLINIC_LLM_BASE_URL.",
                    self._details(),
                ) from None
            except httpx.TimeoutException:
                problem = f"no answer within {self.timeout_s:g} s"
                continue
            except httpx.RequestError as exc:
                problem = _one_line(str(exc)) or type(exc).__name__
                continue
            status = response.status_code
            if status in (401, 403):
                what = (
                    f"refused the API key (HTTP {status}); check CLINIC_LLM_API_KEY."
                    if self.api_key
                    else f"needs an API key (HTTP {status}); set CLINIC_LLM_API_KEY."
                )
                raise AppError(
                    "DRAFT_ENGINE_REJECTED",
                    f"The drafting server at {self.base_url} {what}",
                    self._details(status=status),
                )
            if status in RETRY_STATUSES or status >= 500:
                problem = f"HTTP {status}"
                delay = max(delay, _retry_after(response))
                continue
            if not response.is_success:
                raise AppError(
                    "DRAFT_ENGINE_REJECTED",
                    f"The drafting server at {self.base_url} rejected the request (HTTP {status}: "
                    f"{_server_message(response)}); check CLINIC_LLM_MODEL ({self.model}) and "
                    "CLINIC_LLM_BASE_URL.",
                    self._details(status=status),
                )
            return response
        raise AppError(
            "DRAFT_ENGINE_UNAVAILABLE",
            f"The drafting server at {self.base_url} did not answer ({problem}) after "
            f"{self.retries + 1} tries; check that it is running, or set "
            "CLINIC_DRAFT_ENGINE=local.",
            self._details(problem=problem),
        )
