"""Context biasing words, the near-miss correction of medicine names, and long-audio windows."""

from __future__ import annotations

import numpy as np

from clinic_app.ai import speech
from clinic_app.ai.speech import SAMPLE_RATE, Segment
from clinic_app.ai.vocabulary import SpeechContext, correct, nearest_term

CONTEXT = SpeechContext(
    medications=["Atorvastatin", "Lisinopril"],
    allergies=["Penicillin"],
    common=["metformin", "losartan", "valsartan", "insulin glargine"],
)


def test_prompt_puts_the_patients_names_first_and_stays_within_the_limit() -> None:
    prompt = CONTEXT.prompt()
    assert prompt.startswith("Medications: Atorvastatin, Lisinopril. Allergies: Penicillin.")
    assert "Other medicines: metformin, losartan" in prompt
    many = SpeechContext(common=[f"medicine{n:03d}" for n in range(200)])
    assert len(many.prompt(limit=120)) <= 120
    assert many.prompt(limit=120).endswith(".")


def test_terms_are_single_long_words() -> None:
    assert CONTEXT.terms() == {
        "atorvastatin", "lisinopril", "penicillin", "metformin", "losartan", "valsartan",
        "insulin", "glargine",
    }  # fmt: skip


def test_near_misses_are_corrected_and_the_heard_word_is_kept() -> None:
    seg = Segment(
        0,
        900,
        "Do you still take adorvastatin 20 milligrams?",
        0.8,
        words=[
            {"w": "Do", "s": 0, "e": 100, "p": 0.9},
            {"w": "adorvastatin", "s": 300, "e": 700, "p": 0.4},
        ],
    )
    fixed = correct([seg], CONTEXT.terms())[0]
    assert fixed.text == "Do you still take atorvastatin 20 milligrams?"
    assert fixed.words[1] == {
        "w": "atorvastatin",
        "s": 300,
        "e": 700,
        "p": 0.4,
        "was": "adorvastatin",
    }
    assert fixed.words[0] == seg.words[0]
    assert correct([Segment(0, 1, "Metforman twice a day.", 0.9)], CONTEXT.terms())[0].text == (
        "Metformin twice a day."
    )


def test_exact_short_distant_and_ambiguous_words_stay() -> None:
    terms = CONTEXT.terms()
    assert nearest_term("atorvastatin", terms) is None  # already a name
    assert nearest_term("Lisinopril", terms) is None
    assert nearest_term("pravastatin", terms) is None  # another real drug, not close enough
    assert nearest_term("listen", terms) is None
    assert nearest_term("fever", terms) is None  # too short to judge
    # "losartin" is as close to losartan as to... only losartan: corrected
    assert nearest_term("losartin", terms) == "losartan"
    # "lsartan" fits losartan and valsartan alike: the doctor decides
    assert nearest_term("lsartan", terms) is None
    text = "No fever, I listen to the nurse."
    assert correct([Segment(0, 1, text, 0.9)], terms)[0].text == text
    assert correct([Segment(0, 1, "adorvastatin", 0.9)], set())[0].text == "adorvastatin"


def test_windows_cover_the_audio_and_cut_in_the_quietest_moment() -> None:
    rng = np.random.default_rng(7)
    seconds = 700
    audio = (rng.standard_normal(seconds * SAMPLE_RATE) * 0.1).astype(np.float32)
    quiet = 293 * SAMPLE_RATE  # a pause inside the first window's last 15 s
    audio[quiet : quiet + SAMPLE_RATE // 2] = 0.0
    spans = speech.windows(audio, seconds=300)
    assert spans[0][0] == 0 and spans[-1][1] == len(audio)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert all(end - start <= 300 * SAMPLE_RATE for start, end in spans)
    assert quiet <= spans[0][1] <= quiet + SAMPLE_RATE // 2
    assert len(spans) == 3
    assert speech.windows(audio[: 10 * SAMPLE_RATE]) == [(0, 10 * SAMPLE_RATE)]
