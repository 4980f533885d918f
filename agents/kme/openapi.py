"""The OpenAPI 3.0 document of the ETSI GS QKD 014 v1 API this KME serves.

Written from the clauses (5.2-5.4 methods, 6.1-6.5 data formats), not copied from ETSI's
own files; served at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from typing import Any

_INT = {"type": "integer"}
_STR = {"type": "string"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _responses(ok: str) -> dict[str, Any]:
    err = {"content": {"application/json": {"schema": _ref("Error")}}}
    return {
        "200": {"description": "OK", "content": {"application/json": {"schema": _ref(ok)}}},
        "400": {"description": "Bad request format", **err},
        "401": {"description": "Unauthorized", **err},
        "503": {"description": "Error on the server side", **err},
    }


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _STR}


def openapi() -> dict[str, Any]:
    slave, master = _path_param("slave_SAE_ID"), _path_param("master_SAE_ID")
    query = [
        {"name": "number", "in": "query", "schema": _INT},
        {"name": "size", "in": "query", "schema": _INT},
    ]
    body = lambda name: {  # noqa: E731
        "required": True,
        "content": {"application/json": {"schema": _ref(name)}},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "ETSI GS QKD 014 key delivery API (qnms KME)", "version": "1.1.1"},
        "paths": {
            "/api/v1/keys/{slave_SAE_ID}/status": {
                "get": {
                    "summary": "Get status",
                    "parameters": [slave],
                    "responses": _responses("Status"),
                }
            },
            "/api/v1/keys/{slave_SAE_ID}/enc_keys": {
                "get": {
                    "summary": "Get key",
                    "parameters": [slave, *query],
                    "responses": _responses("KeyContainer"),
                },
                "post": {
                    "summary": "Get key",
                    "parameters": [slave],
                    "requestBody": body("KeyRequest"),
                    "responses": _responses("KeyContainer"),
                },
            },
            "/api/v1/keys/{master_SAE_ID}/dec_keys": {
                "get": {
                    "summary": "Get key with key IDs",
                    "parameters": [
                        master,
                        {"name": "key_ID", "in": "query", "required": True, "schema": _STR},
                    ],
                    "responses": _responses("KeyContainer"),
                },
                "post": {
                    "summary": "Get key with key IDs",
                    "parameters": [master],
                    "requestBody": body("KeyIDs"),
                    "responses": _responses("KeyContainer"),
                },
            },
        },
        "components": {
            "securitySchemes": {"mutualTLS": {"type": "mutualTLS"}},
            "schemas": {
                "Status": {
                    "type": "object",
                    "properties": {
                        **{
                            k: _STR
                            for k in (
                                "source_KME_ID",
                                "target_KME_ID",
                                "master_SAE_ID",
                                "slave_SAE_ID",
                            )
                        },
                        **{
                            k: _INT
                            for k in (
                                "key_size",
                                "stored_key_count",
                                "max_key_count",
                                "max_key_per_request",
                                "max_key_size",
                                "min_key_size",
                                "max_SAE_ID_count",
                            )
                        },
                        "status_extension": {"type": "object"},
                    },
                },
                "KeyRequest": {
                    "type": "object",
                    "properties": {
                        "number": _INT,
                        "size": _INT,
                        "additional_slave_SAE_IDs": {"type": "array", "items": _STR},
                        "extension_mandatory": {"type": "array", "items": {"type": "object"}},
                        "extension_optional": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "KeyContainer": {
                    "type": "object",
                    "properties": {
                        "keys": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "key_ID": {"type": "string", "format": "uuid"},
                                    "key_ID_extension": {"type": "object"},
                                    "key": {"type": "string", "format": "byte"},
                                    "key_extension": {"type": "object"},
                                },
                            },
                        },
                        "key_container_extension": {"type": "object"},
                    },
                },
                "KeyIDs": {
                    "type": "object",
                    "properties": {
                        "key_IDs": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "key_ID": {"type": "string", "format": "uuid"},
                                    "key_ID_extension": {"type": "object"},
                                },
                            },
                        },
                        "key_IDs_extension": {"type": "object"},
                    },
                },
                "Error": {
                    "type": "object",
                    "properties": {
                        "message": _STR,
                        "details": {"type": "array", "items": {"type": "object"}},
                    },
                },
            },
        },
        "security": [{"mutualTLS": []}],
    }
