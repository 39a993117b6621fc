"""The operations as methods, each declared once: ``TenantMethods`` for ``TenantMemory`` (the
library), ``Client`` and ``AsyncClient`` (HTTP); ``AdminMethods`` for ``Memory`` (the library,
on the owner connection), ``AdminClient`` and ``AsyncAdminClient`` (HTTP, with the admin
token). Each method's parameters are the fields of its operation's request, with the same
names, order and defaults on every face; its docstring is every face's."""

from __future__ import annotations

from collections.abc import Sequence

from konstruct_memory.methods.call import Call, call, operation
from konstruct_memory.operations import (
    UNCHANGED,
    ApiKey,
    ApiKeyCreated,
    AuditEntry,
    Context,
    ContextRequest,
    CreateApiKeyRequest,
    CreateTenantRequest,
    EraseForTenantRequest,
    EraseRequest,
    Erasure,
    GetTurnRequest,
    HistoryRequest,
    Hit,
    Identity,
    ListApiKeysRequest,
    ListAuditForTenantRequest,
    ListAuditRequest,
    ListErasuresForTenantRequest,
    ListErasuresRequest,
    ListScopesRequest,
    ListTenantsRequest,
    RecallAcrossUsersRequest,
    RecallRequest,
    RememberRequest,
    RevokeApiKeyRequest,
    ScopeSummary,
    StoredTurn,
    Tenant,
    TenantCreated,
    Unchanged,
    UpdateTenantRequest,
    WhoAmIRequest,
)
from konstruct_memory.operations.base import arguments
from konstruct_memory.operations.lifecycle import changes_of
from konstruct_memory.types import (
    AgentId,
    ConversationId,
    ErasureId,
    Instant,
    KeyId,
    KeyScopes,
    ListingOrder,
    Roles,
    TenantId,
    TurnId,
    TurnIds,
    TurnInput,
    UserId,
)


