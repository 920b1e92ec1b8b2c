"""Token endpoints: who am I, and (admin) list, create, revoke."""

from __future__ import annotations

from pydantic import BaseModel

from bot.api.problems import Problem
from bot.api.schemas import NewTokenOut, TokenBody, TokenOut, TokenPath, TokensOut
from bot.api.table import Call, Endpoint, Reply
from handlers import tokens


def token_out(info: tokens.TokenInfo) -> TokenOut:
    return TokenOut(
        id=info.id,
        name=info.name,
        scopes=list(info.scopes),
        platform=info.platform,
        user_id=info.user_id,
        channels=list(info.channels),
        created_by=info.created_by,
        created_at=info.created_at,
        revoked_at=info.revoked_at,
        last_used_at=info.last_used_at,
    )


async def whoami(call: Call) -> BaseModel:
    return token_out(call.token)


async def list_tokens(call: Call) -> BaseModel:
    await call.require_admin()
    return TokensOut(tokens=[token_out(t) for t in await tokens.list_tokens(call.ctx.db)])


async def create_token(call: Call) -> Reply:
    await call.require_admin()
    body = call.body_as(TokenBody)
    try:
        new = await tokens.create_token(
            call.ctx.db,
            name=body.name,
            scopes=list(body.scopes),
            platform=body.platform,
            user_id=body.user_id,
            channels=list(body.channels),
            created_by=call.token.actor_id,
        )
    except tokens.TokenError as exc:
        raise Problem(422, str(exc)) from None
    return Reply(NewTokenOut(token=token_out(new.info), secret=new.secret))


async def revoke_token(call: Call) -> Reply:
    await call.require_admin()
    if not await tokens.revoke_token(call.ctx.db, token_id=call.params_as(TokenPath).token_id):
        raise Problem(404, "There is no such live token.")
    return Reply()


ENDPOINTS = (
    Endpoint("GET", "/token", "whoami", "The calling token", "tokens", whoami, None, TokenOut),
    Endpoint("GET", "/tokens", "listTokens", "Live tokens", "tokens", list_tokens, "admin", TokensOut),
    Endpoint(
        "POST",
        "/tokens",
        "createToken",
        "Create a token (its secret is shown once)",
        "tokens",
        create_token,
        "admin",
        NewTokenOut,
        status=201,
        body=TokenBody,
    ),
    Endpoint(
        "DELETE",
        "/tokens/{token_id}",
        "revokeToken",
        "Revoke a token",
        "tokens",
        revoke_token,
        "admin",
        None,
        status=204,
        params=TokenPath,
    ),
)
