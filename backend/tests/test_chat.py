"""POST /api/chat, /api/chat/stream and GET /api/chat/history: answers, sources, history, bad input."""

import json
import uuid

import pytest

from app.core.config import database_parameters
from app.core.errors import INTERNAL_ERROR, ServiceUnavailable
from app.db.postgres import PostgresHistory
from app.models.schemas import MAX_MESSAGE_CHARS
from app.services.llm import OFFLINE_LABEL
from tests.conftest import KNOWLEDGE, gemini_settings, make_settings, running
from tests.fakes import QDRANT_KEY, unused_port

DEPLOY_SECTION = "knowledge/deploy.md#deploy-to-hugging-face-spaces"


def with_knowledge(tmp_path, **values):
    return make_settings(tmp_path, knowledge_paths=str(KNOWLEDGE), **values)


def sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


async def test_offline_answer_quotes_the_right_section_with_its_source(tmp_path):
    async with running(with_knowledge(tmp_path)) as client:
        response = await client.post(
            "/api/chat", json={"message": "How do I deploy to Hugging Face Spaces?"}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"].startswith(OFFLINE_LABEL)
    assert "cargo xtask deploy" in body["answer"]
    assert body["sources"][0]["url_or_path"] == DEPLOY_SECTION
    assert body["sources"][0]["title"] == "Deploying the backend › Deploy to Hugging Face Spaces"
    assert len(body["sources"]) == 5
    assert body["sources"][0]["score"] >= body["sources"][1]["score"]
    assert "cargo xtask deploy" in body["sources"][0]["snippet"]
    uuid.UUID(body["session_id"])


async def test_an_empty_knowledge_base_says_how_to_fill_it(tmp_path):
    async with running(make_settings(tmp_path)) as client:
        body = (await client.post("/api/chat", json={"message": "How do I deploy?"})).json()
    assert body["sources"] == []
    assert "set KNOWLEDGE_PATHS or run `python -m app.services.ingest PATH...`" in body["answer"]


@pytest.mark.parametrize("question", ["???", "如何部署？"])
async def test_a_question_sharing_no_word_with_the_docs_gets_no_arbitrary_sources(
    tmp_path, question
):
    async with running(with_knowledge(tmp_path)) as client:
        body = (await client.post("/api/chat", json={"message": question})).json()
    assert body["sources"] == []
    assert "Nothing in the ingested documentation matches this question" in body["answer"]


async def test_gemini_answer_is_grounded_in_the_retrieved_passages(tmp_path, gemini, pg_url):
    settings = with_knowledge(tmp_path, database_url=pg_url, **gemini_settings(gemini))
    async with running(settings) as client:
        response = await client.post(
            "/api/chat", json={"message": "How do I deploy to Hugging Face Spaces?"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["sources"][0]["url_or_path"] == DEPLOY_SECTION
        assert (
            body["answer"]
            == "Fake Gemini answer from [1] Deploying the backend › Deploy to Hugging Face Spaces "
            f"({DEPLOY_SECTION}) (conversation turns: 1)."
        )
        ((_, _, headers, request),) = gemini.calls("generateContent")
        assert (
            "only the numbered context passages" in request["systemInstruction"]["parts"][0]["text"]
        )
        assert "cargo xtask deploy --user alice" in request["contents"][-1]["parts"][0]["text"]

        # A follow-up in the same session sends the earlier turns back to the model.
        follow_up = await client.post(
            "/api/chat",
            json={
                "message": "And what if the Space does not exist?",
                "session_id": body["session_id"],
            },
        )
        assert follow_up.status_code == 200
        assert follow_up.json()["answer"].endswith("(conversation turns: 3).")
        assert (
            follow_up.json()["sources"][0]["url_or_path"]
            == "knowledge/deploy.md#creating-the-space"
        )
    embeds = gemini.calls("batchEmbedContents")
    assert embeds[0][3]["requests"][0]["taskType"] == "RETRIEVAL_DOCUMENT"
    assert embeds[-1][3]["requests"][0]["taskType"] == "RETRIEVAL_QUERY"


async def test_history_survives_an_app_restart_in_postgres(tmp_path, pg_url):
    settings = with_knowledge(tmp_path, database_url=pg_url)
    async with running(settings) as client:
        first = (
            await client.post(
                "/api/chat", json={"message": "What does the health endpoint return?"}
            )
        ).json()
    async with running(settings) as client:
        response = await client.get(f"/api/chat/history/{first['session_id']}")
    assert response.status_code == 200
    messages = response.json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "What does the health endpoint return?"
    assert messages[1]["content"] == first["answer"]
    assert messages[1]["sources"] == first["sources"]


async def test_history_survives_an_app_restart_in_local_sqlite(tmp_path):
    settings = with_knowledge(tmp_path)
    async with running(settings) as client:
        first = (
            await client.post("/api/chat", json={"message": "How long can a question be?"})
        ).json()
        second = await client.post(
            "/api/chat", json={"message": "And the body size?", "session_id": first["session_id"]}
        )
        assert second.status_code == 200
    async with running(settings) as client:
        messages = (await client.get(f"/api/chat/history/{first['session_id']}")).json()["messages"]
    assert [m["content"] for m in messages[::2]] == [
        "How long can a question be?",
        "And the body size?",
    ]


async def test_stream_sends_sources_then_pieces_then_the_whole_answer(tmp_path, gemini):
    async with running(with_knowledge(tmp_path, **gemini_settings(gemini))) as client:
        response = await client.post(
            "/api/chat/stream",
            json={"message": "What happens on a cold start after the Space sleeps?"},
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.text)
        names = [name for name, _ in events]
        assert names[0] == "sources" and names[-1] == "done" and names.count("delta") >= 2
        done = events[-1][1]
        assert done["answer"] == "".join(data["text"] for name, data in events if name == "delta")
        assert done["sources"][0]["url_or_path"] == "knowledge/deploy.md#cold-starts"
        assert events[0][1]["session_id"] == done["session_id"]
        assert len(gemini.calls("streamGenerateContent")) == 1
        history = (await client.get(f"/api/chat/history/{done['session_id']}")).json()["messages"]
    assert history[1]["content"] == done["answer"]


async def test_offline_stream_reassembles_the_offline_answer(tmp_path):
    async with running(with_knowledge(tmp_path)) as client:
        question = {"message": "How do I deploy to Hugging Face Spaces?"}
        whole = (await client.post("/api/chat", json=question)).json()["answer"]
        events = sse_events((await client.post("/api/chat/stream", json=question)).text)
    assert events[-1][1]["answer"] == whole


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"message": ""}, "message: must not be empty"),
        ({"message": " \n\t "}, "message: must not be empty"),
        ({"message": "x" * (MAX_MESSAGE_CHARS + 1)}, f"the limit is {MAX_MESSAGE_CHARS}"),
        ({"message": 42}, "message: must be a string"),
        ({"message": ["a"]}, "message: must be a string"),
        ({}, "message: Field required"),
        ({"message": "hi", "session_id": "not-a-uuid"}, "session_id: Input should be a valid UUID"),
        ({"message": "hi", "sessionId": "x"}, "sessionId: Extra inputs are not permitted"),
        (["message"], "body: Input should be a valid dictionary"),
    ],
)
async def test_bad_chat_input_is_a_422_naming_the_field(tmp_path, body, expected):
    async with running(make_settings(tmp_path)) as client:
        for path in ("/api/chat", "/api/chat/stream"):
            response = await client.post(path, json=body)
            assert response.status_code == 422, response.text
            assert expected in response.json()["detail"]


