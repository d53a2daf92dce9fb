"""Markdown paragraphs, the unit in which sections are split and answers quoted, and clipping."""


def paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks; a fenced code block with blank lines inside stays one block."""
    blocks, pending = [], []
    for block in text.split("\n\n"):
        pending.append(block)
        joined = "\n\n".join(pending)
        if joined.count("```") % 2 == 0 and joined.count("~~~") % 2 == 0:
            blocks.append(joined.strip())
            pending = []
    if pending:
        blocks.append("\n\n".join(pending).strip())
    return [b for b in blocks if b]


def clip(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else cut at a word boundary and marked with " …"."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"
