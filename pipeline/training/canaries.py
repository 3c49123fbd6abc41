"""Canaries: synthetic records with random secrets, to measure what training memorises.

`train.canaries.count` canaries are made; each goes into the training set with
probability 1/2, drawn with the seeded generator and recorded (`inserted`),
which is what the one-run audit of the evaluate stage needs (Steinke, Nasr and
Jagielski 2023): it scores every canary and counts how many of its most
confident guesses are right. A classification canary is a string of random vocabulary words with a
random label; a causal-LM canary is a sentence carrying a random six-digit
code (Carlini et al., "The Secret Sharer"). Nothing in them comes from the
data, so they can be written out and reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.quality.chat import dump_messages

CANARY_GROUP_PREFIX = "canary:"  # the group value of a canary's rows: each canary is a privacy unit of its own

SECRET_DIGITS = 6
WORDS_PER_CANARY = 8
CANARY_PROMPT = "Canary record {index}: what is the access code?"
CANARY_RESPONSE = "The access code for canary record {index} is {secret}."


def canary_words(tokenizer: object) -> list[str]:
    """Whole lower-case words of the tokenizer's vocabulary (WordPiece or byte-level BPE), sorted for determinism."""
    words = set()
    for token in tokenizer.get_vocab():  # type: ignore[attr-defined]
        word = token.lstrip("Ġ▁")
        if len(word) >= 4 and word.isascii() and word.isalpha() and word.islower():
            words.add(word)
    return sorted(words)


def random_secret(rng: np.random.Generator) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, SECRET_DIGITS))


def canary_texts(index: int, secret: str) -> tuple[str, str]:
    """The prompt and response of a causal-LM canary."""
    return CANARY_PROMPT.format(index=index), CANARY_RESPONSE.format(index=index, secret=secret)


def make_canaries(config: Config, tokenizer: object, label_names: list[str]) -> pd.DataFrame:
    """`count` canaries, each `inserted` with probability 1/2; columns canary_id, index, inserted, secret, text, prompt,
    response, label."""
    count = config.train.canaries.count
    rng = np.random.default_rng([config.seed, 0xCA7A])
    inclusion = np.random.default_rng([config.seed, 0x1C1]).random(count) < 0.5  # its own stream: the secrets stay
    words = canary_words(tokenizer) if config.task == "classification" else []
    rows = []
    for index in range(count):
        secret = random_secret(rng)
        prompt, response = canary_texts(index, secret)
        text = " ".join(rng.choice(words, WORDS_PER_CANARY)) if words else f"{prompt}\n\n{response}"
        rows.append(
            {
                "canary_id": f"canary-{index:04d}",
                "index": index,
                "inserted": bool(inclusion[index]),
                "secret": secret,
                "text": text,
                "prompt": prompt,
                "response": response,
                "label": str(rng.choice(label_names)) if label_names else None,
            }
        )
    return pd.DataFrame(
        rows, columns=["canary_id", "index", "inserted", "secret", "text", "prompt", "response", "label"]
    )


def as_records(canaries: pd.DataFrame, config: Config, columns: list[str]) -> pd.DataFrame:
    """Canaries in the shape of split records (the given columns), ready to be concatenated to a split.

    Classification: the canary text in the first text column, the label in the
    label column. Causal LM: in a messages column, a user turn (the prompt) and
    the assistant's reply (the response); else, with two or more text columns,
    the prompt goes in the first and the response in the second; with one, the
    whole sentence.
    """
    roles = config.record_roles()
    text_columns = roles["text"]
    records = pd.DataFrame({column: pd.Series([None] * len(canaries), dtype="object") for column in columns})
    records["row_id"] = canaries["canary_id"].to_numpy()
    if roles["group"]:  # each canary is a privacy unit of its own, its copies included
        records[roles["group"][0]] = (CANARY_GROUP_PREFIX + canaries["canary_id"]).to_numpy()
    if config.task == "classification":
        records[text_columns[0]] = canaries["text"].to_numpy()
        records[roles["label"][0]] = canaries["label"].to_numpy()
    elif roles.get("messages"):
        records[roles["messages"][0]] = [
            dump_messages([{"role": "user", "content": prompt}, {"role": "assistant", "content": response}])
            for prompt, response in zip(canaries["prompt"], canaries["response"], strict=True)
        ]
    elif len(text_columns) >= 2:
        records[text_columns[0]] = canaries["prompt"].to_numpy()
        records[text_columns[1]] = canaries["response"].to_numpy()
    else:
        records[text_columns[0]] = (canaries["prompt"] + "\n\n" + canaries["response"]).to_numpy()
    if "sample_weight" in records.columns:
        records["sample_weight"] = 1.0
    return records


def inserted_copies(canaries: pd.DataFrame, config: Config, columns: list[str]) -> pd.DataFrame:
    """The inserted canaries as records, each `repeats` times (copies after the first get row ids `<canary_id>-copy<k>`)."""
    inserted = canaries[canaries["inserted"]]
    records = as_records(inserted, config, columns)
    copies = [records] + [
        records.assign(row_id=records["row_id"] + f"-copy{k}") for k in range(1, config.train.canaries.repeats)
    ]
    return pd.concat(copies, ignore_index=True)


def summary(canaries: pd.DataFrame | None, repeats: int) -> dict[str, int]:
    """The ledger's account of the canaries: how many were made, went in (and as how many rows), and stayed out."""
    made = 0 if canaries is None else len(canaries)
    inserted = 0 if canaries is None else int(canaries["inserted"].sum())
    return {
        "count": made,
        "inserted": inserted,
        "held_out": made - inserted,
        "copies_each": repeats,
        "rows": inserted * repeats,
    }
