"""Locust users and the clients they use.

``websocket``: :class:`~loadkit.users.websocket.WebSocketClient`, cooperative
under gevent, firing ``WS`` events for connect, send, receive and reconnect.
"""
