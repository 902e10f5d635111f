"""Offline numpy sentence embeddings (all-MiniLM-L6-v2): shape, meaning, batching, padding."""

from __future__ import annotations

import math
import subprocess
import sys
import threading

import numpy as np
import pytest

from clinic_app.ai import embeddings

DIM = 384

# sentence-transformers 6.2.0 (torch 2.14.1, CPU) SentenceTransformer(<same model dir>)
# .encode("This is a test", normalize_embeddings=True)[:8], computed once on the dev machine
# where torch happened to be present. The numpy forward pass matched it to 2.6e-7 overall.
REFERENCE_THIS_IS_A_TEST = [
    0.030612418428063393,
    0.013831346295773983,
    -0.02084382250905037,
    0.01632784865796566,
    -0.010231495834887028,
    -0.04798424243927002,
    -0.017313318327069283,
    0.03728743642568588,
]


def _tokens(text: str) -> int:
    return len(embeddings._get_model().tokenizer.encode(text).ids)


def test_shape_dtype_and_unit_length() -> None:
    texts = ["Blood pressure 130/85 today.", "", "Follow up in two weeks."]
    vectors = embeddings.embed(texts)
    assert vectors.shape == (3, DIM)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.all(np.isfinite(vectors))
    # different texts, different vectors
    assert float(vectors[0] @ vectors[2]) < 0.99


def test_empty_input_and_bad_arguments() -> None:
    empty = embeddings.embed([])
    assert empty.shape == (0, DIM)
    assert empty.dtype == np.float32
    with pytest.raises(TypeError):
        embeddings.embed("a single string is not a list of texts")
    with pytest.raises(ValueError):
        embeddings.embed(["x"], batch_size=0)


def test_matches_sentence_transformers_reference() -> None:
    vector = embeddings.embed(["This is a test"])[0]
    np.testing.assert_allclose(vector[:8], REFERENCE_THIS_IS_A_TEST, atol=1e-5)


def test_cough_is_closer_to_cough_than_to_knee() -> None:
    query, cough, knee = embeddings.embed(
        [
            "I have been coughing for two weeks",
            "cough and sputum since two weeks",
            "my knee hurts when I climb stairs",
        ]
    )
    assert float(query @ cough) > float(query @ knee) + 0.2


def test_medication_instruction_nearest_to_medication_sentence() -> None:
    query = "take metformin 500 mg twice a day"
    candidates = [
        "my knee hurts when I climb stairs",
        "the patient is on metformin for type 2 diabetes",
        "next appointment is on Tuesday at 10 am",
        "blood pressure measured at 140 over 90",
        "no known drug allergies",
    ]
    scores = embeddings.similarity(embeddings.embed([query]), embeddings.embed(candidates))
    assert scores.shape == (1, len(candidates))
    assert int(np.argmax(scores[0])) == 1


def test_batching_preserves_input_order() -> None:
    texts = [
        "Patient reports chest pain radiating to the left arm since this morning, no fever.",
        "ok",
        "Rash on both forearms after starting amoxicillin three days ago.",
        "Headache.",
        "Review blood results: HbA1c 7.8%, eGFR 62, potassium normal.",
        "Sleeps poorly, wakes at 4 am, low mood for a month, appetite reduced.",
        "",
    ]
    together = embeddings.embed(texts, batch_size=3)
    one_by_one = np.vstack([embeddings.embed([t]) for t in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    np.testing.assert_allclose(embeddings.embed(texts, batch_size=64), one_by_one, atol=1e-5)


def test_padding_does_not_change_an_embedding() -> None:
    short = "Sore throat."
    long = "Sore throat and hoarse voice for five days, worse in the evening, no difficulty " * 3
    assert _tokens(short) < _tokens(long)  # so `short` really is padded in the shared batch
    alone = embeddings.embed([short])[0]
    padded = embeddings.embed([long, short], batch_size=2)[1]
    np.testing.assert_allclose(padded, alone, atol=1e-5)


def test_long_text_is_truncated_at_256_tokens() -> None:
    words = " ".join(f"symptom{i % 7} day" for i in range(200))  # well over 256 tokens
    assert _tokens(words) == 256
    base, longer = embeddings.embed([words, words + " completely different ending about knees"])
    np.testing.assert_allclose(base, longer, atol=1e-6)


def test_gelu_is_the_erf_form() -> None:
    x = np.linspace(-8, 8, 4001, dtype=np.float32)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.tolist()])
    assert np.abs(embeddings._gelu(x) - exact).max() < 1e-6
    tanh = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    assert np.abs(tanh - exact).max() > 1e-4  # the test can tell the tanh approximation apart


def test_similarity_matrix() -> None:
    a = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], dtype=np.float32)
    b = np.array([[3.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    expected = np.array([[1.0, 1 / math.sqrt(2)], [0.0, 1 / math.sqrt(2)], [0.0, 0.0]])
    np.testing.assert_allclose(embeddings.similarity(a, b), expected, atol=1e-6)
    assert embeddings.similarity(a[0], b).shape == (1, 2)
    with pytest.raises(ValueError):
        embeddings.similarity(a, np.ones((2, 3), dtype=np.float32))
    vectors = embeddings.embed(["fever", "high temperature", "broken wrist"])
    sims = embeddings.similarity(vectors, vectors)
    np.testing.assert_allclose(np.diag(sims), 1.0, atol=1e-5)
    np.testing.assert_allclose(sims, vectors @ vectors.T, atol=1e-5)
    assert sims[0, 1] > sims[0, 2]


def test_threads_share_one_model_and_agree() -> None:
    texts = ["shortness of breath on exertion", "itchy eyes in spring", "ankle swelling"]
    expected = embeddings.embed(texts)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(embeddings.embed(texts))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 3
    for r in results:
        np.testing.assert_allclose(r, expected, atol=1e-6)
    assert embeddings._get_model() is embeddings._get_model()


def test_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from clinic_app.ai.embeddings import embed\n"
        "assert embed(['x']).shape == (1, 384)\n"
        "bad = [m for m in ('torch', 'sentence_transformers', 'scipy') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
