"""LangChain's own conformance suite for retrievers (langchain-tests), run against the served
API: ``KonstructRetriever`` honours ``k`` from its constructor and per call, sync and async."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import pytest
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

from konstruct_memory.client import AdminClient, Client
from konstruct_memory.integrations.langchain import KonstructRetriever
from tests.conftest import ADMIN_TOKEN


class TestKonstructRetriever(RetrieversIntegrationTests):
    params: ClassVar[dict[str, Any]] = {}

    @pytest.fixture(autouse=True)
    def _remembered(self, base_url: str) -> None:
        """A user with five turns, behind a key bound to the agent."""
        if not TestKonstructRetriever.params:
            with AdminClient(base_url, ADMIN_TOKEN) as admin:
                tenant = admin.create_tenant("langchain-standard")
                agent = str(uuid.uuid4())
                key = admin.create_api_key(tenant.id, agent_id=agent, scopes=["read", "write"])
            client = Client(base_url, key.api_key)
            client.remember(
                [
                    {"user_id": "U1", "role": "user", "content": f"my dog likes walk number {i}"}
                    for i in range(5)
                ]
            )
            TestKonstructRetriever.params = {"client": client, "user_id": "U1"}

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return KonstructRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return self.params

    @property
    def retriever_query_example(self) -> str:
        return "where does my dog like to walk?"
