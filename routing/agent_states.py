"""Agents' presence in the live store: the state they are in, and the next state they asked
for once the contacts they hold are over (docs/states.md)."""

from __future__ import annotations

from contactcenter.core import events as ev
from routing.scripts import ScriptStore
from routing.status import AgentStateStatus, NextStateStatus

NEXT_STATES = ("away", "offline")


def _flag(value: bool | None) -> str:
    return "" if value is None else "1" if value else "0"


class AgentStates(ScriptStore):
    async def set_agent_state(
        self,
        agent_id: str,
        state: str,
        *,
        now_ms: int,
        reason: str | None = None,
        from_console: bool = True,
        productive: bool | None = None,
    ) -> AgentStateStatus:
        """Set presence (the profile must be set first); a change made from a console also
        counts as a sign of that console. A next state the agent had scheduled is dropped
        (`AgentNextStateCancelled`, why "state-chosen"), even when the state is unchanged."""
        event = ev.AgentStateChanged(
            at_ms=now_ms, agent_id=agent_id, state=state, reason=reason, productive=productive
        )
        dropped = ev.AgentNextStateCancelled(at_ms=now_ms, agent_id=agent_id, why="state-chosen")
        k = self.keys
        return AgentStateStatus(
            await self._run(
                "agent_state",
                [k.agent(agent_id), k.agents, k.events],
                [
                    agent_id,
                    state,
                    now_ms,
                    reason or "",
                    now_ms if from_console else "",
                    *self._event_args(event),
                    *self._event_args(dropped),
                ],
            )
        )

    async def set_next_state(
        self,
        agent_id: str,
        state: str,
        *,
        now_ms: int,
        reason: str | None = None,
        productive: bool | None = None,
    ) -> NextStateStatus:
        """Schedule `state` ("away" with `reason`, or "offline") for when the agent's last
        contact closes, on whichever process closes it; routing offers them nothing new
        meanwhile. An agent holding nothing gets it at once (APPLIED)."""
        if state not in NEXT_STATES:
            raise ValueError(f"a next state is one of {NEXT_STATES}, not {state!r}")
        event = ev.AgentNextStateScheduled(
            at_ms=now_ms, agent_id=agent_id, state=state, reason=reason
        )
        args = [state, reason or "", _flag(productive), now_ms, *self._event_args(event)]
        return await self._next_state(agent_id, args)

    async def cancel_next_state(self, agent_id: str, *, now_ms: int) -> NextStateStatus:
        """Take back the next state scheduled (UNCHANGED when there was none)."""
        event = ev.AgentNextStateCancelled(at_ms=now_ms, agent_id=agent_id, why="cancelled")
        return await self._next_state(agent_id, ["", "", "", now_ms, *self._event_args(event)])

    async def _next_state(self, agent_id: str, args: list[object]) -> NextStateStatus:
        k = self.keys
        return NextStateStatus(await self._run("next_state", [k.agent(agent_id), k.events], args))