class TenantMethods:
    """Memory as one principal of one tenant sees it: an API key's (its scopes and bindings),
    or the tenant's owner's (the library's ``Memory.tenant``)."""

    @operation
    def whoami(self) -> Call[Identity]:
        """The principal's tenant, scopes and binding."""
        return call(WhoAmIRequest, {})

    @operation
    def remember(self, turns: Sequence[TurnInput]) -> Call[list[StoredTurn]]:
        """Store a batch of turns atomically; returns them as stored, in input order.

        A turn whose ``id`` is already stored with the same fields is not stored again and
        comes back as it was first stored; the same ``id`` with other fields raises Conflict.
        """
        return call(RememberRequest, {"turns": turns}, lambda stored: stored.turns)

    @operation
    def remember_one(self, turn: TurnInput) -> Call[StoredTurn]:
        """``remember`` for a single turn."""
        return call(RememberRequest, {"turns": [turn]}, lambda stored: stored.turns[0])

    @operation
    def recall(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        query: str | None = None,
        k: int = 10,
        since: Instant | None = None,
        until: Instant | None = None,
        conversation_id: ConversationId | None = None,
        roles: Roles | None = None,
        min_score: float | None = None,
        as_of: Instant | None = None,
    ) -> Call[list[Hit]]:
        """The ``k`` older turns of this (agent, user) most relevant to ``query``, best first.

        Always min(k, turns in scope) hits, unless ``min_score`` (0 to 1) is given: hits
        scoring below it are left out, so fewer may come back. Relevance fuses vector
        similarity with keyword (full-text) matches, and lends part of a turn's score to its
        neighbours. With ``as_of``, only turns stored by then count (what memory held at that
        moment; erased turns stay erased).
        """
        return call(RecallRequest, arguments(locals()), lambda recalled: recalled.hits)

    @operation
    def recall_across_users(
        self,
        agent_id: AgentId | None = None,
        query: str | None = None,
        k: int = 10,
        since: Instant | None = None,
        until: Instant | None = None,
        conversation_id: ConversationId | None = None,
        roles: Roles | None = None,
        min_score: float | None = None,
        as_of: Instant | None = None,
    ) -> Call[list[Hit]]:
        """Like ``recall``, over every user of the agent. Never the default: ask for it."""
        fields = arguments(locals())
        return call(RecallAcrossUsersRequest, fields, lambda recalled: recalled.hits)

    @operation
    def history(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        limit: int = 20,
        conversation_id: ConversationId | None = None,
        before: TurnId | None = None,
        since: Instant | None = None,
        until: Instant | None = None,
        roles: Roles | None = None,
        as_of: Instant | None = None,
    ) -> Call[list[StoredTurn]]:
        """The newest ``limit`` turns, oldest first. Page back with ``before=<oldest id>``.
        With ``as_of``, only turns stored by then."""
        return call(HistoryRequest, arguments(locals()), lambda history: history.turns)

    @operation
    def get_turn(
        self,
        turn_id: TurnId,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
    ) -> Call[StoredTurn]:
        """One stored turn by id (NotFound outside the key's binding, or once erased); an id
        names one turn per (agent, user): ``agent_id`` and ``user_id`` pick one."""
        return call(GetTurnRequest, arguments(locals()))

    @operation
    def list_scopes(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Call[list[ScopeSummary]]:
        """The (agent, user, conversation) scopes holding turns, with their turn counts."""
        return call(ListScopesRequest, arguments(locals()), lambda listed: listed.scopes)

    @operation
    def context(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        query: str | None = None,
        recent: int = 10,
        k: int = 5,
        max_tokens: int | None = None,
        conversation_id: ConversationId | None = None,
        min_score: float | None = None,
        as_of: Instant | None = None,
    ) -> Call[Context]:
        """Recent turns, older relevant turns not among them, and a prompt-ready block.

        ``conversation_id`` narrows the recent window to one thread; recalled turns come from
        all of the user's threads with this agent. ``min_score`` leaves out recalled turns
        scoring below it. With ``max_tokens`` the block fits the budget: the least relevant
        recalled turns go first, then the oldest recent ones; the newest turn is always kept.
        With ``as_of``, both parts hold only turns stored by then.
        """
        return call(ContextRequest, arguments(locals()))

    @operation
    def erase(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        turn_ids: TurnIds | None = None,
    ) -> Call[Erasure]:
        """Erase every stored turn of an agent, a user, or the agent's user (and their read-audit
        rows), or only the turns named in ``turn_ids``; recorded in the ledger. Erasing again
        erases 0. Needs the ``erase`` scope."""
        return call(EraseRequest, arguments(locals()))

    @operation
    def list_erasures(
        self,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 100,
        order: ListingOrder = "asc",
        before: ErasureId | None = None,
    ) -> Call[list[Erasure]]:
        """The tenant's erasure ledger (requests and retention batches), oldest first."""
        return call(ListErasuresRequest, arguments(locals()), lambda listed: listed.erasures)

    @operation
    def list_audit(
        self,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 100,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        order: ListingOrder = "asc",
        before: int | None = None,
    ) -> Call[list[AuditEntry]]:
        """Audited reads (while the tenant's ``audit_reads`` is on), oldest first."""
        return call(ListAuditRequest, arguments(locals()), lambda listed: listed.entries)


class AdminMethods:
    """Every tenant's administration: tenants, their policy and keys, erasure and the audit
    trail on a tenant's behalf."""

    @operation
    def create_tenant(self, name: str) -> Call[TenantCreated]:
        """Create a tenant and its first API key (read and write; the key is shown only now)."""
        return call(CreateTenantRequest, {"name": name})

    @operation
    def list_tenants(self) -> Call[list[Tenant]]:
        """Every tenant."""
        return call(ListTenantsRequest, {}, lambda listed: listed.tenants)

    @operation
    def create_api_key(
        self,
        tenant_id: TenantId,
        name: str | None = None,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        scopes: KeyScopes | None = None,
    ) -> Call[ApiKeyCreated]:
        """A new key for the tenant, optionally bound to one agent and/or user; ``scopes``
        default to read and write. The secret is returned here and never again."""
        return call(CreateApiKeyRequest, arguments(locals()))

    @operation
    def list_api_keys(self, tenant_id: TenantId) -> Call[list[ApiKey]]:
        """The tenant's keys with their scopes and bindings (never their secrets)."""
        return call(ListApiKeysRequest, {"tenant_id": tenant_id}, lambda listed: listed.keys)

    @operation
    def revoke_api_key(self, key_id: KeyId) -> Call[None]:
        """Refuse the key from now on. Raises NotFound for an unknown key id."""
        # Over HTTP the service answers 204, with no body: there is nothing to return.
        return call(RevokeApiKeyRequest, {"key_id": key_id}, lambda revoked: None)

    @operation
    def update_tenant(
        self,
        tenant_id: TenantId,
        *,
        retention_days: int | Unchanged | None = UNCHANGED,
        audit_reads: bool | None = None,
        audit_query_text: bool | None = None,
        rate_limit_per_s: float | Unchanged | None = UNCHANGED,
    ) -> Call[Tenant]:
        """Change a tenant's policy; what is not given stays. ``retention_days=None`` keeps
        turns forever; ``audit_reads`` records every recall, history and context call."""
        changes = changes_of(
            tenant_id, retention_days, audit_reads, audit_query_text, rate_limit_per_s
        )
        return call(UpdateTenantRequest, changes)

    @operation
    def erase_for_tenant(
        self,
        tenant_id: TenantId,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        turn_ids: TurnIds | None = None,
    ) -> Call[Erasure]:
        """``erase`` on the tenant's behalf (``Memory.tenant(tenant_id).erase(...)``)."""
        return call(EraseForTenantRequest, arguments(locals()))

    @operation
    def list_erasures_for_tenant(
        self,
        tenant_id: TenantId,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 100,
        order: ListingOrder = "asc",
        before: ErasureId | None = None,
    ) -> Call[list[Erasure]]:
        """``list_erasures`` on the tenant's behalf: its erasure ledger, oldest first."""
        fields = arguments(locals())
        return call(ListErasuresForTenantRequest, fields, lambda listed: listed.erasures)

    @operation
    def list_audit_for_tenant(
        self,
        tenant_id: TenantId,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 100,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        order: ListingOrder = "asc",
        before: int | None = None,
    ) -> Call[list[AuditEntry]]:
        """``list_audit`` on the tenant's behalf: its audited reads, oldest first."""
        fields = arguments(locals())
        return call(ListAuditForTenantRequest, fields, lambda listed: listed.entries)
