"""A local fake of Google's Speech-to-Text v1 gRPC service, for the real client library.

It speaks the real protocol (``google.cloud.speech.v1.Speech/Recognize`` with the library's own
protobuf messages) on loopback. Each request is recorded; ``failures`` makes the next calls
fail with UNAVAILABLE (to exercise retries) and ``delay`` makes them slow (deadlines).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc
from google.cloud import speech_v1

METHOD = "/google.cloud.speech.v1.Speech/Recognize"


@dataclass
class FakeSpeech:
    transcript: str = "I take metformin twice a day."
    failures: int = 0
    delay: float = 0.0
    requests: list[Any] = field(default_factory=list)

    def recognize(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.requests.append(request)
        if self.failures > 0:
            self.failures -= 1
            context.abort(grpc.StatusCode.UNAVAILABLE, "try again")
        if self.delay:
            time.sleep(self.delay)
        seconds = len(request.audio.content) / 2 / request.config.sample_rate_hertz
        words = self.transcript.rstrip(".").split()
        step = seconds / max(len(words), 1)
        return speech_v1.RecognizeResponse(
            results=[
                speech_v1.SpeechRecognitionResult(
                    alternatives=[
                        speech_v1.SpeechRecognitionAlternative(
                            transcript=self.transcript,
                            confidence=0.91,
                            words=[
                                speech_v1.WordInfo(
                                    word=w,
                                    start_time=timedelta(seconds=i * step),
                                    end_time=timedelta(seconds=(i + 1) * step),
                                )
                                for i, w in enumerate(words)
                            ],
                        )
                    ],
                    result_end_time=timedelta(seconds=seconds),
                )
            ]
        )


@contextmanager
def fake_google_speech(fake: FakeSpeech) -> Iterator[str]:
    """Serve ``fake`` on a free loopback port; yields ``host:port``."""
    handler = grpc.method_handlers_generic_handler(
        "google.cloud.speech.v1.Speech",
        {
            "Recognize": grpc.unary_unary_rpc_method_handler(
                fake.recognize,
                request_deserializer=speech_v1.RecognizeRequest.deserialize,
                response_serializer=speech_v1.RecognizeResponse.serialize,
            )
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)
