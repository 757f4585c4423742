"""API clients of a tenant (its admin's): create one (the secret shown once), rotate its secret,
revoke it; and the token a client gets for its credentials."""

from __future__ import annotations

import uuid
from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel

from libs.common import idempotency
from libs.common.api import PUBLIC, TENANT, Endpoint, Owner, grant, owned, path_uuid
from libs.common.auth import Principal, principal
from libs.common.http import json_response, read_json
from libs.common.runtime import POOL
from services.identity import clients
from services.identity.limits import limit
from services.identity.routes.common import POLICY
from services.identity.routes.sessions import NO_STORE

ADMIN = grant(admin=TENANT)


class NewClient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="What the client is, e.g. ERP Sage X3")


class ClientView(BaseModel):
    client_id: uuid.UUID = Field(description="The client's id, sent with its secret for a token")
    name: str
    created_at: datetime
    rotated_at: datetime | None = Field(description="When its secret last changed")
    revoked_at: datetime | None = Field(description="When it was revoked; null: it works")

    @classmethod
    def of(cls, client: clients.ApiClient) -> ClientView:
        return cls(
            client_id=client.client_id,
            name=client.name,
            created_at=client.created_at,
            rotated_at=client.rotated_at,
            revoked_at=client.revoked_at,
        )


class ClientSecret(ClientView):
    client_secret: str = Field(description="The secret: shown this once, kept only as a digest")

    @classmethod
    def issued(cls, issued: clients.IssuedSecret) -> ClientSecret:
        return cls(**ClientView.of(issued.client).model_dump(), client_secret=issued.secret)


class ClientList(RootModel[list[ClientView]]):
    """The tenant's API clients, oldest first."""


class TokenRequest(BaseModel):
    """OAuth 2.0 client credentials (RFC 6749 §4.4), as a JSON body."""

    model_config = ConfigDict(extra="forbid")

    grant_type: str = Field(pattern="^client_credentials$", description="client_credentials")
    client_id: str = Field(min_length=1, max_length=100)
    client_secret: str = Field(min_length=1, max_length=200)


class TokenView(BaseModel):
    access_token: str = Field(description="A JWT with the integration role, for the client's tenant")
    token_type: str = Field("Bearer")
    expires_in: int = Field(description="Seconds it lives")


async def add_client(request: web.Request) -> web.Response:
    body = await read_json(request, NewClient)
    conn = await idempotency.once(request, body)
    issued = await clients.add_client(
        conn, principal(request).tenant_id, body.name, request.app[POLICY].clock()
    )
    return json_response(ClientSecret.issued(issued), status=201, headers=NO_STORE)


async def list_clients(request: web.Request) -> web.Response:
    found = await clients.clients(request.app[POOL], principal(request).tenant_id)
    return json_response(ClientList([ClientView.of(client) for client in found]))


async def client_owner(request: web.Request, caller: Principal) -> Owner | None:
    client_id = path_uuid(request, "client_id")
    found = await clients.find_client(request.app[POOL], caller.tenant_id, client_id) if client_id else None
    return Owner(found.tenant_id, None, None, resource=found) if found else None


async def rotate_secret(request: web.Request) -> web.Response:
    client = owned(request, clients.ApiClient)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        issued = await clients.rotate_secret(conn, request.app[POLICY], client.tenant_id, client.client_id)
    return json_response(ClientSecret.issued(issued), headers=NO_STORE)


async def revoke_client(request: web.Request) -> web.Response:
    client = owned(request, clients.ApiClient)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        revoked = await clients.revoke(conn, request.app[POLICY], client.tenant_id, client.client_id)
    return json_response(ClientView.of(revoked))


async def issue_token(request: web.Request) -> web.Response:
    limit(request, "sign_in")
    body = await read_json(request, TokenRequest)
    policy = request.app[POLICY]
    token = await clients.issue_token(request.app[POOL], policy, body.client_id, body.client_secret)
    return json_response(
        TokenView(access_token=token.access_token, expires_in=token.expires_in), headers=NO_STORE
    )


ENDPOINTS = [
    Endpoint(
        "GET", "/api-clients", list_clients, "The tenant's API clients", roles=ADMIN, response=ClientList
    ),
    Endpoint(
        "POST",
        "/api-clients",
        add_client,
        "Create an API client for a system of the tenant (its ERP): its id and secret, shown this once",
        roles=ADMIN,
        body=NewClient,
        response=ClientSecret,
        status=201,
        idempotent=True,
    ),
    Endpoint(
        "POST",
        "/api-clients/{client_id}/rotate",
        rotate_secret,
        "A new secret for the client, shown this once; the old one and its tokens stop working now",
        roles=ADMIN,
        response=ClientSecret,
        owner=client_owner,
        problems={409: "the client is revoked"},
    ),
    Endpoint(
        "POST",
        "/api-clients/{client_id}/revoke",
        revoke_client,
        "Revoke the client: its secret and tokens stop working now",
        roles=ADMIN,
        response=ClientView,
        owner=client_owner,
    ),
    Endpoint(
        "POST",
        "/oauth/token",
        issue_token,
        "Client credentials (grant_type client_credentials, client_id, client_secret) for an access token"
        " with the integration role; 401 invalid-client whatever was wrong",
        roles=PUBLIC,
        body=TokenRequest,
        response=TokenView,
        problems={401: "unknown client, wrong secret or revoked client"},
    ),
]
