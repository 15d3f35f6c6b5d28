"""The shipped scenarios (issue 11): each runs green shortened, and its twin fails one check."""

from __future__ import annotations

from shipped_support import Short

S = "s"

SHORT: dict[str, Short] = {
    "gateway-callbacks": Short(
        stages=[
            {"name": "ramp-up", "duration": "2s", "users": 9, "spawn_rate": 9},
            {"name": "steady", "duration": "6s", "users": 9},
            {"name": "faults", "duration": "15s", "users": 9},
        ],
        faults={"disk-full": (8, 3), "gw-down": (11, 3), "agent-kill": (19, 1)},
    ),
    "breaker-health": Short(
        stages=[
            {"name": "ramp-up", "duration": "2s", "users": 6, "spawn_rate": 6},
            {"name": "steady", "duration": "5s", "users": 6},
            {"name": "faults", "duration": "29s", "users": 6},
        ],
        faults={
            "half-errors": (9, 3),
            "slow-callbacks": (13, 4),
            "outage-503": (19, 3),
            "store-down": (28, 3),
        },
    ),
    "session-queues": Short(
        stages=[
            {"name": "ramp-up", "duration": "1s", "users": 4, "spawn_rate": 4},
            {"name": "sustained", "duration": "12s", "users": 4},
        ],
        faults={},
    ),
    "preview-sessions": Short(
        stages=[
            {"name": "ramp-up", "duration": "1s", "users": 3, "spawn_rate": 3},
            {"name": "steady", "duration": "14s", "users": 3},
            {"name": "restart", "duration": "7s", "users": 3},
        ],
        faults={"gw-restart": (16, None)},
    ),
    "task-sync": Short(
        stages=[
            {"name": "ramp-up", "duration": "1s", "users": 7, "spawn_rate": 7},
            {"name": "steady", "duration": "8s", "users": 7},
            {"name": "faults", "duration": "14s", "users": 7},
        ],
        faults={"slow-net": (10, 3), "net-timeout": (14, 3), "thin-pipe": (18, 3)},
    ),
}
