"""Markdown split into heading sections of bounded size."""

from __future__ import annotations

from pathlib import Path

from bot.knowledge.chunking import chunk_markdown

ROOT = Path(__file__).resolve().parents[2]

DOC = """Welcome text before any heading.

# Policies

## Cancellation policy
Cancel up to 12 hours before the class.

```
# a comment in code, not a heading
```

## Guests

### Guest passes
- Essentials: 1 a month
- Unlimited: 2 a month

## Empty section
### Child
Only the child has text.
"""


def test_sections_keep_their_heading_path() -> None:
    chunks = chunk_markdown(DOC, "house-rules.md")
    assert [(c.ordinal, c.heading) for c in chunks] == [
        (0, "House rules"),
        (1, "Policies › Cancellation policy"),
        (2, "Policies › Guests › Guest passes"),
        (3, "Policies › Empty section › Child"),
    ]
    assert "# a comment in code" in chunks[1].content
    assert chunks[2].content == "- Essentials: 1 a month\n- Unlimited: 2 a month"
    assert chunks[2].title == "Guest passes"
    assert all(c.source == "house-rules.md" for c in chunks)


def test_long_sections_are_split_within_the_bound() -> None:
    paragraph = " ".join(f"Sentence number {i} talks about the studio." for i in range(60))
    text = "# Long\n\n" + paragraph + "\n\n" + "- item\n" * 50 + "\n" + "x" * 500
    chunks = chunk_markdown(text, "long.md", max_chars=300)
    assert len(chunks) > 5
    assert all(len(c.content) <= 300 for c in chunks)
    assert all(c.heading == "Long" for c in chunks)
    joined = " ".join(c.content for c in chunks)
    assert "Sentence number 0 " in joined and "Sentence number 59 " in joined
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_hash_follows_heading_and_content() -> None:
    [a] = chunk_markdown("# A\ntext", "f.md")
    [same] = chunk_markdown("# A\ntext\n", "g.md")
    [other] = chunk_markdown("# B\ntext", "f.md")
    assert a.content_hash == same.content_hash != other.content_hash


def test_studio_knowledge_files_chunk_cleanly() -> None:
    for path in sorted((ROOT / "bots/studio/knowledge").glob("*.md")):
        chunks = chunk_markdown(path.read_text(encoding="utf-8"), path.name)
        assert chunks, path
        assert all(0 < len(c.content) <= 1200 for c in chunks), path
