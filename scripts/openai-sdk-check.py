#!/usr/bin/env python3
"""The official OpenAI Python client against Promptyard's /v1 gateway,
unchanged: only its base URL and API key point at Promptyard.

    pip install openai
    PROMPTYARD_URL=http://127.0.0.1:8080 PROMPTYARD_KEY=pyk_... scripts/openai-sdk-check.py

Checks model listing, a completion, a stream with usage, and that errors
arrive as the client's own exception types. Exits non-zero on the first
failure.
"""

import os
import sys

import openai

base = os.environ.get("PROMPTYARD_URL", "http://127.0.0.1:8080").rstrip("/") + "/v1"
key = os.environ["PROMPTYARD_KEY"]
client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)


def check(name, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + name + (f": {detail}" if detail and not condition else ""))
    if not condition:
        sys.exit(1)


models = client.models.list()
ids = [m.id for m in models.data]
check("models.list() parses and lists echo-1", "echo-1" in ids, ids)
check("a model has object, created and owned_by", models.data[0].object == "model" and models.data[0].owned_by == "echo")

completion = client.chat.completions.create(
    model="echo-1",
    messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello from the sdk"}],
    temperature=0.5,
    max_tokens=50,
)
check("chat.completions.create() parses", completion.object == "chat.completion")
check("the answer is echoed", completion.choices[0].message.content == "hello from the sdk", completion.choices[0].message.content)
check("finish_reason is stop", completion.choices[0].finish_reason == "stop")
check("usage adds up", completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens)

stream = client.chat.completions.create(
    model="echo-1",
    messages=[{"role": "user", "content": "stream these words please"}],
    stream=True,
    stream_options={"include_usage": True},
)
text, usage, finish = "", None, None
for chunk in stream:
    if chunk.choices:
        text += chunk.choices[0].delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
    if chunk.usage:
        usage = chunk.usage
check("a stream reassembles the answer", text == "stream these words please", text)
check("the stream ends with finish_reason stop", finish == "stop")
check("the stream reports usage", usage is not None and usage.completion_tokens == 4, usage)

with client.chat.completions.stream(model="echo-1", messages=[{"role": "user", "content": "helper api"}]) as s:
    final = s.get_final_completion()
check("the streaming helper assembles a final completion", final.choices[0].message.content == "helper api")

try:
    client.chat.completions.create(model="gpt-does-not-exist", messages=[{"role": "user", "content": "x"}])
    check("an unknown model raises NotFoundError", False)
except openai.NotFoundError as e:
    check("an unknown model raises NotFoundError with code model_not_found", e.code == "model_not_found", e.code)

try:
    client.chat.completions.create(model="echo-1", messages=[])
    check("an empty message list raises BadRequestError", False)
except openai.BadRequestError:
    check("an empty message list raises BadRequestError", True)

try:
    openai.OpenAI(base_url=base, api_key="pyk_wrong", max_retries=0).models.list()
    check("a bad key raises AuthenticationError", False)
except openai.AuthenticationError as e:
    check("a bad key raises AuthenticationError", e.status_code == 401)

print("the official OpenAI client works unchanged against", base)