@pytest.mark.parametrize(
    "escaped, expected",
    [
        ("\\ud800", "lone UTF-16 surrogate"),
        ("\\udc00\\ud800", "lone UTF-16 surrogate"),
        ("\\u0000", "NUL"),
    ],
)
async def test_text_that_cannot_be_stored_is_a_422_not_a_lost_answer(tmp_path, escaped, expected):
    body = f'{{"message": "How do I deploy? {escaped}"}}'.encode()
    async with running(make_settings(tmp_path)) as client:
        for path in ("/api/chat", "/api/chat/stream"):
            response = await client.post(
                path, content=body, headers={"content-type": "application/json"}
            )
            assert response.status_code == 422, response.text
            assert response.json()["detail"].startswith(f"message: contains a {expected}")


async def test_malformed_json_is_a_422_that_says_so(tmp_path):
    async with running(make_settings(tmp_path)) as client:
        response = await client.post(
            "/api/chat", content=b'{"message": "hi"', headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("body: is not valid JSON")


async def test_a_body_over_the_limit_is_refused_with_413(tmp_path):
    async with running(make_settings(tmp_path)) as client:
        response = await client.post("/api/chat", json={"message": "x" * 70_000})
    assert response.status_code == 413
    assert "larger than 65536 bytes" in response.json()["detail"]


async def test_a_streamed_body_over_the_limit_is_refused_with_413(tmp_path):
    async def chunks():
        yield b'{"message": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    async with running(make_settings(tmp_path)) as client:
        response = await client.post(
            "/api/chat", content=chunks(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413


async def test_unknown_session_is_a_404_for_chat_and_history(tmp_path, pg_url):
    unknown = str(uuid.uuid4())
    async with running(make_settings(tmp_path, database_url=pg_url)) as client:
        chat = await client.post("/api/chat", json={"message": "hi", "session_id": unknown})
        history = await client.get(f"/api/chat/history/{unknown}")
        malformed = await client.get("/api/chat/history/nope")
    assert chat.status_code == 404 and "omit session_id" in chat.json()["detail"]
    assert history.status_code == 404 and unknown in history.json()["detail"]
    assert malformed.status_code == 422 and malformed.json()["detail"].startswith(
        "session_id: Input should be a valid UUID"
    )


async def test_postgres_down_still_answers_but_history_is_503(tmp_path):
    url = f"postgresql://postgres@127.0.0.1:{unused_port()}/postgres"
    async with running(with_knowledge(tmp_path, database_url=url)) as client:
        chat = await client.post(
            "/api/chat", json={"message": "How do I deploy to Hugging Face Spaces?"}
        )
        history = await client.get(f"/api/chat/history/{uuid.uuid4()}")
    assert chat.status_code == 200
    assert chat.json()["sources"][0]["url_or_path"] == DEPLOY_SECTION
    assert history.status_code == 503
    assert history.json()["service"] == "postgres"
    assert "cannot connect to DATABASE_URL" in history.json()["detail"]


async def test_a_rejected_insert_is_reported_as_the_query_error_not_as_the_server_down(pg_url):
    history = PostgresHistory(database_parameters(pg_url))
    await history.open()
    try:
        with pytest.raises(ServiceUnavailable) as raised:
            await history.append(uuid.uuid4(), [("user", "nul \x00 byte", [])])
    finally:
        await history.close()
    assert raised.value.reason.startswith("query failed:") and "0x00" in raised.value.reason, (
        raised.value.reason
    )


async def test_qdrant_down_is_a_503_naming_qdrant(tmp_path, suspended_qdrant):
    settings = make_settings(tmp_path, qdrant_url=suspended_qdrant.url, qdrant_api_key=QDRANT_KEY)
    async with running(settings) as client:
        for path in ("/api/chat", "/api/chat/stream"):
            response = await client.post(path, json={"message": "hello"})
            assert response.status_code == 503
            assert response.json()["service"] == "qdrant"
            assert "suspended" in response.json()["detail"]


@pytest.mark.parametrize("mode, reason", [("down", "the API answered 500"), ("quota", "quota")])
async def test_gemini_failure_is_a_503_naming_gemini(tmp_path, gemini, mode, reason):
    async with running(with_knowledge(tmp_path, **gemini_settings(gemini))) as client:
        gemini.mode = mode
        response = await client.post("/api/chat", json={"message": "How do I deploy?"})
        assert response.status_code == 503
        assert response.json()["service"] == "gemini"
        assert reason in response.json()["detail"]
        assert "test-gemini-key" not in response.text


async def test_unreachable_gemini_is_a_503_saying_so(tmp_path):
    settings = make_settings(
        tmp_path, gemini_api_key="k", gemini_base_url=f"http://127.0.0.1:{unused_port()}"
    )
    async with running(settings) as client:
        response = await client.post("/api/chat", json={"message": "How do I deploy?"})
    assert response.status_code == 503
    assert response.json()["detail"].startswith("gemini: cannot reach the API")


async def test_gemini_failing_after_retrieval_ends_the_stream_with_an_error_event(tmp_path, gemini):
    async with running(with_knowledge(tmp_path, **gemini_settings(gemini))) as client:
        gemini.mode = "answers_down"
        response = await client.post("/api/chat/stream", json={"message": "How do I deploy?"})
    assert response.status_code == 200
    events = sse_events(response.text)
    assert [name for name, _ in events] == ["sources", "error"]
    assert events[1][1]["service"] == "gemini"
    assert "500" in events[1][1]["detail"]


async def test_cors_allows_the_configured_origin_only(tmp_path):
    async with running(make_settings(tmp_path)) as client:
        preflight = {
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        }
        allowed = await client.options(
            "/api/chat", headers={"origin": "http://localhost:5173", **preflight}
        )
        denied = await client.options(
            "/api/chat", headers={"origin": "https://evil.example", **preflight}
        )
        error = await client.post(
            "/api/chat", json={"message": ""}, headers={"origin": "http://localhost:5173"}
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "access-control-allow-origin" not in denied.headers
    assert error.headers["access-control-allow-origin"] == "http://localhost:5173"


async def test_an_unexpected_error_is_a_json_500_the_browser_can_read(tmp_path, monkeypatch):
    async with running(make_settings(tmp_path)) as client:

        async def broken(request):
            raise RuntimeError("a bug")

        monkeypatch.setattr(client.app.state.startup.services.rag, "chat", broken)
        response = await client.post(
            "/api/chat", json={"message": "hi"}, headers={"origin": "http://localhost:5173"}
        )
    assert response.status_code == 500
    assert response.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "internal error" in response.json()["detail"]


async def test_a_blocked_answer_is_a_503_and_is_not_stored_as_an_empty_turn(tmp_path, gemini):
    async with running(with_knowledge(tmp_path, **gemini_settings(gemini))) as client:
        first = (await client.post("/api/chat", json={"message": "How do I deploy?"})).json()
        gemini.mode = "blocked"
        question = {"message": "And then?", "session_id": first["session_id"]}
        whole = await client.post("/api/chat", json=question)
        streamed = sse_events((await client.post("/api/chat/stream", json=question)).text)
        history = (await client.get(f"/api/chat/history/{first['session_id']}")).json()
    assert (
        whole.status_code == 503
        and "finish reason" in whole.json()["detail"]
        and "SAFETY" in whole.json()["detail"]
    )
    assert [name for name, _ in streamed] == ["sources", "error"]
    assert "SAFETY" in streamed[1][1]["detail"]
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"]


async def test_an_unexpected_error_mid_stream_ends_it_with_an_error_event(tmp_path, monkeypatch):
    async with running(make_settings(tmp_path)) as client:

        async def broken(request, prepared):
            yield "Half an "
            raise RuntimeError("a bug")

        monkeypatch.setattr(client.app.state.startup.services.rag, "stream", broken)
        response = await client.post("/api/chat/stream", json={"message": "hi"})
    events = sse_events(response.text)
    assert [name for name, _ in events] == ["sources", "delta", "error"]
    assert events[-1][1] == {"detail": INTERNAL_ERROR, "service": "fastapi"}
