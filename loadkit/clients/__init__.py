"""Protocol clients that fire Locust request events, usable from any locustfile.

``websocket``: :class:`~loadkit.clients.websocket.WebSocketClient`, cooperative
under gevent, firing ``WS`` events for connect, send, receive and reconnect.
"""
