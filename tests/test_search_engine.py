"""The real OpenSearch node the suite runs against: Arabic analysis and search work on it."""

from __future__ import annotations

import uuid

from opensearchpy import OpenSearch, helpers

from tests.helpers.articles import make_article

ALEPPO = "بدأ الجيش السوري أمس عملية السيطرة البرية الواسعة علي عدة أحياء في حلب."
CAIRO = "افتتح وزير النقل المصري خطا جديدا لمترو الأنفاق في القاهرة."


def test_arabic_analyzer_and_search(opensearch_url: str) -> None:
    client = OpenSearch(hosts=[opensearch_url], timeout=30)
    index = f"akhbar-test-{uuid.uuid4().hex[:8]}"
    client.indices.create(
        index=index,
        body={
            "mappings": {
                "dynamic": False,
                "properties": {
                    "title": {"type": "text", "analyzer": "arabic"},
                    "text": {"type": "text", "analyzer": "arabic"},
                },
            },
        },
    )
    try:
        # The built-in arabic analyzer strips the definite article and the prefix ب
        tokens = client.indices.analyze(
            index=index, body={"analyzer": "arabic", "text": "بالمدينة"}
        )
        assert [t["token"] for t in tokens["tokens"]] == ["مدين"]

        docs = [
            make_article(1).model_copy(update={"text": ALEPPO}),
            make_article(2).model_copy(update={"text": CAIRO}),
        ]
        ok, errors = helpers.bulk(
            client,
            [
                {"_index": index, "_id": a.id, "_source": {"title": a.title, "text": a.text}}
                for a in docs
            ],
            refresh="wait_for",
        )
        assert (ok, errors) == (2, [])

        hits = client.search(index=index, body={"query": {"match": {"text": "حلب"}}})
        assert [h["_id"] for h in hits["hits"]["hits"]] == [docs[0].id]
        # Indexing the same id again replaces, never duplicates
        helpers.bulk(
            client,
            [{"_index": index, "_id": docs[0].id, "_source": {"text": ALEPPO}}],
            refresh="wait_for",
        )
        assert client.count(index=index)["count"] == 2
    finally:
        client.indices.delete(index=index)
