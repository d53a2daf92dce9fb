"""The baseline for the backend benchmarks: a bare FastAPI app with constant answers."""

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()
HEALTH = {"status": "healthy", "services": {"fastapi": "ok"}}


class Question(BaseModel):
    message: str


@app.get("/api/health")
async def health() -> dict:
    return HEALTH


@app.post("/api/chat")
async def chat(question: Question) -> dict:
    return {"answer": question.message, "sources": [], "session_id": "00000000-0000-0000-0000-000000000000"}
